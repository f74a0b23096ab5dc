"""Paste one image onto another through a mask: how an inpainted picture keeps every pixel of the
original outside the repainted area."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image, check_mask, match_batches, resize_mask
from studio.core.nodetype import Int, Out, Wire, node

MAX_OFFSET = 16384


@node(
    "image.composite_masked", title="Composite Images by Mask", category="Image",
    inputs=[
        Wire("destination", "IMAGE", tooltip="the picture to paste onto (the original, for inpainting)"),
        Wire("source", "IMAGE", tooltip="the picture to paste (the inpainted result)"),
        Wire("mask", "MASK", optional=True, tooltip="where the source shows (1) and the destination stays (0); "
                                                    "without a mask the whole source is pasted"),
        Int("x", 0, min=-MAX_OFFSET, max=MAX_OFFSET, tooltip="left edge of the source on the destination, pixels"),
        Int("y", 0, min=-MAX_OFFSET, max=MAX_OFFSET, tooltip="top edge of the source on the destination, pixels"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["x", "y"],
    aliases=("ImageCompositeMasked",),
)
def composite_masked(ctx: NodeContext, destination: np.ndarray, source: np.ndarray, mask: np.ndarray | None,
                     x: int, y: int) -> np.ndarray:
    """Paste the source onto the destination at (x, y), showing it only where the mask is set (soft
    values blend). After inpainting, composite the result onto the original with the same mask: the
    unmasked area is then exactly the original, whatever the VAE's round trip changed. A mask of
    another size than the source is stretched to it."""
    try:
        dst, src = check_image(destination, "destination"), check_image(source, "source")
        m = None if mask is None else check_mask(mask)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    _, sh, sw, _ = src.shape
    if m is None:
        m = np.ones((1, sh, sw), np.float32)
    elif m.shape[1:] != (sh, sw):
        ctx.warn(f"the {m.shape[2]}×{m.shape[1]} mask is stretched to the {sw}×{sh} source")
        m = resize_mask(m, sh, sw)
    try:
        dst, src, m = match_batches(dst, src, m)
    except ValueError as exc:
        raise NodeFailure(str(exc)) from None
    if dst.shape[-1] != src.shape[-1]:
        raise NodeFailure(f"the destination has {dst.shape[-1]} channels, the source {src.shape[-1]}")
    out = dst.copy()
    _, dh, dw, _ = dst.shape
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + sh, dh), min(x + sw, dw)
    if bottom <= top or right <= left:
        ctx.warn("the source lies outside the destination; nothing is pasted")
        return out
    part = src[:, top - y:bottom - y, left - x:right - x]
    weight = m[:, top - y:bottom - y, left - x:right - x, None]
    region = out[:, top:bottom, left:right]
    out[:, top:bottom, left:right] = region * (1.0 - weight) + part * weight
    return out
