"""Layout guidance: put a phrase of the prompt inside a box, without any extra model (training-free)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import BoxParams, Float, Int, Out, String, Wire, node

MAX_SIZE = 16384


@node(
    "guidance.layout", title="Layout Guidance", category="Conditioning",
    inputs=[
        Wire("model", "MODEL[$F]"),
        String("phrase", "", tooltip="words of the positive prompt, written as the prompt writes them; "
                                     "empty: no guidance"),
        Int("x", 0, min=0, max=MAX_SIZE, step=8, tooltip="left edge of the box, in image pixels"),
        Int("y", 0, min=0, max=MAX_SIZE, step=8, tooltip="top edge of the box, in image pixels"),
        Int("width", 256, min=8, max=MAX_SIZE, step=8, tooltip="box width in image pixels"),
        Int("height", 256, min=8, max=MAX_SIZE, step=8, tooltip="box height in image pixels"),
        Float("loss_scale", 30.0, min=0.0, max=1000.0, step=1.0, label="loss scale",
              tooltip="how hard each gradient step pulls the phrase into its box (the paper's 30)"),
        Int("iterations", 5, min=0, max=50, tooltip="gradient steps on the latent per guided sampling step"),
        Int("steps", 10, min=0, max=1000,
            tooltip="guide the first this many sampling steps (the layout is set early; later steps refine)"),
    ],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["phrase", "loss_scale", "steps"],
    box=BoxParams(label="phrase"),
)
def layout_guidance(ctx: NodeContext, model: Any, phrase: str, x: int, y: int, width: int, height: int,
                    loss_scale: float, iterations: int, steps: int) -> Any:
    """Steer where a phrase of the positive prompt appears: during the first steps the sampler moves the
    latent so that the phrase's cross-attention falls inside the box (backward guidance of Chen et al.,
    "Training-Free Layout Control with Cross-Attention Guidance"). Chain several of these nodes for
    several phrases: their boxes are guided together, with the loss scale, iterations and steps of the
    last node in the chain. Works with SD 1.x and SDXL. Each guided step runs the model forward and
    backward once per iteration, so it costs several ordinary steps and more memory."""
    from studio.diffusion.layout_guidance import LayoutBox, LayoutGuidance, check_family

    words = " ".join(phrase.split())
    if not words:
        return model  # no phrase: the model as it came, no guidance
    check_family(model.family, ctx.title)
    box = LayoutBox(words, int(x), int(y), int(width), int(height), node=ctx.title or "Layout Guidance")
    found = [i for i, p in enumerate(model.patches) if isinstance(p, LayoutGuidance)]
    base = model.patches[found[0]] if found else LayoutGuidance()
    patch = base.with_box(box, loss_scale=loss_scale, iterations=iterations, steps=steps)
    if found:
        patches = tuple(patch if i == found[0] else p for i, p in enumerate(model.patches))
    else:
        patches = (*model.patches, patch)
    if iterations == 0 or steps == 0 or loss_scale == 0:
        ctx.warn("iterations, steps or loss scale is 0: the layout guidance will not act")
    return replace(model, patches=patches)
