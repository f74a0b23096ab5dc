"""ComfyUI's model sampling, merging and checkpoint-saving nodes import as ours (widget orders as in
ComfyUI's comfy_extras/nodes_model_advanced.py and nodes_model_merging.py), and the corpus flow runs on
the tiny models, writing a checkpoint that loads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.compat import load_any
from studio.compat.comfyui import PLACEHOLDER_PREFIX
from studio.core.registry import default_registry

from .helpers import CORPUS

CK = "v1-5-pruned-emaonly.safetensors"

# For the corpus tests (``tests/compat/test_comfyui_corpus.py`` EXPECTED): corpus/model_merge.*.json, two
# SD 1.5 checkpoints merged whole then by blocks, read as eps, sampled, and saved as a checkpoint.
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": CK}),
        "2": ("model.checkpoint", {"checkpoint": "tiny-sd15.safetensors"}),
        "3": ("model.merge_simple", {"ratio": 0.6}),
        "4": ("model.merge_blocks", {"input": 0.2, "middle": 0.5, "out": 0.8}),
        "5": ("model.sampling_discrete", {"sampling": "eps", "zsnr": False}),
        "6": ("text.encode", {"text": "a lighthouse at dusk, oil painting"}),
        "7": ("text.encode", {"text": "blurry"}),
        "8": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
        "9": ("sample.sampler", {"seed": 4242, "steps": 20, "cfg": 7.0, "sampler": "euler", "scheduler": "normal",
                                 "denoise": 1.0}),
        "10": ("latent.vae_decode", {}),
        "11": ("image.save", {"folder": "", "prefix": "merged"}),
        "12": ("model.save_checkpoint", {"folder": "checkpoints", "prefix": "merged"}),
    },
    "links": {("1", "model", "3", "model1"), ("2", "model", "3", "model2"), ("3", "model", "4", "model1"),
              ("2", "model", "4", "model2"), ("4", "model", "5", "model"), ("1", "clip", "6", "clip"),
              ("1", "clip", "7", "clip"), ("5", "model", "9", "model"), ("6", "conditioning", "9", "positive"),
              ("7", "conditioning", "9", "negative"), ("8", "latent", "9", "latent"), ("9", "latent", "10", "latent"),
              ("1", "vae", "10", "vae"), ("10", "image", "11", "images"), ("4", "model", "12", "model"),
              ("1", "clip", "12", "clip"), ("1", "vae", "12", "vae")},
}


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_corpus_flow_imports_cleanly(fmt):
    graph, report = load_any(CORPUS / f"model_merge.{fmt}.json", default_registry())
    assert report is not None and report.of_kind("unmapped") == []
    assert not any(n.type_id.startswith(PLACEHOLDER_PREFIX) for n in graph.nodes.values())
    assert not [p for p in graph.validate() if p.severity == "error"]


def test_corpus_flow_runs_and_saves_a_loadable_checkpoint(tiny_root, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings
    from studio.diffusion.families import inspect

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    graph, _ = load_any(CORPUS / "model_merge.api.json", default_registry())
    for node in graph.nodes.values():
        if node.type_id == "sample.sampler":
            graph.set_param(node.id, "steps", 2)
        elif node.type_id == "latent.empty":
            graph.set_param(node.id, "width", 64)
            graph.set_param(node.id, "height", 64)
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    saved = sorted((tmp_path / "out" / "checkpoints").glob("merged_*.safetensors"))
    assert [p.name for p in saved] == ["merged_00001.safetensors"]
    info = inspect(saved[0])
    assert (info.kind, info.family) == ("checkpoint", "sd15")
    assert list((tmp_path / "out").glob("merged_*.png"))


def test_prefix_placeholders_are_reported(tmp_path: Path):
    from studio.compat import import_comfyui

    api = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CK}},
           "2": {"class_type": "CheckpointSave",
                 "inputs": {"filename_prefix": "ckpt/%date%/x", "model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2]}}}
    graph, report = import_comfyui(api, default_registry())
    (node,) = [n for n in graph.nodes.values() if n.type_id == "model.save_checkpoint"]
    assert node.params == {"folder": "ckpt", "prefix": "x"}
    assert any("placeholders" in a for a in report.of_kind("approximated"))
