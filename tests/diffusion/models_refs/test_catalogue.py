"""The shipped catalogue of standard models, and downloading an entry into the models root."""

from __future__ import annotations

import json
import re

import pytest

from studio.core.registry import default_registry
from studio.core.settings import Settings, resources_dir
from studio.core.workflow import load_file
from studio.diffusion.catalogue import download_entry, find, for_model, load_catalogue
from studio.diffusion.model_folders import KINDS
from studio.diffusion.model_hash import HashCache
from studio.diffusion.model_refs import annotator_specs, model_refs

from .conftest import DATA, SHA


def test_every_entry_is_complete_and_points_at_https():
    entries = load_catalogue()
    assert len({e.name for e in entries}) == len(entries)
    for e in entries:
        assert e.name and e.kind in KINDS and e.licence and e.title, e.name
        assert e.url.startswith("https://"), e.name
        assert e.files, e.name
        for f in e.files:
            assert f.url.startswith("https://huggingface.co/") and "/resolve/" in f.url, (e.name, f.url)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256), e.name
            assert f.size is None or f.size > 0
            assert all(u.startswith("https://") for _, u in f.alternatives)
        if e.kind in ("annotators", "taesd"):
            assert e.folder, e.name


def test_the_catalogue_covers_every_annotator_and_the_example_workflows():
    for folder, spec in annotator_specs().items():
        entry = find(folder)
        assert entry is not None and entry.kind == "annotators" and entry.folder == folder, folder
        assert entry.url == spec.url
    for flow in sorted((resources_dir() / "workflows").glob("*.json")):
        g = load_file(flow, default_registry())
        for ref in model_refs(g):
            assert for_model(ref.kind, ref.file) is not None, (flow.name, ref.file)


def test_lookups_by_name_file_folder_and_hash():
    assert find("sd15").file == "v1-5-pruned-emaonly.safetensors"
    assert find("v1-5-pruned-emaonly.safetensors").name == "sd15"
    assert find("models/Stable-diffusion/SD_XL_BASE_1.0.safetensors").name == "sdxl-base"
    assert find("vitpose-base").folder == "vitpose-base"
    assert find("nothing-like-it") is None
    assert for_model("checkpoints", "renamed.safetensors", "31e35c80fc").name == "sdxl-base"
    assert for_model("controlnet", "v1-5-pruned-emaonly.safetensors") is None
    cn = find("controlnet-sd15-depth")
    assert cn.files[0].file == "control_v11f1p_sd15_depth.safetensors"
    assert cn.files[0].url.endswith("/control_v11f1p_sd15_depth_fp16.safetensors")


@pytest.fixture
def local_catalogue(server, tmp_path):
    server.files = {"/repo/config.json": b"{}", "/repo/pytorch_model.bin": DATA, "/repo/model.ckpt": DATA}
    doc = {"models": [
        {"name": "ann", "kind": "annotators", "folder": "my-annotator", "licence": "MIT", "url": "https://example.org",
         "files": [{"file": "config.json", "url": f"{server.url}/repo/config.json"},
                   {"file": "model.safetensors", "url": f"{server.url}/repo/model.safetensors",
                    "alternatives": []}]},
        {"name": "ckpt", "kind": "checkpoints", "licence": "MIT", "url": "https://example.org",
         "files": [{"file": "mine.safetensors", "url": f"{server.url}/repo/model.ckpt", "sha256": SHA,
                    "size": len(DATA)}]},
    ]}
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(doc))
    return path


def test_download_entry_places_files_in_the_kind_folder_and_skips_what_is_there(server, local_catalogue,
                                                                              tmp_path):
    entries = {e.name: e for e in load_catalogue(local_catalogue)}
    settings = Settings(models_root=str(tmp_path / "models"))
    cache = HashCache(tmp_path / "h.json")
    [path] = download_entry(entries["ckpt"], settings, cache=cache)
    assert path == tmp_path / "models" / "checkpoints" / "mine.safetensors" and path.read_bytes() == DATA
    assert entries["ckpt"].is_installed(settings)
    n = len(server.requests)
    assert download_entry(entries["ckpt"], settings, cache=cache) == [path] and len(server.requests) == n
    with pytest.raises(Exception, match="404"):
        download_entry(entries["ann"], settings, cache=cache)
    assert not entries["ann"].is_installed(settings)


def test_download_entry_falls_back_to_an_alternative_file(server, local_catalogue, tmp_path):
    doc = json.loads(local_catalogue.read_text())
    doc["models"][0]["files"][1]["alternatives"] = ["pytorch_model.bin"]
    local_catalogue.write_text(json.dumps(doc))
    entry = {e.name: e for e in load_catalogue(local_catalogue)}["ann"]
    assert entry.files[1].alternatives == (("pytorch_model.bin", f"{server.url}/repo/pytorch_model.bin"),)
    settings = Settings(models_root=str(tmp_path / "models"))
    paths = download_entry(entry, settings, cache=HashCache(tmp_path / "h.json"))
    folder = tmp_path / "models" / "annotators" / "my-annotator"
    assert paths == [folder / "config.json", folder / "pytorch_model.bin"] and entry.is_installed(settings)
