"""Straight line segments (the M-LSD ControlNet's hint: 1 px white lines on black), weight-free.

M-LSD itself is a learned detector; OpenCV's Fast Line Detector finds the same kind of long straight
segments without weights. FLD gives no confidence, so each segment is scored here by the mean image
gradient across it (how much of a real edge it sits on), and weak or short segments are dropped.
"""

from __future__ import annotations

import numpy as np


def detect_segments(rgb: np.ndarray, *, min_length: float = 20.0, min_score: float = 0.1,
                    merge: bool = True) -> np.ndarray:
    """Segments as an (N, 4) float32 array of x1, y1, x2, y2 in the frame's pixel coordinates."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    fld = cv2.ximgproc.createFastLineDetector(length_threshold=max(1, int(min_length)), distance_threshold=1.41421356,
                                              canny_th1=50.0, canny_th2=50.0, canny_aperture_size=3, do_merge=merge)
    found = fld.detect(gray)
    if found is None or len(found) == 0:
        return np.zeros((0, 4), np.float32)
    segs = found.reshape(-1, 4).astype(np.float32)
    lengths = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    segs = segs[lengths >= min_length]
    return segs[segment_scores(gray, segs) >= min_score]


def segment_scores(gray: np.ndarray, segs: np.ndarray, samples: int = 32) -> np.ndarray:
    """Mean gradient component across each segment (in [0, 1]: 1 = a black/white step)."""
    import cv2

    if len(segs) == 0:
        return np.zeros(0, np.float32)
    img = cv2.GaussianBlur(gray.astype(np.float32) / 255.0, (0, 0), 1.0)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=0.25)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=0.25)
    t = np.linspace(0.0, 1.0, samples, dtype=np.float32)[None, :]
    xs = segs[:, :1] + (segs[:, 2:3] - segs[:, :1]) * t
    ys = segs[:, 1:2] + (segs[:, 3:4] - segs[:, 1:2]) * t
    h, w = gray.shape
    xi = np.clip(np.rint(xs).astype(int), 0, w - 1)
    yi = np.clip(np.rint(ys).astype(int), 0, h - 1)
    d = segs[:, 2:] - segs[:, :2]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-6)
    across = np.abs(gx[yi, xi] * normal[:, :1] + gy[yi, xi] * normal[:, 1:])
    # A blurred unit step has a peak derivative of ~0.4 per px; scale so such a step scores ~1.
    return np.clip(across.mean(axis=1) / 0.4, 0.0, 1.0).astype(np.float32)


def draw_segments(segs: np.ndarray, size: tuple[int, int], scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """A float32 (H, W) canvas with each segment drawn 1 px wide in white; ``scale`` = (sx, sy) maps
    detection coordinates to the canvas (drawing at the output size keeps lines exactly 1 px)."""
    import cv2

    canvas = np.zeros(size, np.uint8)
    sx, sy = scale
    for x1, y1, x2, y2 in segs:
        p1 = (round(float(x1) * sx), round(float(y1) * sy))
        p2 = (round(float(x2) * sx), round(float(y2) * sy))
        cv2.line(canvas, p1, p2, 255, 1, lineType=cv2.LINE_8)
    return (canvas > 0).astype(np.float32)
