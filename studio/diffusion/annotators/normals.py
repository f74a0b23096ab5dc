"""Surface normals from a depth hint, coloured as the normal (BAE) ControlNet expects.

Input depth follows the hint convention (near = white). The surface is taken as a height field
z = depth × relief toward the camera, so the normal is (-dz/dx, -dz/dy, 1) in a frame with x right,
y down. Colours: red = how much the normal points left, green = up, blue = toward the camera, each
mapped from [-1, 1] to [0, 1]; a flat surface facing the camera is (0.5, 0.5, 1.0).
"""

from __future__ import annotations

import numpy as np


def normals_from_depth(depth: np.ndarray, *, relief: float = 0.5, background: float = 0.0) -> np.ndarray:
    """Unit normals (H, W, 3) as (left, up, toward camera) components.

    ``relief``: the full depth range spans this fraction of the short side, in pixels, so the slopes
    do not depend on the image size. Pixels with depth at or below ``background`` face the camera."""
    import cv2

    d = depth.astype(np.float32) * (relief * min(depth.shape[:2]))
    dzdx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    dzdy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    # Normal (x right, y down, z to camera) = (-dzdx, -dzdy, 1); left = -x, up = -y.
    n = np.stack([dzdx, dzdy, np.ones_like(d)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    if background > 0:
        n[depth <= background] = (0.0, 0.0, 1.0)
    return n


def normal_colours(normals: np.ndarray) -> np.ndarray:
    """(left, up, toward) unit vectors → RGB in [0, 1]."""
    return np.clip(normals * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
