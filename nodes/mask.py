"""Masks: make them from images, colours or a value; grow, feather, threshold, invert and combine them.

A MASK is float32 (B, H, W) in [0, 1]; 1 marks the area to change. Where two batches meet, a batch of
one goes with every frame of the other. Every node shows its mask in the preview pane: over the image
it came from (translucent red) where there is one, in grey otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import (
    check_image,
    check_mask,
    mask_overlay,
    mask_preview,
    match_batches,
    resize_mask,
    to_uint8,
)
from studio.core.nodetype import Choice, Float, Int, Out, Wire, node

# Rec. 601 luma, as the threshold preprocessor and OpenCV's RGB→grey use.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
CHANNELS = ("red", "green", "blue", "alpha", "luminance")
OPERATIONS = ("add", "subtract", "intersect", "union", "multiply", "difference")
MAX_SIZE = 16384
MAX_GROW = 1024
# Soft masks grow in steps of at most this radius: a disc grown by discs is a larger disc, and a few
# small kernels cost far less than one large one.
_SOFT_STEP = 16


def _mask(value: object, what: str = "mask") -> np.ndarray:
    try:
        return check_mask(value, what)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None


def _image(value: object, what: str = "image") -> np.ndarray:
    try:
        return check_image(value, what)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None


def _batches(*arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return match_batches(*arrays)
    except ValueError as exc:
        raise NodeFailure(str(exc)) from None


def _show(ctx: NodeContext, mask: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """Preview the mask (over ``image`` when there is one) and hand it back."""
    ctx.preview(mask_preview(mask) if image is None else mask_overlay(image, mask), -1)
    return mask


@node(
    "mask.from_image", title="Image to Mask", category="Mask",
    inputs=[Wire("image", "IMAGE"), Choice("channel", CHANNELS, "red",
                                           tooltip="alpha needs an image that has one (4 channels)")],
    outputs=[Out("mask", "MASK")],
    aliases=("ImageToMask",),
)
def from_image(ctx: NodeContext, image: np.ndarray, channel: str) -> np.ndarray:
    """A mask from one channel of an image: red, green, blue, its alpha, or its brightness (luminance).
    Images loaded from files are RGB here; Load Image gives their transparency on its own mask output."""
    if isinstance(image, np.ndarray) and image.ndim in (3, 4) and image.shape[-1] == 4:
        rgba = np.asarray(image if image.ndim == 4 else image[None], dtype=np.float32)
        rgb, alpha = rgba[..., :3], rgba[..., 3]
    else:
        rgb, alpha = _image(image), None
    if channel == "alpha":
        if alpha is None:
            raise NodeFailure("this image has no alpha channel; for a loaded file's transparency use the "
                              "mask output of Load Image (1 where the file is transparent)")
        mask = alpha
    elif channel == "luminance":
        mask = rgb @ _LUMA
    else:
        mask = rgb[..., CHANNELS.index(channel)]
    mask = np.ascontiguousarray(mask, dtype=np.float32)
    return _show(ctx, mask, rgb)


@node(
    "mask.from_color", title="Mask from Colour", category="Mask",
    inputs=[
        Wire("image", "IMAGE"),
        Int("red", 255, min=0, max=255), Int("green", 255, min=0, max=255), Int("blue", 255, min=0, max=255),
        Int("tolerance", 0, min=0, max=255,
            tooltip="how far each channel (0–255) may be from the colour; 0: exactly this colour"),
    ],
    outputs=[Out("mask", "MASK")],
    summary=["red", "green", "blue"],
    aliases=("ImageColorToMask",),
)
def from_color(ctx: NodeContext, image: np.ndarray, red: int, green: int, blue: int, tolerance: int) -> np.ndarray:
    """A mask of the pixels that have a given colour (each channel within the tolerance, in 0–255
    steps): 1 there, 0 elsewhere."""
    batch = _image(image)
    distance = np.abs(to_uint8(batch).astype(np.int16) - np.array([red, green, blue], np.int16)).max(axis=-1)
    return _show(ctx, (distance <= tolerance).astype(np.float32), batch)


@node(
    "mask.invert", title="Invert Mask", category="Mask",
    inputs=[Wire("mask", "MASK")],
    outputs=[Out("mask", "MASK")],
    aliases=("InvertMask",),
)
def invert(ctx: NodeContext, mask: np.ndarray) -> np.ndarray:
    """Swap the masked and the kept areas (every value becomes 1 − value)."""
    return _show(ctx, (1.0 - _mask(mask)).astype(np.float32))


def _disc(radius: int) -> np.ndarray:
    """The pixels within ``radius`` of the centre (Euclidean), as a uint8 kernel."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius).astype(np.uint8)


def _grow_binary(frame: np.ndarray, pixels: int) -> np.ndarray:
    """Exact round growth of a 0/1 mask from the distance to the nearest masked (or kept) pixel."""
    import cv2

    region = frame > 0.5 if pixels > 0 else frame < 0.5  # what spreads: the mask, or the kept area
    if not region.any() or region.all():
        return frame.copy()
    dist = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # Squared distances between pixel centres are whole numbers: compare those, not their roots.
    spread = np.rint(dist.astype(np.float64) ** 2) <= pixels * pixels
    return (spread if pixels > 0 else ~spread).astype(np.float32)


def grow_frame(frame: np.ndarray, pixels: int, check: Callable[[], None] | None = None) -> np.ndarray:
    """One (H, W) mask grown by ``pixels`` with a round brush (shrunk when negative): a pixel becomes
    the largest (smallest) value within that distance."""
    import cv2

    if pixels == 0:
        return frame.copy()
    if np.isin(frame, (0.0, 1.0)).all():
        return _grow_binary(frame, pixels)
    op = cv2.dilate if pixels > 0 else cv2.erode
    out, left = frame, abs(pixels)
    while left:
        if check is not None:
            check()
        step = min(left, _SOFT_STEP)
        out = op(out, _disc(step))
        left -= step
    return out.astype(np.float32)


