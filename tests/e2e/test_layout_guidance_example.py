"""The layout-guidance example workflow, run as shipped (small size, few steps) on the tiny models."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.workflow import load_file

from .examples import FLOWS, example_id

FLOW = "layout_guidance"


def _id(name: str) -> str:
    return example_id(FLOW, name)


def _graph():
    """The example at 64×64 (its boxes scaled down with it), 3 steps, 2 guidance iterations."""
    g = load_file(FLOWS / f"{FLOW}.json", default_registry())
    g.set_param(_id("sampler"), "steps", 3)
    g.set_param(_id("latent"), "width", 64)
    g.set_param(_id("latent"), "height", 64)
    for phrase in ("cat", "dog"):
        node = g.nodes[_id(f"guide_{phrase}")]
        for name in ("x", "y", "width", "height"):
            g.set_param(node.id, name, max(8, node.params[name] // 8) if name in ("width", "height")
                        else node.params[name] // 8)
        g.set_param(node.id, "iterations", 2)
    return g


def test_the_layout_guidance_example_runs_and_its_boxes_matter(services):
    torch.set_num_threads(1)
    g = _graph()
    assert not [p for p in g.validate() if p.severity == "error"]
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1 and Path(summary.outputs[0]).is_file()
    (patch,) = ex.outputs_of(_id("guide_dog"))[0].patches
    assert [(b.phrase, b.x, b.width) for b in patch.boxes] == [("cat", 4, 26), ("dog", 34, 26)]
    guided = ex.outputs_of(_id("sampler"))[0].samples

    # Without phrases the guidance nodes pass the model through: plain text-to-image, another latent.
    for phrase in ("cat", "dog"):
        g.set_param(_id(f"guide_{phrase}"), "phrase", "")
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert ex.outputs_of(_id("guide_dog"))[0].patches == ()
    assert float((guided - ex.outputs_of(_id("sampler"))[0].samples).abs().max()) > 1e-4
