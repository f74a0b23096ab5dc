"""Canny edges: the hint the canny ControlNets were trained on (white edges on black)."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image, from_uint8, to_uint8
from studio.core.nodetype import Float, Int, Out, Wire, node


@node(
    "preprocess.canny", title="Canny Edges", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Int("low", 100, min=0, max=255, widget="slider", label="low threshold"),
        Int("high", 200, min=0, max=255, widget="slider", label="high threshold"),
        Float("blur", 0.0, min=0.0, max=10.0, step=0.1, tooltip="Gaussian blur sigma before detection; 0 = off"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["low", "high"],
    aliases=("Canny", "CannyEdgePreprocessor"),
)
def canny(ctx: NodeContext, image: np.ndarray, low: int, high: int, blur: float) -> np.ndarray:
    """Find edges with OpenCV's Canny detector; the result is a 3-channel white-on-black edge map."""
    import cv2

    out = []
    batch = check_image(image)
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        px = to_uint8(frame)
        if blur > 0:
            px = cv2.GaussianBlur(px, (0, 0), blur)
        edges = cv2.Canny(px, min(low, high), max(low, high))
        out.append(np.repeat(edges[..., None], 3, axis=-1))
        ctx.progress((i + 1) / len(batch))
    return from_uint8(np.stack(out))
