"""Shared by the preprocessor nodes: the detect-resolution parameter and the per-frame loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image, to_uint8
from studio.core.nodetype import Input, Int


def detect_resolution(default: int = 512) -> Input:
    return Int("detect_resolution", default, min=0, max=4096, step=64, label="detect resolution",
               tooltip="Run at this many pixels on the short side (a multiple of 64), as the annotator "
                       "did for the ControlNet's training data; the hint is resized back. 0 = input size")


def each_frame(ctx: NodeContext, image: Any, fn: Callable[[np.ndarray], np.ndarray], *, resolution: int = 0,
               nearest: bool = False, start: float = 0.0, as_float: bool = False) -> np.ndarray:
    """Run ``fn`` on every frame as uint8 RGB (float32 with ``as_float``) at its detect size. Each
    result ((h, w) or (h, w, 3), in [0, 1] or uint8) is resized back to the frame's size; progress
    runs from ``start`` to 1 over the batch."""
    from studio.diffusion.annotators.detect_resolution import for_detection, resize

    batch = check_image(image)
    out = np.empty(batch.shape, np.float32)
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        hint = np.asarray(fn(for_detection(frame if as_float else to_uint8(frame), resolution)))
        if hint.dtype == np.uint8:
            hint = hint.astype(np.float32) / 255.0
        hint = resize(hint.astype(np.float32), frame.shape[:2], nearest=nearest)
        out[i] = hint[..., None] if hint.ndim == 2 else hint
        ctx.progress(start + (1.0 - start) * (i + 1) / len(batch))
    return out
