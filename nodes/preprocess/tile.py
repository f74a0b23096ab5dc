"""Tile hint: the image with its fine detail removed, which the tile ControlNet re-invents."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image
from studio.core.nodetype import Float, Out, Wire, node


@node(
    "preprocess.tile", title="Tile (Blur / Downsample)", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Float("downsample", 1.0, min=1.0, max=16.0, step=0.5,
              tooltip="Shrink by this factor and scale back up (1 = keep the resolution)"),
        Float("blur", 2.0, min=0.0, max=32.0, step=0.1, tooltip="Gaussian blur sigma in pixels; 0 = off"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["downsample", "blur"],
    aliases=("TilePreprocessor",),
)
def tile(ctx: NodeContext, image: np.ndarray, downsample: float, blur: float) -> np.ndarray:
    """Downsample (area) and upsample (bicubic), then blur: the same size, less detail."""
    import cv2

    batch = check_image(image)
    out = np.empty_like(batch)
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        h, w = frame.shape[:2]
        px = frame
        if downsample > 1.0:
            small = cv2.resize(px, (max(1, round(w / downsample)), max(1, round(h / downsample))),
                               interpolation=cv2.INTER_AREA)
            px = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        if blur > 0:
            px = cv2.GaussianBlur(px, (0, 0), blur)
        out[i] = np.clip(px, 0.0, 1.0)
        ctx.progress((i + 1) / len(batch))
    return out
