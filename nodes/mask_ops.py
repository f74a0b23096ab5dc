"""Masks from a channel of an image file, and cropping masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_mask
from studio.core.nodetype import Choice, File, Int, Out, Wire, node

from .image import _decode, _image_check, _image_fingerprint

CHANNELS = ("alpha", "red", "green", "blue")
MAX_SIZE = 16384


def channel_mask(im: Any, channel: str) -> np.ndarray:
    """One channel of a PIL image as (H, W) float32 in [0, 1]; the alpha channel inverted (1 where the
    picture is transparent). A picture without alpha counts as opaque; 16-bit grey is brought to 8 bits
    first."""
    if channel not in CHANNELS:
        raise NodeFailure(f"unknown channel {channel!r}")
    if im.mode != "RGBA":
        if im.mode == "I":
            im = im.point(lambda v: v * (1 / 255))
        im = im.convert("RGBA")
    band = np.asarray(im.getchannel(channel[0].upper()), np.float32) / 255.0
    return (1.0 - band) if channel == "alpha" else band


@node(
    "image.load_mask", title="Load Image as Mask", category="Mask",
    inputs=[File("image", "", file_kind="image", tooltip="relative names are looked up next to the workflow, "
                                                          "then in the input folder"),
            Choice("channel", CHANNELS, "alpha",
                   tooltip="the channel that becomes the mask; alpha is inverted (transparent = 1)")],
    outputs=[Out("mask", "MASK")],
    fingerprint=lambda params, services: [*_image_fingerprint({"image": params.get("image", "")}, services),
                                          params.get("channel")],
    check=lambda params, services: _image_check({"image": params.get("image")}, services),
    aliases=("LoadImageMask",),
)
def load_mask(ctx: NodeContext, image: str, channel: str) -> np.ndarray:
    """A mask from one channel of an image file, turned upright by its EXIF orientation: the alpha
    channel gives 1 where the picture is transparent (0 everywhere for a picture without
    transparency); red, green or blue give their brightness."""
    path = ctx.resolve_file(image, "image")
    return _decode(path, "image", lambda im: channel_mask(im, channel))[None].astype(np.float32)


@node(
    "mask.crop", title="Crop Mask", category="Mask",
    inputs=[Wire("mask", "MASK"),
            Int("x", 0, min=0, max=MAX_SIZE), Int("y", 0, min=0, max=MAX_SIZE),
            Int("width", 512, min=1, max=MAX_SIZE), Int("height", 512, min=1, max=MAX_SIZE)],
    outputs=[Out("mask", "MASK")],
    summary=["x", "y", "width", "height"],
    aliases=("CropMask",),
)
def crop_mask(ctx: NodeContext, mask: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Cut a rectangle out of the mask (pixels); a rectangle past the mask's edge stops there."""
    try:
        m = check_mask(mask)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    out = m[:, y:y + height, x:x + width]
    if 0 in out.shape:
        raise NodeFailure(f"({x}, {y}) lies outside the {m.shape[2]}×{m.shape[1]} mask")
    if out.shape[1:] != (height, width):
        ctx.warn(f"the crop stops at the mask's edge: {out.shape[2]}×{out.shape[1]}")
    return np.ascontiguousarray(out)
