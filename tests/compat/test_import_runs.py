"""Imported workflows run end to end on tiny random models (64×64, 2–3 steps)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from studio.app.run_services import ModelManagers, build_run_services  # noqa: E402
from studio.compat import import_a1111, import_comfyui, load_any  # noqa: E402
from studio.core.executor import Executor  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.settings import Settings  # noqa: E402

from .helpers import CORPUS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    shutil.copy(ROOT / "resources" / "images" / "sample.png", tmp_path / "sample.png")
    # images are looked up next to the workflow
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                              workflow_path=tmp_path / "flow.json")


def _small(graph, steps: int = 2) -> None:
    for node in graph.nodes.values():
        if node.type_id == "sample.sampler":
            graph.set_param(node.id, "steps", steps if node.params["denoise"] >= 1 else steps * 2)
        elif node.type_id in ("latent.empty", "image.scale", "latent.upscale") and node.params.get("mode", "size") == "size":
            graph.set_param(node.id, "width", 64)
            graph.set_param(node.id, "height", 64)


def _run(graph, services):
    assert not [p for p in graph.validate() if p.severity == "error"]
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    return summary


def test_txt2img_api_import_runs(services):
    graph, _ = load_any(CORPUS / "txt2img.api.json", default_registry())
    _small(graph)
    summary = _run(graph, services)
    assert len(summary.outputs) == 1


def test_controlnet_ui_import_runs(services):
    graph, _ = load_any(CORPUS / "controlnet_canny.ui.json", default_registry())
    _small(graph)
    summary = _run(graph, services)
    assert len(summary.outputs) == 1


def test_img2img_api_import_runs(services, tiny):
    graph, _ = load_any(CORPUS / "img2img.api.json", default_registry())
    _small(graph)
    for node in graph.nodes.values():
        if node.type_id == "model.vae":  # the tiny models' VAE stands in for the named one
            graph.set_param(node.id, "vae", tiny.paths["vae"].name)
        if node.type_id == "image.scale":
            graph.set_param(node.id, "factor", 0.25)
    summary = _run(graph, services)
    from PIL import Image

    assert Image.open(summary.outputs[0]).size == (64, 64)  # the latent upscale decides the size


def test_a1111_controlnet_import_runs(services, tmp_path):
    text = ("a house\nNegative prompt: blurry\nSteps: 2, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, "
            "Size: 64x64, Model: v1-5-pruned-emaonly, ControlNet 0: \"Module: canny, Model: "
            "control_v11p_sd15_canny [d14c016b], Weight: 1, Threshold A: 100, Threshold B: 200\"")
    graph, _ = import_a1111(text, default_registry())
    for node in graph.nodes.values():
        if node.type_id == "image.load":
            graph.set_param(node.id, "image", "sample.png")
    summary = _run(graph, services)
    assert len(summary.outputs) == 1


def test_cli_runs_a_comfyui_file(tiny_root, tmp_path):
    env = dict(os.environ, LATENT_STUDIO_MODELS=str(tiny_root), LATENT_STUDIO_HOME=str(tmp_path))
    (tmp_path / "settings.json").write_text(json.dumps({"dtype": "fp32"}))
    res = subprocess.run([sys.executable, "-m", "studio", "run", str(CORPUS / "txt2img.api.json"), "--json",
                          "--output-dir", str(tmp_path / "out"), "--set", "Empty Latent.width=64",
                          "--set", "Empty Latent.height=64", "--set", "Sampler.steps=2"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "imported from ComfyUI (API prompt)" in res.stderr
    assert len(json.loads(res.stdout.splitlines()[-1])["outputs"]) == 1


def test_ui_import_with_editor_matter_runs(services):
    """Reroutes on the latent wire, a bypassed LoRA (unknown here), a muted preview, notes: the run
    passes around all of them, as ComfyUI's would."""
    from .test_comfyui_editor_matter import WORKFLOW

    doc = json.loads(WORKFLOW)
    graph, _ = import_comfyui(doc, default_registry())
    _small(graph)
    for node in graph.nodes.values():
        if node.type_id == "model.checkpoint":
            graph.set_param(node.id, "checkpoint", "v1-5-pruned-emaonly.safetensors")
    summary = _run(graph, services)
    ran = {graph.nodes[n].type_id for n in summary.executed}
    assert ran == {"model.checkpoint", "text.encode", "latent.empty", "sample.sampler", "latent.vae_decode",
                   "image.save"}
    assert len(summary.outputs) == 1
