"""Line art: white lines on black, as the lineart ControlNet consumes them."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node

from .common import detect_resolution, each_frame


@node(
    "preprocess.lineart", title="Line Art", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        detect_resolution(),
        Float("line_width", 1.5, min=0.5, max=8.0, step=0.1, tooltip="Scale of the strokes kept, in pixels"),
        Float("strength", 6.0, min=1.0, max=20.0, step=0.5, tooltip="How bright faint strokes become"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["detect_resolution", "line_width"],
    aliases=("LineArtPreprocessor", "LineartStandardPreprocessor", "AnimeLineArtPreprocessor",
             "Manga2Anime_LineArt_Preprocessor"),
)
def lineart(ctx: NodeContext, image: np.ndarray, detect_resolution: int, line_width: float,
            strength: float) -> np.ndarray:
    """Dark strokes of the picture as white lines on black (a weight-free sketch extractor)."""
    from studio.diffusion.annotators.edges import lineart as extract

    return each_frame(ctx, image, lambda rgb: extract(rgb, line_width=line_width, strength=strength),
                      resolution=detect_resolution)
