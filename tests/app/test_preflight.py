"""The pre-flight: what ``validate`` reports as an error is exactly what a run refuses, unrun."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from studio.app import Session
from studio.app.preflight import preflight
from studio.core.executor import Executor
from studio.core.graph import MUTE
from studio.core.settings import Settings, resources_dir

SAMPLE = resources_dir() / "images" / "sample.png"


@pytest.fixture(scope="module")
def models(tiny_root, tmp_path_factory) -> Path:
    """The tiny models, plus files a run refuses: a pickle, a VAE in the checkpoint folder, a LoRA
    file that is no LoRA."""
    root = tmp_path_factory.mktemp("preflight-models")
    for kind in ("checkpoints", "controlnet", "vae"):
        (root / kind).mkdir()
        for f in (tiny_root / kind).iterdir():
            (root / kind / f.name).symlink_to(f.resolve())
    (root / "checkpoints" / "legacy.ckpt").write_bytes(b"PK\x03\x04 not read without the opt-in")
    (root / "checkpoints" / "a-vae.safetensors").symlink_to((tiny_root / "vae" / "tiny-vae.safetensors").resolve())
    (root / "loras").mkdir()
    (root / "loras" / "odd.safetensors").symlink_to((tiny_root / "vae" / "tiny-vae.safetensors").resolve())
    return root


@pytest.fixture
def session(models, tmp_path) -> Session:
    shutil.copy(SAMPLE, tmp_path / "photo.png")
    (tmp_path / "notes.png").write_text("this is not a picture")
    s = Session(settings=Settings(models_root=str(models), input_dir=str(tmp_path)), output_dir=tmp_path / "out")
    return s


def _errors(session: Session) -> list:
    return [p for p in session.validate() if p.severity == "error"]


def _refused_unrun(session: Session, node_id: str, port: str, expected: str) -> None:
    """validate names the node, the field and the file; a queued run fails that node with the same
    message and executes nothing (every node here needs it)."""
    [problem] = [p for p in _errors(session) if p.node_id == node_id]
    assert problem.port == port and expected in problem.message, problem
    assert session.graph.title_of(node_id) in str(problem) and node_id in str(problem)
    [job] = session.enqueue()
    session.run_next()
    summary = job.summary
    assert summary is not None
    assert summary.failed == {node_id: f"{port}: {problem.message}"}
    assert summary.executed == ()
    # Unchecked, the node itself fails with the very same words: the pre-flight only says it sooner.
    unchecked = replace(session.graph.snapshot(), problems=())
    raw = Executor().run(unchecked, services=session.run_services())
    assert raw.failed[node_id] == problem.message


@pytest.mark.parametrize(("name", "expected"), [
    ("nope.safetensors", "checkpoints model not found: nope.safetensors"),
    ("", "no checkpoints model chosen"),
    ("legacy.ckpt", "legacy.ckpt is a pickle (.ckpt) file, which can run code when opened"),
    ("a-vae.safetensors", "a-vae.safetensors is a VAE, not a checkpoint"),
    ("../vae/tiny-vae.safetensors", "leaves the model folder"),
], ids=["missing", "empty", "pickle", "wrong-kind", "escaping"])
def test_checkpoint_refusals(session, name, expected):
    ckpt = session.graph.add_node("model.checkpoint", params={"checkpoint": name})
    _refused_unrun(session, ckpt.id, "checkpoint", expected)


@pytest.mark.parametrize(("image", "mask", "port", "expected"), [
    ("gone.png", "", "image", "image not found: gone.png; looked in"),
    ("", "", "image", "no image chosen"),
    ("notes.png", "", "image", "cannot read image"),
    ("photo.png", "gone-mask.png", "mask", "mask not found: gone-mask.png"),
], ids=["missing", "empty", "not-an-image", "missing-mask"])
def test_image_refusals(session, image, mask, port, expected):
    g = session.graph
    load = g.add_node("image.load", params={"image": image, "mask": mask})
    save = g.add_node("image.save", params={"prefix": "pf"})
    g.connect(load.id, "image", save.id, "images")
    _refused_unrun(session, load.id, port, expected)


def test_a_lora_file_that_is_no_lora_is_named_before_running(session):
    g = session.graph
    ckpt = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    lora = g.add_node("model.lora", params={"lora": "odd.safetensors"})
    g.connect(ckpt.id, "model", lora.id, "model")
    g.connect(ckpt.id, "clip", lora.id, "clip")
    [problem] = _errors(session)
    assert (problem.node_id, problem.port) == (lora.id, "lora")
    assert "odd.safetensors is not a LoRA in a layout this app reads" in problem.message


def test_every_problem_is_said_at_once(session):
    g = session.graph
    a = g.add_node("model.checkpoint", params={"checkpoint": "nope.safetensors"})
    b = g.add_node("model.vae", params={"vae": ""})
    c = g.add_node("image.load", params={"image": "gone.png"})
    assert {(p.node_id, p.port) for p in _errors(session)} == {(a.id, "checkpoint"), (b.id, "vae"), (c.id, "image")}


def test_a_valid_workflow_passes_both(session):
    g = session.graph
    load = g.add_node("image.load", params={"image": "photo.png"})
    save = g.add_node("image.save", params={"prefix": "pf"})
    g.connect(load.id, "image", save.id, "images")
    ckpt = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    g.set_mode(ckpt.id, MUTE)  # the checkpoint is not loaded here: the run stays fast
    assert session.validate() == []
    [job] = session.enqueue()
    session.run_next()
    assert job.summary is not None and not job.summary.failed
    assert set(job.summary.executed) == {load.id, save.id}


def test_nodes_a_run_leaves_out_are_not_checked(session):
    g = session.graph
    muted = g.add_node("model.checkpoint", params={"checkpoint": "nope.safetensors"})
    g.set_mode(muted.id, MUTE)
    feeder = g.add_node("model.checkpoint", params={"checkpoint": ""})  # feeds only a muted node
    lora = g.add_node("model.lora", params={"lora": "gone.safetensors"})
    g.connect(feeder.id, "model", lora.id, "model")
    g.connect(feeder.id, "clip", lora.id, "clip")
    g.set_mode(lora.id, MUTE)
    assert _errors(session) == []


def test_the_pickle_opt_in_is_honoured(models, tmp_path):
    s = Session(settings=Settings(models_root=str(models), allow_ckpt=True), output_dir=tmp_path)
    s.graph.add_node("model.checkpoint", params={"checkpoint": "legacy.ckpt"})
    assert _errors(s) == []


def test_a_renamed_model_is_found_by_the_preflight_that_looks_for_it(session, models):
    g = session.graph
    ckpt = g.add_node("model.checkpoint", params={"checkpoint": "renamed-sd15.safetensors"})
    g.models = [{"file": "renamed-sd15.safetensors", "kind": "checkpoints", "family": "sd15",
                 "size": (models / "checkpoints" / "tiny-sd15.safetensors").stat().st_size,
                 "sha256": _sha256(models / "checkpoints" / "tiny-sd15.safetensors")}]
    plain = preflight(g, session.lookup_services())
    assert [p.port for p in plain.errors] == ["checkpoint"]
    found = preflight(g, session.lookup_services(), find_renamed=True)
    assert found.ok and len(found.notes) == 1 and "same SHA-256" in found.notes[0]
    assert g.nodes[ckpt.id].params["checkpoint"] in {"tiny-sd15.safetensors", "v1-5-pruned-emaonly.safetensors"}


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_paint_by_example_model_that_is_a_single_file_is_named_before_running(session):
    pbe = session.graph.add_node("edit.paint_by_example", params={"model": "tiny-sd15.safetensors"})
    problems = [p for p in _errors(session) if p.port == "model"]
    assert [p.node_id for p in problems] == [pbe.id]
    assert "tiny-sd15.safetensors is a single file; Paint-by-Example needs its diffusers folder" in problems[0].message
