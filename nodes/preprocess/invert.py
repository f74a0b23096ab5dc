"""Invert: 1 − image. Turns black-on-white line drawings into the white-on-black hints models expect."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image
from studio.core.nodetype import Out, Wire, node


@node(
    "preprocess.invert", title="Invert", category="Preprocess",
    inputs=[Wire("image", "IMAGE")],
    outputs=[Out("image", "IMAGE")],
    aliases=("ImageInvert",),
)
def invert(ctx: NodeContext, image: np.ndarray) -> np.ndarray:
    """Swap black and white (every channel becomes 1 − value)."""
    ctx.check_cancel()
    return (1.0 - check_image(image)).astype(np.float32)
