"""The models table a workflow records, and finding its models on another machine."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.workflow import dumps, loads
from studio.diffusion import model_hash
from studio.diffusion.model_hash import HashCache
from studio.diffusion.model_refs import (
    missing_models,
    model_refs,
    models_table,
    refresh_models_table,
    resolve_missing,
    unhashed_bytes,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path):
    return HashCache(tmp_path / "hashes.json")


@pytest.fixture
def reads(monkeypatch):
    calls: list[str] = []
    real = model_hash.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(model_hash, "sha256_file", counting)
    return calls


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _graph() -> tuple[Graph, dict[str, str]]:
    g = Graph(default_registry())
    ids = {
        "ckpt": g.add_node("model.checkpoint", params={"checkpoint": "v1-5-pruned-emaonly.safetensors"}).id,
        "ckpt2": g.add_node("model.checkpoint", params={"checkpoint": "v1-5-pruned-emaonly.safetensors"}).id,
        "cn": g.add_node("model.controlnet", params={"controlnet": "tiny-sd15-canny.safetensors"}).id,
        "vae": g.add_node("model.vae", params={"vae": "tiny-vae.safetensors"}).id,
        "depth": g.add_node("preprocess.depth", params={"model": "depth-anything-v2-small"}).id,
        "pose": g.add_node("preprocess.pose").id,
        "canny": g.add_node("preprocess.canny").id,
    }
    return g, ids


def test_models_table_records_each_model_once_with_kind_family_size_and_hash(tiny_root, cache):
    g, _ = _graph()
    table = models_table(g, Settings(models_root=str(tiny_root)), cache=cache)
    by_file = {row["file"]: row for row in table}
    assert list(by_file) == ["v1-5-pruned-emaonly.safetensors", "tiny-sd15-canny.safetensors", "tiny-vae.safetensors",
                             "depth-anything-v2-small", "vitpose-base-simple", "rtdetr-r50vd"]
    ckpt = by_file["v1-5-pruned-emaonly.safetensors"]
    real = (tiny_root / "checkpoints" / "tiny-sd15.safetensors")
    assert ckpt == {"file": "v1-5-pruned-emaonly.safetensors", "kind": "checkpoints", "family": "sd15",
                    "size": real.stat().st_size, "sha256": _sha(real)}
    assert by_file["tiny-sd15-canny.safetensors"]["kind"] == "controlnet"
    assert by_file["tiny-sd15-canny.safetensors"]["family"] == "sd15"
    assert by_file["tiny-vae.safetensors"]["kind"] == "vae" and len(by_file["tiny-vae.safetensors"]["sha256"]) == 64
    assert by_file["depth-anything-v2-small"] == {"file": "depth-anything-v2-small", "kind": "annotators",
                                                  "repo": "depth-anything/Depth-Anything-V2-Small-hf"}
    assert by_file["rtdetr-r50vd"]["repo"] == "PekingU/rtdetr_r50vd"


def test_files_are_hashed_once_and_the_table_survives_a_save(tiny_root, cache, reads):
    g, _ = _graph()
    settings = Settings(models_root=str(tiny_root))
    assert unhashed_bytes(g, settings, cache) > 0
    seen = []
    refresh_models_table(g, settings, progress=lambda name, done, total: seen.append(name), cache=cache)
    assert len(reads) == 3 and "v1-5-pruned-emaonly.safetensors" in seen
    refresh_models_table(g, settings, cache=cache)
    refresh_models_table(g, settings, cache=HashCache(cache.path))
    assert len(reads) == 3 and unhashed_bytes(g, settings, cache) == 0
    again = loads(dumps(g), default_registry())
    assert again.models == g.models


def test_a_missing_file_keeps_its_recorded_row(tiny_root, tmp_path, cache):
    g, ids = _graph()
    refresh_models_table(g, Settings(models_root=str(tiny_root)), cache=cache)
    before = [dict(r) for r in g.models]
    refresh_models_table(g, Settings(models_root=str(tmp_path / "empty")), cache=cache)
    assert g.models == before


def _other_machine(tiny_root: Path, tmp_path: Path) -> Path:
    """A models root holding the tiny models under other names and in sub-folders."""
    root = tmp_path / "elsewhere"
    (root / "checkpoints" / "sd").mkdir(parents=True)
    (root / "controlnet").mkdir()
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd15.safetensors", root / "checkpoints" / "sd" / "my-sd15.safetensors")
    shutil.copy(tiny_root / "checkpoints" / "tiny-sdxl.safetensors", root / "checkpoints" / "xl.safetensors")
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd2.safetensors", root / "checkpoints" / "also-sd2.safetensors")
    return root


def test_a_renamed_model_is_found_by_hash_and_the_node_rewritten(tiny_root, tmp_path, cache, reads):
    g, ids = _graph()
    refresh_models_table(g, Settings(models_root=str(tiny_root)), cache=cache)
    reads.clear()
    doc = dumps(g)
    other = loads(doc, default_registry())
    root = _other_machine(tiny_root, tmp_path)
    res = resolve_missing(other, Settings(models_root=str(root)), cache=cache)
    rewrites = {(r.node_id, r.param): r for r in res.rewritten}
    assert set(rewrites) == {(ids["ckpt"], "checkpoint"), (ids["ckpt2"], "checkpoint")}
    r = rewrites[(ids["ckpt"], "checkpoint")]
    assert (r.old, r.new, r.how, r.kind) == ("v1-5-pruned-emaonly.safetensors", "sd/my-sd15.safetensors", "sha256",
                                             "checkpoints")
    assert other.nodes[ids["ckpt"]].params["checkpoint"] == "sd/my-sd15.safetensors"
    assert other.nodes[ids["ckpt2"]].params["checkpoint"] == "sd/my-sd15.safetensors"
    assert "using sd/my-sd15.safetensors for v1-5-pruned-emaonly.safetensors (same SHA-256)" in r.line()
    assert reads == ["my-sd15.safetensors"]  # only the same-size file was read, once


def test_without_apply_nothing_changes(tiny_root, tmp_path, cache):
    g, ids = _graph()
    refresh_models_table(g, Settings(models_root=str(tiny_root)), cache=cache)
    root = _other_machine(tiny_root, tmp_path)
    res = resolve_missing(g, Settings(models_root=str(root)), apply=False, cache=cache)
    assert res.rewritten and g.nodes[ids["ckpt"]].params["checkpoint"] == "v1-5-pruned-emaonly.safetensors"


def test_an_a1111_short_hash_finds_the_file_too(tiny_root, tmp_path, cache):
    root = _other_machine(tiny_root, tmp_path)
    g = Graph(default_registry())
    node = g.add_node("model.checkpoint", params={"checkpoint": "whatever.safetensors"})
    g.models = [{"file": "whatever.safetensors", "kind": "checkpoints",
                 "sha256": _sha(tiny_root / "checkpoints" / "tiny-sdxl.safetensors")[:10]}]
    res = resolve_missing(g, Settings(models_root=str(root)), cache=cache)
    assert res.ok and g.nodes[node.id].params["checkpoint"] == "xl.safetensors"


def test_without_a_hash_a_unique_same_name_file_in_another_folder_is_used(tiny_root, tmp_path, cache):
    root = _other_machine(tiny_root, tmp_path)
    g = Graph(default_registry())
    node = g.add_node("model.checkpoint", params={"checkpoint": "C:\\models\\my-sd15.safetensors"})
    res = resolve_missing(g, Settings(models_root=str(root)), cache=cache)
    assert [r.how for r in res.rewritten] == ["name"] and res.ok
    assert g.nodes[node.id].params["checkpoint"] == "sd/my-sd15.safetensors"


def test_missing_models_list_same_family_substitutes_and_a_download(tiny_root, tmp_path, cache):
    root = _other_machine(tiny_root, tmp_path)
    g, ids = _graph()
    g.models = [{"file": "v1-5-pruned-emaonly.safetensors", "kind": "checkpoints", "family": "sd15",
                 "size": 123, "sha256": "ab" * 32}]
    res = resolve_missing(g, Settings(models_root=str(root)), cache=cache)
    assert not res.rewritten
    by_node = {m.node_id: m for m in res.missing}
    ckpt = by_node[ids["ckpt"]]
    assert ckpt.substitutes == ("sd/my-sd15.safetensors",) and ckpt.family == "sd15"
    assert ckpt.download == "sd15" and ckpt.sha256 == "ab" * 32
    line = ckpt.line()
    assert "v1-5-pruned-emaonly.safetensors (checkpoints, sd15, SHA-256 abababab" in line
    assert "available instead: sd/my-sd15.safetensors" in line and "--download sd15" in line
    cn = by_node[ids["cn"]]
    assert cn.kind == "controlnet" and cn.substitutes == () and cn.download is None
    assert {m.file for m in res.missing if m.kind == "annotators"} == {
        "depth-anything-v2-small", "vitpose-base-simple", "rtdetr-r50vd"}
    assert by_node[ids["depth"]].download == "depth-anything-v2-small"
    assert ids["canny"] not in by_node


def test_annotator_substitutes_are_the_installed_choices(tmp_path, cache):
    root = tmp_path / "m"
    folder = root / "annotators" / "dpt-large"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"0")
    g = Graph(default_registry())
    node = g.add_node("preprocess.depth", params={"model": "depth-anything-v2-small"})
    res = resolve_missing(g, Settings(models_root=str(root)), cache=cache)
    assert [(m.node_id, m.file, m.substitutes) for m in res.missing] == [
        (node.id, "depth-anything-v2-small", ("dpt-large",))]
    g.set_param(node.id, "model", "dpt-large")
    assert resolve_missing(g, Settings(models_root=str(root)), cache=cache).ok


def test_missing_models_reports_rewrites_and_returns_what_is_still_missing(tiny_root, tmp_path, cache):
    g, _ = _graph()
    refresh_models_table(g, Settings(models_root=str(tiny_root)), cache=cache)
    root = _other_machine(tiny_root, tmp_path)
    notes: list[str] = []
    lines = missing_models(g, Settings(models_root=str(root)), notify=notes.append)
    assert len(notes) == 2 and all("same SHA-256" in n for n in notes)
    assert any("tiny-sd15-canny.safetensors" in line for line in lines)
    assert not any("v1-5-pruned-emaonly" in line for line in lines)


def test_model_refs_come_from_file_params_of_model_kinds_and_annotator_choices():
    g, ids = _graph()
    g.add_node("image.load", params={"image": "photo.png"})
    refs = {(r.node_id, r.param, r.kind, r.file) for r in model_refs(g)}
    assert (ids["pose"], None, "annotators", "rtdetr-r50vd") in refs
    assert not any(r[2] == "image" for r in refs)
    assert len(refs) == 7


def test_the_headless_runner_exits_2_naming_the_missing_model(tmp_path):
    home, models = tmp_path / "home", tmp_path / "models"
    home.mkdir()
    (models / "checkpoints").mkdir(parents=True)
    doc = json.loads((ROOT / "resources" / "workflows" / "txt2img.json").read_text())
    doc["models"] = [{"file": "v1-5-pruned-emaonly.safetensors", "kind": "checkpoints", "family": "sd15",
                      "size": 4265146304, "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"}]
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(doc))
    env = dict(os.environ, LATENT_STUDIO_HOME=str(home), LATENT_STUDIO_MODELS=str(models))
    res = subprocess.run([sys.executable, "-m", "studio", "run", str(flow)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "missing model: " in res.stderr and "v1-5-pruned-emaonly.safetensors" in res.stderr
    assert "--download sd15" in res.stderr and "1 model(s) used by the workflow cannot be found" in res.stderr
