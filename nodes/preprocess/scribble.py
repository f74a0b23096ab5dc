"""Scribble: thin binary strokes, white on black, for the scribble ControlNet."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Int, Out, Wire, node

from .common import detect_resolution, each_frame


@node(
    "preprocess.scribble", title="Scribble", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        detect_resolution(),
        Float("threshold", 0.5, min=0.05, max=0.95, step=0.05, widget="slider",
              tooltip="Soft-edge level that becomes a stroke; higher keeps fewer strokes"),
        Int("thickness", 1, min=1, max=9, tooltip="Stroke width in pixels at the detect resolution"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["threshold", "thickness"],
    aliases=("ScribblePreprocessor", "FakeScribblePreprocessor", "Scribble_XDoG_Preprocessor",
             "Scribble_PiDiNet_Preprocessor"),
)
def scribble(ctx: NodeContext, image: np.ndarray, detect_resolution: int, threshold: float,
             thickness: int) -> np.ndarray:
    """Soft edges thinned to one-pixel strokes and binarised (white strokes on black)."""
    from studio.diffusion.annotators.edges import scribble as extract

    out = each_frame(ctx, image, lambda rgb: extract(rgb, threshold=threshold, thickness=thickness),
                     resolution=detect_resolution, nearest=True)
    return out
