"""Crop a rectangle out of an image; a solid-colour image to start from."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Int, Out, Wire, node

MAX_SIZE = 16384


@node(
    "image.crop", title="Crop Image", category="Image",
    inputs=[
        Wire("image", "IMAGE"),
        Int("width", 512, min=1, max=MAX_SIZE, step=8),
        Int("height", 512, min=1, max=MAX_SIZE, step=8),
        Int("x", 0, min=0, max=MAX_SIZE, tooltip="left edge, pixels"),
        Int("y", 0, min=0, max=MAX_SIZE, tooltip="top edge, pixels"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["width", "height", "x", "y"],
    aliases=("ImageCrop",),
)
def crop(ctx: NodeContext, image: np.ndarray, width: int, height: int, x: int, y: int) -> np.ndarray:
    """The width × height rectangle whose top-left corner is (x, y). A corner past the image moves to
    its last row or column, and the rectangle stops at the image's edge, so the result may be smaller."""
    try:
        batch = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    h, w = batch.shape[1:3]
    left, top = min(x, w - 1), min(y, h - 1)
    out = batch[:, top:top + height, left:left + width]
    if out.shape[1:3] != (height, width):
        ctx.warn(f"the {width}×{height} rectangle at ({x}, {y}) does not fit the {w}×{h} image; "
                 f"cropped to {out.shape[2]}×{out.shape[1]}")
    return out.copy()


def rgb_of(color: int) -> tuple[float, float, float]:
    """0xRRGGBB → (r, g, b) in [0, 1]."""
    return ((color >> 16) & 0xFF) / 255.0, ((color >> 8) & 0xFF) / 255.0, (color & 0xFF) / 255.0


@node(
    "image.empty", title="Solid Colour Image", category="Image",
    inputs=[
        Int("width", 512, min=1, max=MAX_SIZE, step=8),
        Int("height", 512, min=1, max=MAX_SIZE, step=8),
        Int("batch_size", 1, min=1, max=64, label="batch"),
        Int("color", 0, min=0, max=0xFFFFFF, label="colour", tooltip="0xRRGGBB as a number: 0 black, 16777215 white"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["width", "height", "color"],
    aliases=("EmptyImage",),
)
def empty_image(ctx: NodeContext, width: int, height: int, batch_size: int, color: int) -> np.ndarray:
    """An image of one colour, e.g. a canvas to paste onto or a blank ControlNet hint."""
    if width * height * batch_size > 4 * MAX_SIZE * MAX_SIZE:
        raise NodeFailure(f"{batch_size} × {width}×{height} is too large")
    out = np.empty((batch_size, height, width, 3), np.float32)
    out[...] = np.array(rgb_of(color), np.float32)
    return out
