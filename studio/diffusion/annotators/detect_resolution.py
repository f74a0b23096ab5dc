"""Run annotators at a fixed working size, as the ControlNet training data was made.

The annotators behind the v1.1 ControlNets resized the input so its short side equals the detect
resolution, rounded each side to a multiple of 64, ran, and the hint was resized to the output.
"""

from __future__ import annotations

import numpy as np


def detect_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(height, width) to run at: short side ≈ ``resolution``, both sides multiples of 64.
    ``resolution`` 0 keeps the input size."""
    if resolution <= 0:
        return height, width
    k = resolution / min(height, width)
    return max(64, round(height * k / 64) * 64), max(64, round(width * k / 64) * 64)


def resize(image: np.ndarray, size: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """Resize an (H, W[, C]) array to ``size`` = (height, width): area when shrinking, Lanczos when
    growing (what the annotators used), nearest for label maps and binary masks."""
    import cv2

    h, w = image.shape[:2]
    if (h, w) == tuple(size):
        return image
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if size[0] * size[1] < h * w else cv2.INTER_LANCZOS4
    out = cv2.resize(image, (size[1], size[0]), interpolation=interp)
    if out.dtype.kind == "f" and not nearest:
        out = np.clip(out, image.min(), image.max())  # Lanczos overshoots at sharp steps
    return out


def for_detection(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """The uint8 RGB frame resized to its detect size."""
    return resize(rgb, detect_size(rgb.shape[0], rgb.shape[1], resolution))
