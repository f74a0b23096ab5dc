"""Binary threshold: white where the image is brighter than a level, black elsewhere."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image
from studio.core.nodetype import Bool, Float, Out, Wire, node

# Rec. 601 luma, as OpenCV's RGB→grey conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@node(
    "preprocess.threshold", title="Threshold", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Float("threshold", 0.5, min=0.0, max=1.0, step=0.01, widget="slider", tooltip="Brightness level (0..1)"),
        Bool("invert", False, tooltip="White where darker than the level instead"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["threshold", "invert"],
    aliases=("BinaryPreprocessor", "ScribblePreprocessor"),
)
def threshold(ctx: NodeContext, image: np.ndarray, threshold: float, invert: bool) -> np.ndarray:
    """Black-and-white image from the brightness of each pixel."""
    batch = check_image(image)
    ctx.check_cancel()
    luma = batch @ _LUMA
    mask = (luma <= threshold) if invert else (luma > threshold)
    return np.repeat(mask[..., None], 3, axis=-1).astype(np.float32)
