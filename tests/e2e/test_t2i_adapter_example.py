"""The T2I-Adapter depth example end to end on the tiny models (with a tiny Depth Anything)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from studio.app.run_services import ModelManagers, build_run_services
from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")
FLOW = "t2i_adapter_depth"


def _id(name: str) -> str:
    return str(uuid.uuid5(NS, f"{FLOW}/{name}"))


@pytest.fixture
def models(tiny_root: Path, tmp_path: Path) -> Path:
    from tests.nodes.preprocess.tiny_annotators import depth_anything

    root = tmp_path / "models"
    root.mkdir()
    for sub in ("checkpoints", "controlnet"):
        (root / sub).symlink_to(tiny_root / sub, target_is_directory=True)
    depth_anything(root / "annotators" / "depth-anything-v2-small")
    return root


def test_t2i_adapter_depth_example_runs(models, tmp_path, monkeypatch):
    from studio.core.workflow import load_file
    from studio.diffusion.values import T2IAdapterModel

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(models))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)
    services = services.with_workflow_dir(FLOWS)
    g = load_file(FLOWS / f"{FLOW}.json", default_registry())
    assert g.nodes[_id("cn")].type_id == "model.t2i_adapter"
    for name, value in (("width", 64), ("height", 64)):
        g.set_param(_id("latent"), name, value)
    g.set_param(_id("sampler"), "steps", 3)
    g.set_param(_id("preprocess"), "detect_resolution", 64)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
    assert isinstance(ex.outputs_of(_id("cn"))[0], T2IAdapterModel)
    guided = ex.outputs_of(_id("sampler"))[0].samples
    # The adapter steers the result: without it (strength 0) the latents differ.
    g.set_param(_id("apply"), "strength", 0.0)
    summary = ex.run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert float((ex.outputs_of(_id("sampler"))[0].samples - guided).abs().max()) > 1e-3
