"""Blend two images with a layer mode (normal, multiply, screen, overlay, soft light, difference)."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image, match_batches
from studio.core.nodetype import Choice, Float, Out, Wire, node

MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")


def blend_layers(base: np.ndarray, top: np.ndarray, mode: str) -> np.ndarray:
    """``top`` laid over ``base`` in ``mode``, before mixing by the factor (values may leave [0, 1])."""
    if mode == "normal":
        return top
    if mode == "multiply":
        return base * top
    if mode == "screen":
        return 1.0 - (1.0 - base) * (1.0 - top)
    if mode == "overlay":  # multiply in the base's darks, screen in its lights
        return np.where(base <= 0.5, 2.0 * base * top, 1.0 - 2.0 * (1.0 - base) * (1.0 - top))
    if mode == "soft_light":  # the W3C soft-light formula
        lift = np.where(base <= 0.25, ((16.0 * base - 12.0) * base + 4.0) * base, np.sqrt(np.maximum(base, 0.0)))
        return np.where(top <= 0.5, base - (1.0 - 2.0 * top) * base * (1.0 - base), base + (2.0 * top - 1.0) * (lift - base))
    if mode == "difference":  # signed, then clipped: where the top is brighter the result is black
        return base - top
    raise NodeFailure(f"unknown blend mode {mode!r}")


def fit_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop ``image`` to the aspect of (height, width), then resize it there (bicubic)."""
    import cv2

    h, w = image.shape[1:3]
    if (h, w) == (height, width):
        return image
    if w * height > h * width:  # too wide: keep the middle columns
        keep = max(1, round(h * width / height))
        x0 = (w - keep) // 2
        image = image[:, :, x0:x0 + keep]
    else:
        keep = max(1, round(w * height / width))
        y0 = (h - keep) // 2
        image = image[:, y0:y0 + keep]
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in image]).astype(np.float32)


@node(
    "image.blend", title="Blend Images", category="Image",
    inputs=[
        Wire("image1", "IMAGE", label="base"),
        Wire("image2", "IMAGE", label="top", tooltip="cropped to the base's shape and resized to its size if they differ"),
        Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01, widget="slider", label="factor",
              tooltip="0 = the base alone, 1 = the blended layers alone"),
        Choice("blend_mode", MODES, "normal", label="mode"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["blend_mode", "blend_factor"],
    aliases=("ImageBlend",),
)
def blend(ctx: NodeContext, image1: np.ndarray, image2: np.ndarray, blend_factor: float, blend_mode: str) -> np.ndarray:
    """Lay the top image over the base in the chosen mode and mix the result with the base by the factor."""
    try:
        base, top = check_image(image1, "image1"), check_image(image2, "image2")
        top = fit_to(top, base.shape[1], base.shape[2])
        base, top = match_batches(base, top)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    ctx.check_cancel()
    mixed = base * (1.0 - blend_factor) + blend_layers(base, top, blend_mode) * blend_factor
    return np.clip(mixed, 0.0, 1.0).astype(np.float32)
