"""Latent editing for inpainting and compositing: noise masks, pasting one latent into another, picking
frames from a batch, and encoding an image with its masked area blanked out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image, check_mask, mask_overlay, match_batches, resize_mask
from studio.core.nodetype import Int, Out, Wire, node

from .mask import grow_frame

CELL = 8  # pixels per latent cell
NEUTRAL = 0.5  # the grey masked pixels become before encoding
MAX_PIXELS = 16384


def _latent(value: Any, what: str = "latent") -> Any:
    if not hasattr(value, "samples") or not hasattr(value, "family"):
        raise NodeFailure(f"{what} is a {type(value).__name__}, not a LATENT")
    return value


def _mask(value: object) -> np.ndarray:
    try:
        return check_mask(value)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None


@node(
    "latent.set_noise_mask", title="Set Latent Noise Mask", category="Latent",
    inputs=[Wire("latent", "LATENT[$F]"), Wire("mask", "MASK")],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("SetLatentNoiseMask",),
)
def set_noise_mask(ctx: NodeContext, latent: Any, mask: np.ndarray) -> Any:
    """Limit sampling to the masked area: the sampler repaints where the mask is 1 and keeps the
    latent where it is 0 (soft values blend). Use it with a denoise below 1 to rework part of an
    encoded image; the mask is stretched to the latent's size."""
    import torch

    from studio.diffusion.values import Latent

    latent = _latent(latent)
    m = _mask(mask)
    b, _, h, w = latent.samples.shape
    if len(m) not in (1, b):
        raise NodeFailure(f"a batch of {len(m)} masks does not fit a latent batch of {b}")
    if abs(m.shape[1] * w - m.shape[2] * h) > max(h, w) * CELL:  # another aspect ratio, not just rounding
        ctx.warn(f"the mask ({m.shape[2]}×{m.shape[1]}) is stretched to the latent's {w * CELL}×{h * CELL}")
    return Latent(family=latent.family, samples=latent.samples, noise_mask=torch.from_numpy(m.copy()))


def _ramp(n: int, feather: int) -> Any:
    """Weights 1/feather, 2/feather, … up to 1, over ``n`` cells from an edge inwards."""
    import torch

    return torch.clamp((torch.arange(n, dtype=torch.float32) + 1) / feather, max=1.0)


def composite_samples(destination: Any, source: Any, x: int, y: int, feather: int) -> Any:
    """``source`` (B, C, h, w) pasted into a copy of ``destination`` (B, C, H, W) at cell (x, y); where
    ``feather`` > 0, its edges inside the destination blend in over that many cells (the weight
    ``(t + 1) / feather`` at cell t from the edge; edges on the destination's border stay hard)."""
    import torch

    n = max(destination.shape[0], source.shape[0])
    if {destination.shape[0], source.shape[0]} - {1, n}:
        raise NodeFailure(f"latent batches of {destination.shape[0]} and {source.shape[0]} do not fit together")
    out = destination.expand(n, *destination.shape[1:]).clone()
    big_h, big_w = out.shape[-2:]
    if x >= big_w or y >= big_h:
        return out
    src = source[..., :big_h - y, :big_w - x].to(out.dtype)
    h, w = src.shape[-2:]
    weight = torch.ones((h, w), dtype=out.dtype)
    if feather > 0:
        wy, wx = torch.ones(h), torch.ones(w)
        if y > 0:
            wy = wy * _ramp(h, feather)
        if y + h < big_h:
            wy = wy * _ramp(h, feather).flip(0)
        if x > 0:
            wx = wx * _ramp(w, feather)
        if x + w < big_w:
            wx = wx * _ramp(w, feather).flip(0)
        weight = (wy[:, None] * wx[None, :]).to(out.dtype)
    region = out[..., y:y + h, x:x + w]
    out[..., y:y + h, x:x + w] = src * weight + region * (1 - weight)
    return out


