"""The GLIGEN boxes example workflow, run as shipped (small size, few steps) on the tiny models."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.workflow import load_file

from .examples import FLOWS, example_id

FLOW = "gligen_boxes"


def _id(name: str) -> str:
    return example_id(FLOW, name)


def test_the_gligen_example_runs_and_its_boxes_matter(services):
    torch.set_num_threads(1)
    g = load_file(FLOWS / f"{FLOW}.json", default_registry())
    assert [n.params["text"] for n in g.nodes.values() if n.type_id == "conditioning.gligen_box"] == [
        "a grey sofa", "a floor lamp", "a green plant"]
    g.set_param(_id("sampler"), "steps", 3)
    g.set_param(_id("latent"), "width", 64)
    g.set_param(_id("latent"), "height", 64)
    for i in range(3):  # the boxes scaled to the 64 px image; each grounds for 2 of the 3 steps
        box = g.nodes[_id(f"box_{i}")]
        for name in ("x", "y", "width", "height"):
            g.set_param(box.id, name, box.params[name] // 8)
        g.set_param(box.id, "beta", 0.7)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1 and Path(summary.outputs[0]).is_file()
    boxed = ex.outputs_of(_id("sampler"))[0].samples
    unet = ex.outputs_of(_id("ckpt"))[0].unet
    assert not hasattr(unet, "position_net") and not any(hasattr(m, "fuser") for m in unet.modules())

    # With grounding off (β = 0) it is plain text-to-image: a different latent.
    for i in range(3):
        g.set_param(_id(f"box_{i}"), "beta", 0.0)
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    plain = ex.outputs_of(_id("sampler"))[0].samples
    assert float((boxed - plain).abs().max()) > 1e-3
