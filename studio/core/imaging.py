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


def check_mask(value: object, what: str = "mask") -> np.ndarray:
    """Validate a MASK value arriving on a wire; give it as a float32 batch (B, H, W)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{what} is a {type(value).__name__}, not a MASK array")
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"expected a MASK of shape (B, H, W), got {value.shape}")
    return arr


def match_batches(*arrays: np.ndarray) -> list[np.ndarray]:
    """Repeat batches of one to the batch size of the others (first axis). Batches of other differing
    sizes do not fit together."""
    sizes = {len(a) for a in arrays} - {1}
    if len(sizes) > 1:
        shown = " and ".join(str(len(a)) for a in arrays)
        raise ValueError(f"batches of {shown} do not fit together (only a batch of 1 goes with any other)")
    n = sizes.pop() if sizes else 1
    return [np.repeat(a, n, axis=0) if len(a) != n else a for a in arrays]


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A MASK batch stretched to (height, width), bilinear."""
    import cv2

    m = check_mask(mask)
    if m.shape[1:] == (height, width):
        return m
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in m]).astype(np.float32)


def _shrink(frame: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return frame
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def mask_preview(mask: np.ndarray, max_side: int = 512) -> np.ndarray:
    """The first frame of a MASK as a small grey uint8 RGB picture (white = masked)."""
    frame = _shrink(np.clip(check_mask(mask)[0], 0.0, 1.0), max_side)
    return np.repeat(to_uint8(frame)[..., None], 3, axis=-1)


def mask_overlay(image: np.ndarray, mask: np.ndarray, *, color: tuple[float, float, float] = (1.0, 0.0, 0.0),
                 opacity: float = 0.5, max_side: int = 512) -> np.ndarray:
    """The first frame of ``image`` with ``mask`` laid over it as a translucent colour, as a small uint8
    RGB picture (h, w, 3) no larger than ``max_side`` on its long side. A mask of another size is
    stretched to the image."""
    frame = as_batch(image)[0]
    h, w = frame.shape[:2]
    m = resize_mask(check_mask(mask)[:1], h, w)[0]
    small, m = _shrink(frame, max_side), np.clip(_shrink(m, max_side), 0.0, 1.0)
    alpha = (opacity * m)[..., None]
    tint = np.asarray(color, dtype=np.float32)
    return to_uint8(small * (1.0 - alpha) + tint * alpha)