@node(
    "mask.grow", title="Grow Mask", category="Mask",
    inputs=[Wire("mask", "MASK"),
            Int("pixels", 8, min=-MAX_GROW, max=MAX_GROW, tooltip="how far to grow it; negative shrinks it")],
    outputs=[Out("mask", "MASK")],
    aliases=("GrowMask",),
)
def grow(ctx: NodeContext, mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the mask outwards by a number of pixels with a round brush, or shrink it with a negative
    number. Soft masks keep their softness: each pixel takes the largest (when shrinking, the smallest)
    value within that distance."""
    frames = _mask(mask)
    out = np.stack([grow_frame(f, pixels, ctx.check_cancel) for f in frames])
    return _show(ctx, out)


def feather_frame(frame: np.ndarray, radius: int) -> np.ndarray:
    """One (H, W) mask blurred by a Gaussian that reaches ``radius`` pixels (σ = radius / 3). Pixels
    farther than that from any edge keep their value; the image border does not fade."""
    import cv2

    if radius <= 0:
        return frame.copy()
    size = 2 * radius + 1
    blurred = cv2.GaussianBlur(frame, (size, size), radius / 3.0, borderType=cv2.BORDER_REPLICATE)
    # Where the whole window holds one value, keep it exactly (the blur would round 1 to 0.99999994).
    box = np.ones((size, size), np.uint8)
    flat = cv2.erode(frame, box) == cv2.dilate(frame, box)
    return np.where(flat, frame, blurred).astype(np.float32)


@node(
    "mask.feather", title="Feather Mask", category="Mask",
    inputs=[Wire("mask", "MASK"),
            Int("radius", 8, min=0, max=512, tooltip="how far (in pixels) the soft edge reaches on each side")],
    outputs=[Out("mask", "MASK")],
    aliases=("FeatherMask",),
)
def feather(ctx: NodeContext, mask: np.ndarray, radius: int) -> np.ndarray:
    """Soften the mask's outline with a blur, so a repainted area blends into the rest. Only the
    outline changes: areas farther than the radius from it stay as they are."""
    out = []
    for frame in _mask(mask):
        ctx.check_cancel()
        out.append(feather_frame(frame, radius))
    return _show(ctx, np.clip(np.stack(out), 0.0, 1.0))


@node(
    "mask.threshold", title="Threshold Mask", category="Mask",
    inputs=[Wire("mask", "MASK"), Float("value", 0.5, min=0.0, max=1.0, step=0.01, widget="slider")],
    outputs=[Out("mask", "MASK")],
    aliases=("ThresholdMask",),
)
def threshold(ctx: NodeContext, mask: np.ndarray, value: float) -> np.ndarray:
    """A hard mask: 1 where the mask is above the value, 0 elsewhere."""
    return _show(ctx, (_mask(mask) > value).astype(np.float32))


def combine_masks(a: np.ndarray, b: np.ndarray, operation: str) -> np.ndarray:
    """Two MASK batches of one size combined value by value, clipped to [0, 1]."""
    if operation == "add":
        out = a + b
    elif operation == "subtract":
        out = a - b
    elif operation in ("intersect", "union"):
        out = np.minimum(a, b) if operation == "intersect" else np.maximum(a, b)
    elif operation == "multiply":
        out = a * b
    elif operation == "difference":
        out = np.abs(a - b)
    else:
        raise NodeFailure(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@node(
    "mask.combine", title="Combine Masks", category="Mask",
    inputs=[Wire("mask", "MASK"), Wire("other", "MASK"), Choice("operation", OPERATIONS, "add")],
    outputs=[Out("mask", "MASK")],
    aliases=("MaskComposite",),
)
def combine(ctx: NodeContext, mask: np.ndarray, other: np.ndarray, operation: str) -> np.ndarray:
    """Combine two masks: add, subtract the other, intersect (where both are), union (where either is),
    multiply, or difference (where they differ). The result has the first mask's size: the other is
    stretched to it when the sizes differ."""
    a, b = _mask(mask), _mask(other, "other mask")
    h, w = a.shape[1:]
    if b.shape[1:] != (h, w):
        ctx.warn(f"the other mask ({b.shape[2]}×{b.shape[1]}) is stretched to {w}×{h}")
        b = resize_mask(b, h, w)
    a, b = _batches(a, b)
    return _show(ctx, combine_masks(a, b, operation))


@node(
    "mask.solid", title="Solid Mask", category="Mask",
    inputs=[Float("value", 1.0, min=0.0, max=1.0, step=0.01),
            Int("width", 512, min=1, max=MAX_SIZE, step=8), Int("height", 512, min=1, max=MAX_SIZE, step=8)],
    outputs=[Out("mask", "MASK")],
    aliases=("SolidMask",),
)
def solid(ctx: NodeContext, value: float, width: int, height: int) -> np.ndarray:
    """A mask of one size with the same value everywhere (1: change everything, 0: keep everything)."""
    return _show(ctx, np.full((1, height, width), value, np.float32))


@node(
    "mask.to_image", title="Mask to Image", category="Mask",
    inputs=[Wire("mask", "MASK")],
    outputs=[Out("image", "IMAGE")],
    aliases=("MaskToImage",),
)
def to_image(ctx: NodeContext, mask: np.ndarray) -> np.ndarray:
    """A grey image of the mask: white where masked, black where kept."""
    return np.repeat(_mask(mask)[..., None], 3, axis=-1)
