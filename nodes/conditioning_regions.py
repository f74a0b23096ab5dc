"""Regional prompts and conditioning arithmetic: areas, masks, combine, concat, average, zero-out.

A CONDITIONING may hold several entries (Combine); area and mask nodes act on every entry of their
input, as ComfyUI's do. How the sampler evaluates and blends the entries: ``studio.diffusion.regional``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_mask
from studio.core.nodetype import BoxParams, Choice, Float, Int, Out, Wire, node

MAX_SIZE = 16384
BOUNDS = ("default", "mask bounds")
_STRENGTH_TIP = "how much this prompt counts where it overlaps others (its predictions are averaged with these weights)"


@node(
    "conditioning.set_area", title="Conditioning Area", category="Conditioning",
    inputs=[
        Wire("conditioning", "CONDITIONING[$F]"),
        Int("width", 64, min=8, max=MAX_SIZE, step=8, tooltip="image pixels"),
        Int("height", 64, min=8, max=MAX_SIZE, step=8, tooltip="image pixels"),
        Int("x", 0, min=0, max=MAX_SIZE, step=8, tooltip="image pixels from the left"),
        Int("y", 0, min=0, max=MAX_SIZE, step=8, tooltip="image pixels from the top"),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.01, tooltip=_STRENGTH_TIP),
    ],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["width", "height", "x", "y"],
    aliases=("ConditioningSetArea",),
    box=BoxParams(),
)
def set_area(ctx: NodeContext, conditioning: Any, width: int, height: int, x: int, y: int,
             strength: float) -> Any:
    """Limit a prompt to a rectangle of the image (pixels; the sampler works in steps of 8). Combine it
    with other prompts (a background prompt over the whole image, say): where areas overlap their
    predictions are averaged by strength, and an area's borders inside the image fade over a few pixels."""
    from studio.diffusion.values import Area

    area = Area(int(x), int(y), int(width), int(height))
    return conditioning.map_entries(
        lambda e: replace(e, area=area, strength=float(strength), set_area_to_bounds=False))


@node(
    "conditioning.set_area_percent", title="Conditioning Area (fractions)", category="Conditioning",
    inputs=[
        Wire("conditioning", "CONDITIONING[$F]"),
        Float("width", 1.0, min=0.0, max=1.0, step=0.01, tooltip="fraction of the image's width"),
        Float("height", 1.0, min=0.0, max=1.0, step=0.01, tooltip="fraction of the image's height"),
        Float("x", 0.0, min=0.0, max=1.0, step=0.01, tooltip="fraction of the image's width from the left"),
        Float("y", 0.0, min=0.0, max=1.0, step=0.01, tooltip="fraction of the image's height from the top"),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.01, tooltip=_STRENGTH_TIP),
    ],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["width", "height", "x", "y"],
    aliases=("ConditioningSetAreaPercentage",),
    box=BoxParams(relative=True),
)
def set_area_percent(ctx: NodeContext, conditioning: Any, width: float, height: float, x: float, y: float,
                     strength: float) -> Any:
    """Limit a prompt to a rectangle given as fractions of the image's size, so that it stays in place
    when the size changes (a later upscale pass, say)."""
    from studio.diffusion.values import Area

    area = Area(float(x), float(y), float(width), float(height), relative=True)
    return conditioning.map_entries(
        lambda e: replace(e, area=area, strength=float(strength), set_area_to_bounds=False))


@node(
    "conditioning.set_mask", title="Conditioning Mask", category="Conditioning",
    inputs=[
        Wire("conditioning", "CONDITIONING[$F]"),
        Wire("mask", "MASK", tooltip="where the prompt applies (1) and how much; resized to the image"),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.01, tooltip="scales the mask"),
        Choice("set_cond_area", BOUNDS, "default",
               tooltip="mask bounds: evaluate the prompt on the mask's bounding box only (faster, and the "
                       "model sees that part at full size)"),
    ],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["strength", "set_cond_area"],
    aliases=("ConditioningSetMask",),
)
def set_mask(ctx: NodeContext, conditioning: Any, mask: Any, strength: float, set_cond_area: str) -> Any:
    """Limit a prompt to a mask: its predictions count with the mask's value (times strength) at each
    pixel when averaged with the other prompts'."""
    try:
        m = check_mask(mask, "the mask")
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    bounds = set_cond_area != "default"
    return conditioning.map_entries(
        lambda e: replace(e, mask=m, mask_strength=float(strength), set_area_to_bounds=bounds))