@node(
    "latent.composite", title="Latent Composite", category="Latent",
    inputs=[
        Wire("destination", "LATENT[$F]"), Wire("source", "LATENT[$F]"),
        Int("x", 0, min=0, max=MAX_PIXELS, step=8, tooltip="left edge of the pasted latent, in pixels"),
        Int("y", 0, min=0, max=MAX_PIXELS, step=8, tooltip="top edge of the pasted latent, in pixels"),
        Int("feather", 0, min=0, max=MAX_PIXELS, step=8,
            tooltip="width in pixels of the blend at the pasted latent's edges"),
    ],
    outputs=[Out("latent", "LATENT[$F]")],
    summary=["x", "y", "feather"],
    aliases=("LatentComposite",),
)
def composite(ctx: NodeContext, destination: Any, source: Any, x: int, y: int, feather: int) -> Any:
    """Paste one latent into another at a position, e.g. to sample a detail separately and put it back.
    Positions and feather are in pixels and work in whole latent cells of 8 pixels (rounded down).
    Feathering fades the pasted latent's rim into the destination; sides that lie on the
    destination's border stay sharp. The destination's noise mask, if any, is kept."""
    from studio.diffusion.values import Latent

    dest, src = _latent(destination, "destination"), _latent(source, "source")
    if x % CELL or y % CELL or feather % CELL:
        ctx.warn(f"x, y and feather work in steps of {CELL} pixels; using "
                 f"{x - x % CELL}, {y - y % CELL} and {feather - feather % CELL}")
    cx, cy = x // CELL, y // CELL
    big_h, big_w = dest.samples.shape[-2:]
    if cx >= big_w or cy >= big_h:
        ctx.warn(f"({x}, {y}) lies outside the {big_w * CELL}×{big_h * CELL} destination; nothing is pasted")
    samples = composite_samples(dest.samples, src.samples, cx, cy, feather // CELL)
    family = dest.family if dest.family != "any" else src.family
    return Latent(family=family, samples=samples, noise_mask=dest.noise_mask)


@node(
    "latent.from_batch", title="Latent from Batch", category="Latent",
    inputs=[Wire("latent", "LATENT[$F]"),
            Int("batch_index", 0, min=0, max=63, label="index", tooltip="the first latent to take (0 is the first)"),
            Int("length", 1, min=1, max=64, tooltip="how many latents to take")],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("LatentFromBatch",),
)
def from_batch(ctx: NodeContext, latent: Any, batch_index: int, length: int) -> Any:
    """Take some latents out of a batch, e.g. to refine just the one you like. An index past the end
    takes the last one; the length stops at the end of the batch."""
    from studio.diffusion.values import Latent

    latent = _latent(latent)
    total = latent.samples.shape[0]
    start = min(batch_index, total - 1)
    count = min(length, total - start)
    if (start, count) != (batch_index, length):
        ctx.warn(f"the batch holds {total}; taking {count} from index {start}")
    samples = latent.samples[start:start + count].clone()
    noise_mask = latent.noise_mask
    if noise_mask is not None and noise_mask.shape[0] > 1:
        # A mask batch shorter than the latents repeats over them, as the sampler reads it.
        noise_mask = noise_mask[[i % noise_mask.shape[0] for i in range(start, start + count)]]
    return Latent(family=latent.family, samples=samples, noise_mask=noise_mask)


def _crop8(array: np.ndarray) -> np.ndarray:
    """Centre-crop (B, H, W, ...) to multiples of 8, as the VAE encoder does."""
    h, w = array.shape[1:3]
    nh, nw = h - h % CELL, w - w % CELL
    top, left = (h - nh) // 2, (w - nw) // 2
    return array[:, top:top + nh, left:left + nw]


def image_and_mask_for_vae(ctx: NodeContext, pixels: Any, mask: Any,
                           stretch: Callable[[np.ndarray, int, int], np.ndarray] = resize_mask
                           ) -> tuple[np.ndarray, np.ndarray]:
    """An IMAGE and a MASK made ready to encode together: the mask stretched to the image (with a
    warning; ``stretch`` says how), batches matched, both centre-cropped to a multiple of 8 pixels."""
    try:
        image = check_image(pixels)
        m = check_mask(mask)
        h, w = image.shape[1:3]
        if m.shape[1:] != (h, w):
            ctx.warn(f"the mask ({m.shape[2]}×{m.shape[1]}) is stretched to the image's {w}×{h}")
            m = stretch(m, h, w)
        image, m = match_batches(image, m)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    if h < CELL or w < CELL:
        raise NodeFailure(f"the image ({w}×{h}) is smaller than {CELL} pixels")
    if h % CELL or w % CELL:
        ctx.warn(f"{w}×{h} is not a multiple of 8; the image is centre-cropped to {w - w % CELL}×{h - h % CELL}")
    return _crop8(image), np.ascontiguousarray(_crop8(m))


@node(
    "latent.vae_encode_inpaint", title="VAE Encode for Inpainting", category="Latent",
    inputs=[Wire("vae", "VAE[$F]"), Wire("pixels", "IMAGE", label="image"), Wire("mask", "MASK"),
            Int("grow_mask_by", 6, min=0, max=64, label="grow mask by",
                tooltip="width in pixels of the round brush that widens the repainted area around the mask "
                        "(6 widens it by 3 pixels each way)")],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("VAEEncodeForInpaint",),
)
def vae_encode_inpaint(ctx: NodeContext, vae: Any, pixels: np.ndarray, mask: np.ndarray, grow_mask_by: int) -> Any:
    """Encode an image for inpainting with an inpainting model (or a full denoise): the masked area is
    blanked to neutral grey first, so nothing of it survives, and the latent carries the mask, widened
    a little so the seam is repainted too, as its noise mask. Sample it with denoise 1. The mask counts
    as 1 where it is above 0.5; the image is centre-cropped to a multiple of 8 pixels."""
    import torch

    from studio.diffusion.vae import encode

    image, m = image_and_mask_for_vae(ctx, pixels, mask)
    hard = m > 0.5
    grown = np.stack([grow_frame(f.astype(np.float32), grow_mask_by // 2, ctx.check_cancel) for f in hard])
    blanked = np.where(hard[..., None], np.float32(NEUTRAL), image).astype(np.float32)
    latent = encode(vae, blanked)
    ctx.preview(mask_overlay(image, grown), -1)
    return replace(latent, noise_mask=torch.from_numpy(np.ascontiguousarray(grown)))
