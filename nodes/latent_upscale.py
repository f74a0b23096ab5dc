"""Resize a latent directly (no decode/encode round trip), as hires-fix workflows do between passes."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Bool, Choice, Float, Int, Out, Wire, node

METHODS = ("nearest-exact", "bilinear", "area", "bicubic")


@node(
    "latent.upscale", title="Scale Latent", category="Latent",
    inputs=[
        Wire("latent", "LATENT[$F]"),
        Choice("mode", ["size", "factor"], "size"),
        Int("width", 1024, min=0, max=16384, step=8, tooltip="in pixels; 0 keeps the aspect ratio from the height"),
        Int("height", 1024, min=0, max=16384, step=8, tooltip="in pixels; 0 keeps the aspect ratio from the width"),
        Float("factor", 1.5, min=0.01, max=8.0, step=0.05),
        Choice("method", list(METHODS), "nearest-exact"),
        Bool("crop", False, label="centre crop", tooltip="crop to the new aspect ratio instead of stretching"),
    ],
    outputs=[Out("latent", "LATENT[$F]")],
    summary=["mode", "width", "height", "factor"],
    aliases=("LatentUpscale", "LatentUpscaleBy"),
)
def upscale(ctx: NodeContext, latent: Any, mode: str, width: int, height: int, factor: float, method: str,
            crop: bool) -> Any:
    """Resize the latent to a pixel size (a multiple of 8) or by a factor. Sample the result again with
    denoise below 1 to add detail at the new size."""
    import torch.nn.functional as F

    from studio.diffusion.values import Latent

    samples = latent.samples
    h, w = samples.shape[-2:]
    if mode == "factor":
        th, tw = round(h * factor), round(w * factor)
    else:
        if width == 0 and height == 0:
            raise NodeFailure("width and height cannot both be 0")
        tw = width // 8 if width else round(w * height / 8 / h)
        th = height // 8 if height else round(h * width / 8 / w)
    tw, th = max(1, tw), max(1, th)
    if tw * th > 2048 * 2048:
        raise NodeFailure(f"{tw * 8}×{th * 8} is too large")
    if crop and (tw, th) != (w, h):
        # Keep the centre region with the target's aspect ratio, then resize it.
        if w * th > h * tw:
            keep = max(1, round(h * tw / th))
            x0 = (w - keep) // 2
            samples = samples[..., :, x0:x0 + keep]
        else:
            keep = max(1, round(w * th / tw))
            y0 = (h - keep) // 2
            samples = samples[..., y0:y0 + keep, :]
    mask = latent.noise_mask
    if mask is not None and crop and (tw, th) != (w, h):
        ctx.warn("the latent's noise mask is dropped: it is not cropped with the latent")
        mask = None
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    out = F.interpolate(samples.float(), size=(th, tw), mode=method, **kwargs).to(samples.dtype)
    # A noise mask covers the whole latent at any size (the sampler resizes it), so it stays, as in
    # ComfyUI: an upscaled inpainting latent keeps repainting only its masked part.
    return Latent(family=latent.family, samples=out, noise_mask=mask)
