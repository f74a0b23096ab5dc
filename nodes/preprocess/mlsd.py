"""Straight lines (M-LSD convention): 1 px white segments on black, for the mlsd ControlNet."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image, to_uint8
from studio.core.nodetype import Float, Out, Wire, node

from .common import detect_resolution


@node(
    "preprocess.mlsd", title="Straight Lines (MLSD)", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        detect_resolution(),
        Float("min_length", 20.0, min=2.0, max=500.0, step=1.0,
              tooltip="Shortest segment kept, in pixels at the detect resolution"),
        Float("min_score", 0.1, min=0.0, max=1.0, step=0.01, widget="slider",
              tooltip="Weakest edge contrast a segment may sit on (1 = black against white)"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["min_length", "min_score"],
    aliases=("M-LSDPreprocessor",),
)
def mlsd(ctx: NodeContext, image: np.ndarray, detect_resolution: int, min_length: float,
         min_score: float) -> np.ndarray:
    """Detect straight segments with OpenCV's fast line detector and draw them 1 px wide."""
    from studio.diffusion.annotators.detect_resolution import for_detection
    from studio.diffusion.annotators.lines import detect_segments, draw_segments

    batch = check_image(image)
    out = np.empty(batch.shape, np.float32)
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        small = for_detection(to_uint8(frame), detect_resolution)
        segs = detect_segments(small, min_length=min_length, min_score=min_score)
        h, w = frame.shape[:2]
        # Drawn at the output size (segments scaled), so lines stay exactly one pixel wide.
        canvas = draw_segments(segs, (h, w), (w / small.shape[1], h / small.shape[0]))
        out[i] = canvas[..., None]
        ctx.progress((i + 1) / len(batch))
    return out
