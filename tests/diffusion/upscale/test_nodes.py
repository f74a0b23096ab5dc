"""The upscale-model nodes: ports and ComfyUI names, and a graph that loads a model and enlarges an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.app.run_services import ModelManagers, build_run_services
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings

FLOWS = Path(__file__).resolve().parents[3] / "resources" / "workflows"  # images/sample.png


@pytest.fixture
def services(upscale_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(upscale_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)


def test_node_types_ports_and_comfyui_names():
    reg = default_registry()
    loader, up = reg.get("model.upscale"), reg.get("image.upscale_model")
    assert loader is not None and up is not None
    assert "UpscaleModelLoader" in loader.aliases and "ImageUpscaleWithModel" in up.aliases
    assert [(i.name, i.file_kind) for i in loader.inputs] == [("model_name", "upscale_models")]
    assert [o.name for o in loader.outputs] == ["upscale_model"]
    assert [i.name for i in up.inputs if i.wire] == ["upscale_model", "image"]
    assert [(i.name, i.default) for i in up.inputs if not i.wire] == [("tile", 512), ("overlap", 32)]
    assert [o.name for o in up.outputs] == ["image"]


def _graph(model_name: str) -> tuple[Graph, str]:
    g = Graph(default_registry())
    load = g.add_node("model.upscale", params={"model_name": model_name})
    image = g.add_node("image.load", params={"image": "images/sample.png"})
    small = g.add_node("image.scale", params={"mode": "size", "width": 40, "height": 32})
    up = g.add_node("image.upscale_model", params={"tile": 32, "overlap": 8})
    g.connect(image.id, "image", small.id, "image")
    g.connect(load.id, "upscale_model", up.id, "upscale_model")
    g.connect(small.id, "image", up.id, "image")
    return g, up.id


@pytest.mark.parametrize(("name", "scale"), [("4x-UltraSharp.safetensors", 4),
                                             ("001_classicalSR_DF2K_s64w8_SwinIR-M_x2.safetensors", 2)])
def test_upscale_in_a_graph(services, name, scale):
    g, up = _graph(name)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    outputs = ex.outputs_of(up)
    assert outputs is not None
    (out,) = outputs
    assert out.shape == (1, 32 * scale, 40 * scale, 3) and out.dtype == np.float32
    # loaded once, through the model manager, and kept under its budget
    mm = services.models()
    assert [kind for kind, _, _ in mm.resident()] == ["upscale_model"]
    assert mm.load_upscale_model(mm.resolve("upscale_models", name)) is mm.load_upscale_model(
        mm.resolve("upscale_models", name))


def test_a_pth_without_the_opt_in_fails_with_a_clear_message(services):
    g, _ = _graph("RealESRGAN_x4plus_anime_6B.pth")
    summary = Executor().run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert not summary.ok
    assert "Preferences" in str(summary.failed)
