"""The IP-Adapter example workflow, run as shipped (small size, few steps) on the tiny models."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import torch

from studio.app.run_services import ModelManagers, build_run_services
from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.workflow import load_file

FLOWS = Path(__file__).resolve().parents[2] / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")
FLOW = "ip_adapter"


def _id(name: str) -> str:
    return str(uuid.uuid5(NS, f"{FLOW}/{name}"))


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)


def _graph():
    g = load_file(FLOWS / f"{FLOW}.json", default_registry())
    g.set_param(_id("sampler"), "steps", 3)
    g.set_param(_id("latent"), "width", 64)
    g.set_param(_id("latent"), "height", 64)
    return g


def test_the_ip_adapter_example_runs_and_its_image_prompt_matters(services):
    torch.set_num_threads(1)
    g = _graph()
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1 and Path(summary.outputs[0]).is_file()
    with_image = ex.outputs_of(_id("sampler"))[0].samples
    unet = ex.outputs_of(_id("checkpoint"))[0].unet
    assert not any(type(p).__name__ == "IPAttnProcessor" for p in unet.attn_processors.values())

    # The same graph at weight 0 is plain text-to-image: a different latent.
    g.set_param(_id("apply"), "weight", 0.0)
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    without = ex.outputs_of(_id("sampler"))[0].samples
    assert float((with_image - without).abs().max()) > 1e-3
