"""Arithmetic and geometry on latents: adding, subtracting, scaling, interpolating and blending two
latents, flipping, rotating, cropping, batching and pasting one into another through a mask.

Where two latents of different sizes meet, the second is centre-cropped to the first's shape and
resized to its size; a batch of another length is repeated (or cut) to the first's length."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Bool, Choice, Float, Int, Out, Wire, node

from .latent_ops import CELL, MAX_PIXELS, _latent, _mask

_L = "LATENT[$F]"


def fit_size(samples: Any, height: int, width: int, mode: str = "bilinear") -> Any:
    """(B, C, h, w) → (B, C, height, width): the middle of ``samples`` with the target's aspect ratio,
    resized with ``mode`` (torch's interpolation, corners not aligned)."""
    import torch

    h, w = samples.shape[-2:]
    if (h, w) == (height, width):
        return samples
    old, new = w / h, width / height
    x = round((w - w * new / old) / 2) if old > new else 0
    y = round((h - h * old / new) / 2) if old < new else 0
    middle = samples[..., y:h - y, x:w - x]
    return torch.nn.functional.interpolate(middle.float(), size=(height, width), mode=mode).to(samples.dtype)


def repeat_batch(samples: Any, n: int) -> Any:
    """``samples`` repeated (or cut) along the batch to exactly ``n`` rows."""
    b = samples.shape[0]
    if b == n:
        return samples
    reps = -(-n // b)
    return samples.repeat(reps, *([1] * (samples.dim() - 1)))[:n]


def _second_like(first: Any, second: Any, mode: str = "bilinear") -> Any:
    s = fit_size(second, first.shape[-2], first.shape[-1], mode)
    return repeat_batch(s, first.shape[0]).to(first.dtype)


def _family(a: Any, b: Any) -> str:
    return str(a.family if a.family != "any" else b.family)


def _like(first: Any, samples: Any, family: str | None = None) -> Any:
    """A latent like ``first`` (its noise mask kept) holding ``samples``."""
    from studio.diffusion.values import Latent

    return Latent(family=family or first.family, samples=samples, noise_mask=first.noise_mask)


def _pair(samples1: Any, samples2: Any) -> tuple[Any, Any]:
    return _latent(samples1, "samples1"), _latent(samples2, "samples2")


@node(
    "latent.add", title="Add Latents", category="Latent",
    inputs=[Wire("samples1", _L, label="latent 1"), Wire("samples2", _L, label="latent 2")],
    outputs=[Out("latent", _L)],
    aliases=("LatentAdd",),
)
def add(ctx: NodeContext, samples1: Any, samples2: Any) -> Any:
    """Latent 1 + latent 2, cell by cell. Latent 2 is fitted to latent 1's size and batch; latent 1's
    noise mask is kept."""
    a, b = _pair(samples1, samples2)
    return _like(a, a.samples + _second_like(a.samples, b.samples), _family(a, b))


@node(
    "latent.subtract", title="Subtract Latents", category="Latent",
    inputs=[Wire("samples1", _L, label="latent 1"), Wire("samples2", _L, label="latent 2")],
    outputs=[Out("latent", _L)],
    aliases=("LatentSubtract",),
)
def subtract(ctx: NodeContext, samples1: Any, samples2: Any) -> Any:
    """Latent 1 − latent 2, cell by cell. Latent 2 is fitted to latent 1's size and batch; latent 1's
    noise mask is kept."""
    a, b = _pair(samples1, samples2)
    return _like(a, a.samples - _second_like(a.samples, b.samples), _family(a, b))


@node(
    "latent.multiply", title="Multiply Latent", category="Latent",
    inputs=[Wire("samples", _L, label="latent"),
            Float("multiplier", 1.0, min=-10.0, max=10.0, step=0.01)],
    outputs=[Out("latent", _L)],
    summary=["multiplier"],
    aliases=("LatentMultiply",),
)
def multiply(ctx: NodeContext, samples: Any, multiplier: float) -> Any:
    """Scale every value of the latent by the multiplier."""
    a = _latent(samples, "samples")
    return _like(a, a.samples * float(multiplier))


def interpolate_samples(s1: Any, s2: Any, ratio: float) -> Any:
    """Mix two latents by direction and length separately: at each cell the channel vectors are
    normalised, mixed by ``ratio`` (1 = the first), renormalised, and given the mixed length."""
    import torch

    m1 = torch.linalg.vector_norm(s1, dim=1, keepdim=True)
    m2 = torch.linalg.vector_norm(s2, dim=1, keepdim=True)
    mixed = torch.nan_to_num(s1 / m1) * ratio + torch.nan_to_num(s2 / m2) * (1.0 - ratio)
    direction = torch.nan_to_num(mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True))
    return direction * (m1 * ratio + m2 * (1.0 - ratio))


@node(
    "latent.interpolate", title="Interpolate Latents", category="Latent",
    inputs=[Wire("samples1", _L, label="latent 1"), Wire("samples2", _L, label="latent 2"),
            Float("ratio", 1.0, min=0.0, max=1.0, step=0.01, widget="slider",
                  tooltip="1 = latent 1 alone, 0 = latent 2 alone")],
    outputs=[Out("latent", _L)],
    summary=["ratio"],
    aliases=("LatentInterpolate",),
)
def interpolate(ctx: NodeContext, samples1: Any, samples2: Any, ratio: float) -> Any:
    """Interpolate two latents keeping their magnitude: at each cell the directions of the two channel
    vectors are mixed by the ratio, and the result gets the lengths mixed by the same ratio."""
    a, b = _pair(samples1, samples2)
    out = interpolate_samples(a.samples.float(), _second_like(a.samples, b.samples).float(), float(ratio))
    return _like(a, out.to(a.samples.dtype), _family(a, b))


@node(
    "latent.blend", title="Blend Latents", category="Latent",
    inputs=[Wire("samples1", _L, label="latent 1"), Wire("samples2", _L, label="latent 2"),
            Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01, widget="slider", label="factor",
                  tooltip="the share of latent 1: 1 = latent 1 alone, 0 = latent 2 alone")],
    outputs=[Out("latent", _L)],
    summary=["blend_factor"],
    aliases=("LatentBlend",),
)
def blend(ctx: NodeContext, samples1: Any, samples2: Any, blend_factor: float) -> Any:
    """latent 1 · factor + latent 2 · (1 − factor). Latent 2 of another size is centre-cropped to
    latent 1's shape and resized (bicubic)."""
    a, b = _pair(samples1, samples2)
    s2 = fit_size(b.samples, a.samples.shape[-2], a.samples.shape[-1], "bicubic")
    if s2.shape[0] != a.samples.shape[0] and s2.shape[0] != 1 and a.samples.shape[0] != 1:
        raise NodeFailure(f"latent batches of {a.samples.shape[0]} and {s2.shape[0]} do not fit together")
    f = float(blend_factor)
    return _like(a, a.samples * f + s2.to(a.samples.dtype) * (1.0 - f), _family(a, b))