@node(
    "conditioning.combine", title="Conditioning Combine", category="Conditioning",
    inputs=[Wire("conditioning_1", "CONDITIONING[$F]"), Wire("conditioning_2", "CONDITIONING[$F]")],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    aliases=("ConditioningCombine",),
)
def combine(ctx: NodeContext, conditioning_1: Any, conditioning_2: Any) -> Any:
    """Both prompts, each evaluated on its own area or mask (or the whole image) and their predictions
    averaged: the first's entries, then the second's."""
    from studio.diffusion.values import combine as combined

    return combined(conditioning_1, conditioning_2)


@node(
    "conditioning.concat", title="Conditioning Concat", category="Conditioning",
    inputs=[Wire("conditioning_to", "CONDITIONING[$F]"), Wire("conditioning_from", "CONDITIONING[$F]")],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    aliases=("ConditioningConcat",),
)
def concat(ctx: NodeContext, conditioning_to: Any, conditioning_from: Any) -> Any:
    """Append the tokens of conditioning_from to every entry of conditioning_to (as a BREAK between two
    prompts would); everything else (pooled embedding, areas, controls) is conditioning_to's."""
    import torch

    source = _first(ctx, conditioning_from, "conditioning_from")

    def join(entry: Any) -> Any:
        a, b = _batched(entry.embeds, source.embeds)
        if a.shape[-1] != b.shape[-1]:
            raise NodeFailure(f"the embeddings are {a.shape[-1]} and {b.shape[-1]} wide: they come from different "
                              "text encoders")
        return replace(entry, embeds=torch.cat([a, b.to(a.dtype)], dim=1))

    return conditioning_to.map_entries(join)


@node(
    "conditioning.average", title="Conditioning Average", category="Conditioning",
    inputs=[
        Wire("conditioning_to", "CONDITIONING[$F]"),
        Wire("conditioning_from", "CONDITIONING[$F]"),
        Float("conditioning_to_strength", 1.0, min=0.0, max=1.0, step=0.01,
              tooltip="1: only conditioning_to; 0: only conditioning_from"),
    ],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["conditioning_to_strength"],
    aliases=("ConditioningAverage",),
)
def average(ctx: NodeContext, conditioning_to: Any, conditioning_from: Any, conditioning_to_strength: float) -> Any:
    """Blend two prompts token by token: to · strength + from · (1 - strength), pooled embeddings too.
    conditioning_from is cut to conditioning_to's length, or padded with zeros (as ComfyUI does);
    areas, masks and controls are conditioning_to's."""
    import torch

    source = _first(ctx, conditioning_from, "conditioning_from")
    s = float(conditioning_to_strength)

    def blend(entry: Any) -> Any:
        a, b = _batched(entry.embeds, source.embeds)
        if a.shape[-1] != b.shape[-1]:
            raise NodeFailure(f"the embeddings are {a.shape[-1]} and {b.shape[-1]} wide: they come from different "
                              "text encoders")
        b = b[:, :a.shape[1]].to(a.dtype)
        if b.shape[1] < a.shape[1]:
            b = torch.cat([b, b.new_zeros((b.shape[0], a.shape[1] - b.shape[1], b.shape[2]))], dim=1)
        pooled = entry.pooled
        if source.pooled is not None:
            pooled = source.pooled if pooled is None else pooled * s + source.pooled.to(pooled.dtype) * (1.0 - s)
        return replace(entry, embeds=a * s + b * (1.0 - s), pooled=pooled)

    return conditioning_to.map_entries(blend)


@node(
    "conditioning.zero_out", title="Conditioning Zero Out", category="Conditioning",
    inputs=[Wire("conditioning", "CONDITIONING[$F]")],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    aliases=("ConditioningZeroOut",),
)
def zero_out(ctx: NodeContext, conditioning: Any) -> Any:
    """The same conditioning with its embeddings and pooled embedding all zeros (an empty negative
    for models trained that way, SDXL's refiner and Turbo among them)."""
    import torch

    def zero(entry: Any) -> Any:
        pooled = torch.zeros_like(entry.pooled) if entry.pooled is not None else None
        return replace(entry, embeds=torch.zeros_like(entry.embeds), pooled=pooled)

    return conditioning.map_entries(zero)


def _first(ctx: NodeContext, conditioning: Any, name: str) -> Any:
    entries = conditioning.entries()
    if len(entries) > 1:
        ctx.warn(f"{name} holds {len(entries)} combined prompts; only the first is used")
    return entries[0]


def _batched(a: Any, b: Any) -> tuple[Any, Any]:
    """Two embeddings with one batch size: a batch of one goes with every row of the other."""
    if a.shape[0] == b.shape[0]:
        return a, b
    if a.shape[0] == 1:
        return a.expand(b.shape[0], -1, -1), b
    if b.shape[0] == 1:
        return a, b.expand(a.shape[0], -1, -1)
    raise NodeFailure(f"the prompts have batches of {a.shape[0]} and {b.shape[0]}")
