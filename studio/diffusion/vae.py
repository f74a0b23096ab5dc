"""VAE encode/decode between IMAGE arrays (B, H, W, 3) float32 in [0, 1] and LATENT values.

Latents travel in the UNet's space: ``(vae latent - shift) × scaling_factor``, or with per-channel
``latents_mean``/``latents_std`` where the VAE config has them, exactly as the diffusers pipelines
scale them before sampling and unscale them before decoding.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from studio.core.context import NodeFailure, OutOfMemory
from studio.core.types import latents_compatible

from .values import Latent, VAEModel

SCALE = 8  # pixels per latent cell for every SD 1/2/XL VAE
T = TypeVar("T")
log = logging.getLogger(__name__)


def _norm(vae: Any, like: Any) -> tuple[Any, Any, float]:
    """(mean, std, scaling) so that unet_latent = (vae_latent - mean) * scaling / std."""
    import torch

    cfg = vae.config
    scaling = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)
    mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, len(mean), 1, 1)
        return (torch.tensor(mean).view(shape).to(like.device, like.dtype),
                torch.tensor(std).view(shape).to(like.device, like.dtype), scaling)
    shift = float(getattr(cfg, "shift_factor", None) or 0.0)
    return shift, 1.0, scaling


# Set on a float16 VAE once it has produced NaN or inf: from then on it runs in float32.
OVERFLOWS_IN_FP16 = "_studio_overflows_in_fp16"


@contextmanager
def _fp32_if_needed(vae: Any) -> Iterator[None]:
    """SDXL's VAE overflows in float16 (config ``force_upcast``), and so does any VAE that has once
    given NaN or inf (``half_safe`` marks it): run those in float32 for the call."""
    import torch

    upcast = vae.dtype == torch.float16 and (bool(getattr(vae.config, "force_upcast", False))
                                             or bool(getattr(vae, OVERFLOWS_IN_FP16, False)))
    # torch's own ``to``: diffusers' override warns about fp32-kept modules even when there are none
    if upcast:
        torch.nn.Module.to(vae, torch.float32)
    try:
        yield
    finally:
        if upcast:
            torch.nn.Module.to(vae, torch.float16)


def half_safe(model: Any, run: Callable[[], T], finite: Callable[[T], bool], what: str) -> T:
    """``run()`` (which enters ``_fp32_if_needed``); when a float16 VAE gives NaN or inf, run it again
    in float32 and keep that VAE in float32 from then on, rather than hand on a black image."""
    import torch

    out = run()
    if model.dtype == torch.float16 and not getattr(model, OVERFLOWS_IN_FP16, False) and not finite(out):
        log.warning("the VAE overflowed in float16 while %s; running it in float32 from now on", what)
        setattr(model, OVERFLOWS_IN_FP16, True)
        out = run()
    return out


def _oom(exc: BaseException) -> bool:
    import torch

    # CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError "… can't allocate memory …".
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text))


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def decode(vae: VAEModel, latent: Latent) -> np.ndarray:
    """LATENT → IMAGE (B, H, W, 3) float32 in [0, 1]. A latent of a family that shares the VAE's
    latent space (sd15 and sd2) decodes too; an SDXL latent needs an SDXL VAE and the reverse."""
    import torch

    if not latents_compatible(latent.family, vae.family):
        raise NodeFailure(f"LATENT[{latent.family}] does not fit VAE[{vae.family}]")
    model = vae.vae

    def run() -> Any:
        with torch.no_grad(), _fp32_if_needed(model):
            z = latent.samples.to(device=model.device, dtype=model.dtype)
            mean, std, scaling = _norm(model, z)
            return model.decode(z * std / scaling + mean, return_dict=False)[0]

    try:
        img = half_safe(model, run, lambda t: bool(torch.isfinite(t).all()), "decoding")
    except Exception as exc:
        if _oom(exc):
            free_memory()
            h, w = latent.samples.shape[-2:]
            raise OutOfMemory(f"out of memory decoding {w * SCALE}×{h * SCALE} (batch {latent.samples.shape[0]}); "
                              "try a smaller size or batch") from None
        raise
    img = ((img.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    return img.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)


def encode(vae: VAEModel, image: np.ndarray) -> Latent:
    """IMAGE → LATENT, from the mean of the VAE's latent distribution (deterministic, no sampling).
    The image is centre-cropped to a multiple of 8 pixels first; see ``crop_to_multiple``."""
    import torch

    model = vae.vae
    image = crop_to_multiple(np.asarray(image, dtype=np.float32))

    def run() -> Any:
        with torch.no_grad(), _fp32_if_needed(model):
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
            x = (x * 2.0 - 1.0).to(device=model.device, dtype=model.dtype)
            z = model.encode(x).latent_dist.mean
            mean, std, scaling = _norm(model, z)
            return (z - mean) * scaling / std

    try:
        z = half_safe(model, run, lambda t: bool(torch.isfinite(t).all()), "encoding")
    except Exception as exc:
        if _oom(exc):
            free_memory()
            raise OutOfMemory(f"out of memory encoding a {image.shape[2]}×{image.shape[1]} image "
                              f"(batch {image.shape[0]}); try a smaller image") from None
        raise
    return Latent(family=vae.family, samples=z.float().cpu())


def crop_to_multiple(image: np.ndarray, multiple: int = SCALE) -> np.ndarray:
    """Centre-crop (B, H, W, C) so that H and W are multiples of ``multiple``."""
    h, w = image.shape[1:3]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise NodeFailure(f"the image ({w}×{h}) is smaller than {multiple} pixels")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[:, top:top + nh, left:left + nw]
