"""Weight-free edge hints: soft edge, lineart and scribble (uint8 RGB in, float32 (H, W) in [0, 1] out).

The soft-edge ControlNet was trained on HED / PiDiNet maps. Those are learned networks whose weights
are a separate download; this module gives a classical stand-in that needs none: gradient magnitude
of the colour image at several blur scales, combined and passed through a soft curve, which gives
the same kind of hint (thick, grey-level, white-on-black outlines that fade with contrast).
"""

from __future__ import annotations

import numpy as np

SOFT_EDGE_SCALES = (1.0, 2.0, 4.0)


def gradient_magnitude(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Largest per-channel Sobel gradient magnitude after a Gaussian blur of ``sigma`` px (float32)."""
    import cv2

    img: np.ndarray = rgb.astype(np.float32) / 255.0
    if sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=0.25)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=0.25)
    mag = np.sqrt(gx * gx + gy * gy)
    # Multiply by sigma so a step edge gives a similar peak at every scale (scale-normalised derivative).
    return (mag.max(axis=-1) if mag.ndim == 3 else mag) * max(sigma, 1.0)


def soft_edge(rgb: np.ndarray, *, scales: tuple[float, ...] = SOFT_EDGE_SCALES, contrast: float = 1.0) -> np.ndarray:
    """A soft edge map in [0, 1]: mean of the scale-normalised gradient at each scale, mapped through
    ``1 - exp(-x / ref)`` where ``ref`` is a high percentile, so strong outlines saturate and texture fades."""
    mags = [gradient_magnitude(rgb, s) for s in scales]
    combined = np.mean(mags, axis=0)
    ref = float(np.percentile(combined, 97)) + 1e-6
    edge = 1.0 - np.exp(-combined * contrast / ref)
    return np.clip(edge / (1.0 - np.exp(-contrast * 2.0)), 0.0, 1.0).astype(np.float32)


def lineart(rgb: np.ndarray, *, line_width: float = 1.5, strength: float = 6.0) -> np.ndarray:
    """White lines on black where the photo has thin dark strokes and dark sides of edges.

    The lineart annotators are learned; this is the classical "pencil sketch" idea instead: how much
    darker each pixel is than its blurred surroundings (a one-sided difference of Gaussians)."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    fine = cv2.GaussianBlur(gray, (0, 0), 0.5) if line_width > 0.5 else gray
    around = cv2.GaussianBlur(gray, (0, 0), max(line_width, 0.5) * 2.0)
    darker = np.maximum(around - fine, 0.0)
    return np.clip(darker * strength, 0.0, 1.0).astype(np.float32)


def scribble(rgb: np.ndarray, *, threshold: float = 0.5, thickness: int = 1) -> np.ndarray:
    """A binary scribble (1 = stroke): the soft edge map binarised at ``threshold``, thinned to a
    one-pixel skeleton (OpenCV's Zhang-Suen thinning plays the role of non-maximum suppression),
    small specks dropped, then dilated to ``thickness`` px."""
    import cv2

    edge = soft_edge(rgb)
    binary = (edge >= threshold).astype(np.uint8) * 255
    thin = cv2.ximgproc.thinning(binary, thinningType=cv2.ximgproc.THINNING_ZHANGSUEN)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 8  # specks are noise, not strokes
    thin = np.where(keep[labels], 255, 0).astype(np.uint8)
    if thickness > 1:
        thin = cv2.dilate(thin, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness)))
    return (thin > 0).astype(np.float32)
