"""Pad an image for outpainting: grey borders to paint into, and the mask that marks them."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image, mask_overlay
from studio.core.nodetype import Int, Out, Wire, node

MAX_PAD = 8192
NEUTRAL = 0.5  # the grey the new area starts as


def outpaint_mask(height: int, width: int, top: int, bottom: int, left: int, right: int,
                  feathering: int) -> np.ndarray:
    """The (H, W) mask of an image padded by these amounts: 1 in the new area; inside the original,
    ``((feathering - d) / feathering) ** 2`` within ``feathering`` of a padded side (d counts from 0 at
    the top and left edges and from 1 at the bottom and right ones, as ComfyUI's outpaint pad does),
    0 beyond. No feathering when it does not fit twice into the original's width and height."""
    mask = np.ones((top + height + bottom, left + width + right), np.float32)
    inner = np.zeros((height, width), np.float32)
    if feathering > 0 and 2 * feathering < height and 2 * feathering < width:
        rows, cols = np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64)
        far_rows, far_cols = np.full(height, np.inf), np.full(width, np.inf)  # an unpadded side: no ramp
        d_rows = np.minimum(rows if top else far_rows, (height - rows) if bottom else far_rows)
        d_cols = np.minimum(cols if left else far_cols, (width - cols) if right else far_cols)
        d = np.minimum(d_rows[:, None], d_cols[None, :])
        ramp = np.clip((feathering - d) / feathering, 0.0, None)
        inner = (ramp * ramp).astype(np.float32)
    mask[top:top + height, left:left + width] = inner
    return mask


@node(
    "image.pad_outpaint", title="Pad Image for Outpainting", category="Image",
    inputs=[
        Wire("image", "IMAGE"),
        Int("left", 0, min=0, max=MAX_PAD, step=8, tooltip="pixels to add on the left (multiples of 8 work best)"),
        Int("top", 0, min=0, max=MAX_PAD, step=8, tooltip="pixels to add at the top (multiples of 8 work best)"),
        Int("right", 0, min=0, max=MAX_PAD, step=8, tooltip="pixels to add on the right (multiples of 8 work best)"),
        Int("bottom", 0, min=0, max=MAX_PAD, step=8,
            tooltip="pixels to add at the bottom (multiples of 8 work best)"),
        Int("feathering", 40, min=0, max=MAX_PAD,
            tooltip="how far (in pixels) the mask fades into the original image from each padded side"),
    ],
    outputs=[Out("image", "IMAGE"), Out("mask", "MASK")],
    summary=["left", "top", "right", "bottom"],
    aliases=("ImagePadForOutpaint",),
)
def pad_for_outpaint(ctx: NodeContext, image: np.ndarray, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[np.ndarray, np.ndarray]:
    """Enlarge the canvas to paint past the image's sides. The new borders are neutral grey and the
    mask is 1 there; it fades into the original over the feathering distance, so the model may also
    retouch the seam. Feed both to "VAE Encode for Inpainting" (or set them as a noise mask)."""
    try:
        batch = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    b, h, w, c = batch.shape
    nh, nw = h + top + bottom, w + left + right
    if nh * nw > 16384 * 16384:
        raise NodeFailure(f"{nw}×{nh} is too large")
    if nh % 8 or nw % 8:
        ctx.warn(f"the padded size {nw}×{nh} is not a multiple of 8, so a VAE crops it to "
                 f"{nw - nw % 8}×{nh - nh % 8}; pad by multiples of 8 on an image whose sides are")
    if feathering and not (2 * feathering < h and 2 * feathering < w):
        ctx.warn(f"feathering {feathering} does not fit twice into the {w}×{h} image; the mask is not feathered")
    out = np.full((b, nh, nw, c), NEUTRAL, np.float32)
    out[:, top:top + h, left:left + w] = batch
    mask = np.repeat(outpaint_mask(h, w, top, bottom, left, right, feathering)[None], b, axis=0)
    ctx.preview(mask_overlay(out, mask), -1)
    return out, mask
