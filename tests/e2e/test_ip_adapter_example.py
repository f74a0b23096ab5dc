"""The IP-Adapter example workflow, run as shipped (small size, few steps) on the tiny models."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.workflow import load_file

from .examples import FLOWS, example_id

FLOW = "ip_adapter"


def _id(name: str) -> str:
    return example_id(FLOW, name)


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
