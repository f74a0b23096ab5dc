"""IMAGE / MASK conventions and conversions (numpy only).

IMAGE: float32 (B, H, W, 3) in [0, 1]. MASK: float32 (B, H, W) in [0, 1], 1 = masked.
"""

from __future__ import annotations

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    """One IMAGE frame (H, W, C) or a batch → uint8, rounding to nearest."""
    return np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def from_uint8(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32) / 255.0


def as_batch(image: np.ndarray) -> np.ndarray:
    """Accept (H, W, 3) or (B, H, W, 3); always give a float32 batch."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected an IMAGE of shape (B, H, W, 3), got {arr.shape}")
    return arr


def check_image(value: object, what: str = "image") -> np.ndarray:
    """Validate an IMAGE value arriving on a wire and return it as a float32 batch."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{what} is a {type(value).__name__}, not an IMAGE array")
    return as_batch(value)


def thumbnail(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """A small uint8 RGB (h, w, 3) of the first frame, for previews and node thumbnails."""
    import cv2

    frame = as_batch(image)[0]
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = frame
    if scale < 1.0:
        small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return to_uint8(small)