FLIPS = ("x-axis: vertically", "y-axis: horizontally")


@node(
    "latent.flip", title="Flip Latent", category="Latent",
    inputs=[Wire("samples", _L, label="latent"), Choice("flip_method", FLIPS, FLIPS[0], label="flip")],
    outputs=[Out("latent", _L)],
    summary=["flip_method"],
    aliases=("LatentFlip",),
)
def flip(ctx: NodeContext, samples: Any, flip_method: str) -> Any:
    """Mirror the latent: upside down (about the x-axis) or left to right (about the y-axis)."""
    a = _latent(samples, "samples")
    if flip_method not in FLIPS:
        raise NodeFailure(f"unknown flip {flip_method!r}")
    return _like(a, a.samples.flip(2 if flip_method == FLIPS[0] else 3))


ROTATIONS = ("none", "90 degrees", "180 degrees", "270 degrees")


@node(
    "latent.rotate", title="Rotate Latent", category="Latent",
    inputs=[Wire("samples", _L, label="latent"), Choice("rotation", ROTATIONS, "none")],
    outputs=[Out("latent", _L)],
    summary=["rotation"],
    aliases=("LatentRotate",),
)
def rotate(ctx: NodeContext, samples: Any, rotation: str) -> Any:
    """Turn the latent clockwise by a quarter, half or three quarters."""
    a = _latent(samples, "samples")
    if rotation not in ROTATIONS:
        raise NodeFailure(f"unknown rotation {rotation!r}")
    quarters = ROTATIONS.index(rotation)
    return _like(a, a.samples.rot90(-quarters, dims=(2, 3)) if quarters else a.samples)


