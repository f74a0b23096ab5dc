"""Scale an image to a number of megapixels, keeping its aspect ratio."""

from __future__ import annotations

import math

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Choice, Float, Int, Out, Wire, node

_INTERPOLATION = {"nearest": 0, "bilinear": 1, "bicubic": 2, "area": 3, "lanczos": 4}  # cv2.INTER_* values
MAX_SIDE = 16384


def total_pixels_size(width: int, height: int, megapixels: float, steps: int = 1) -> tuple[int, int]:
    """The size with about ``megapixels`` × 2^20 pixels and the aspect of width × height, each side
    rounded to a multiple of ``steps``."""
    scale = math.sqrt(int(megapixels * 1024 * 1024) / (width * height))
    return (max(steps, round(width * scale / steps) * steps), max(steps, round(height * scale / steps) * steps))


@node(
    "image.scale_to_pixels", title="Scale Image to Megapixels", category="Image",
    inputs=[
        Wire("image", "IMAGE"),
        Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01, tooltip="1 megapixel = 1024 × 1024 pixels"),
        Choice("method", list(_INTERPOLATION), "lanczos"),
        Int("steps", 1, min=1, max=256, label="round to", tooltip="each side becomes a multiple of this"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["megapixels", "method"],
    aliases=("ImageScaleToTotalPixels",),
)
def scale_to_pixels(ctx: NodeContext, image: np.ndarray, megapixels: float, method: str, steps: int) -> np.ndarray:
    """Resize to about this many pixels in all, whatever the input's size (1 MP for SD 1.5 hires passes,
    SDXL's native size)."""
    import cv2

    try:
        batch = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    h, w = batch.shape[1:3]
    tw, th = total_pixels_size(w, h, megapixels, steps)
    if max(tw, th) > MAX_SIDE:
        raise NodeFailure(f"{tw}×{th} is too large: at most {MAX_SIDE} pixels a side")
    interp = _INTERPOLATION[method]
    return np.stack([cv2.resize(f, (tw, th), interpolation=interp) for f in batch]).clip(0, 1).astype(np.float32)