@node(
    "latent.crop", title="Crop Latent", category="Latent",
    inputs=[Wire("samples", _L, label="latent"),
            Int("width", 512, min=64, max=MAX_PIXELS, step=8), Int("height", 512, min=64, max=MAX_PIXELS, step=8),
            Int("x", 0, min=0, max=MAX_PIXELS, step=8), Int("y", 0, min=0, max=MAX_PIXELS, step=8)],
    outputs=[Out("latent", _L)],
    summary=["width", "height", "x", "y"],
    aliases=("LatentCrop",),
)
def crop(ctx: NodeContext, samples: Any, width: int, height: int, x: int, y: int) -> Any:
    """Cut a rectangle out of the latent; sizes and positions are in pixels, in whole cells of 8
    (rounded down). The left and top sides are pulled in so that at least 64 pixels remain; a
    rectangle past the latent's edge stops there. A noise mask is kept as it is."""
    a = _latent(samples, "samples")
    h, w = a.samples.shape[-2:]
    cx, cy = min(x // CELL, w - CELL), min(y // CELL, h - CELL)
    cx, cy = max(cx, 0), max(cy, 0)
    out = a.samples[:, :, cy:cy + height // CELL, cx:cx + width // CELL]
    if out.shape[-1] * CELL != width or out.shape[-2] * CELL != height or (cx, cy) != (x // CELL, y // CELL):
        ctx.warn(f"cropped {out.shape[-1] * CELL}×{out.shape[-2] * CELL} at ({cx * CELL}, {cy * CELL})")
    return _like(a, out.clone())


@node(
    "latent.batch", title="Batch Latents", category="Latent",
    inputs=[Wire("samples1", _L, label="latent 1"), Wire("samples2", _L, label="latent 2")],
    outputs=[Out("latent", _L)],
    aliases=("LatentBatch",),
)
def batch(ctx: NodeContext, samples1: Any, samples2: Any) -> Any:
    """One batch: latent 1's latents, then latent 2's (centre-cropped to latent 1's shape and resized,
    bilinear, if its size differs). Latent 1's noise mask is kept."""
    import torch

    a, b = _pair(samples1, samples2)
    s2 = fit_size(b.samples, a.samples.shape[-2], a.samples.shape[-1]).to(a.samples.dtype)
    return _like(a, torch.cat([a.samples, s2]), _family(a, b))


def composite_masked_samples(destination: Any, source: Any, x: int, y: int, mask: Any | None,
                             resize_source: bool, cell: int) -> Any:
    """``source`` (B, C, h, w) pasted into a copy of ``destination`` (B, C, H, W) at pixel (x, y) ≥ 0
    (in whole steps of ``cell``), through ``mask`` (B, H', W') resized bilinearly to the source."""
    import torch

    out = destination.clone()
    big_h, big_w = out.shape[-2:]
    if resize_source:
        source = torch.nn.functional.interpolate(source.float(), size=(big_h, big_w), mode="bilinear")
    source = repeat_batch(source.to(out.dtype), out.shape[0])
    h, w = source.shape[-2:]
    left, top = min(x, big_w * cell) // cell, min(y, big_h * cell) // cell
    if mask is None:
        weight = torch.ones_like(source)
    else:
        m = torch.as_tensor(mask, dtype=torch.float32)
        m = m.reshape(-1, 1, m.shape[-2], m.shape[-1])
        weight = repeat_batch(torch.nn.functional.interpolate(m, size=(h, w), mode="bilinear"), source.shape[0])
        weight = weight.to(out.dtype)
    vis_h, vis_w = min(h, big_h - top), min(w, big_w - left)
    if vis_h <= 0 or vis_w <= 0:
        return out
    weight = weight[..., :vis_h, :vis_w]
    region = out[..., top:top + vis_h, left:left + vis_w]
    out[..., top:top + vis_h, left:left + vis_w] = weight * source[..., :vis_h, :vis_w] + (1 - weight) * region
    return out


@node(
    "latent.composite_masked", title="Latent Composite (Masked)", category="Latent",
    inputs=[
        Wire("destination", _L), Wire("source", _L),
        Wire("mask", "MASK", optional=True, tooltip="where the source shows (1); stretched to the source's size"),
        Int("x", 0, min=0, max=MAX_PIXELS, step=8, tooltip="left edge of the pasted latent, in pixels"),
        Int("y", 0, min=0, max=MAX_PIXELS, step=8, tooltip="top edge of the pasted latent, in pixels"),
        Bool("resize_source", False, tooltip="stretch the source to the destination's size first"),
    ],
    outputs=[Out("latent", _L)],
    summary=["x", "y"],
    aliases=("LatentCompositeMasked",),
)
def composite_masked(ctx: NodeContext, destination: Any, source: Any, mask: Any | None, x: int, y: int,
                     resize_source: bool) -> Any:
    """Paste one latent into another at a position (pixels, in whole cells of 8), showing it only where
    the mask is set (soft values blend). The destination's batch size and noise mask are kept."""
    dest, src = _latent(destination, "destination"), _latent(source, "source")
    m = None if mask is None else _mask(mask)
    samples = composite_masked_samples(dest.samples, src.samples, x, y, m, resize_source, CELL)
    return _like(dest, samples, _family(dest, src))
