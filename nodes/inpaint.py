"""Inpaint Conditioning: the image and mask an inpainting model (a 9-channel UNet) is conditioned on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import mask_overlay
from studio.core.nodetype import Bool, Out, Wire, node
from studio.core.types import latents_compatible

from .latent_ops import image_and_mask_for_vae

CELL = 8  # pixels per latent cell
NEUTRAL = 0.5  # what the masked area is blanked to: 0 in the VAE's [-1, 1] input range


def inpaint_concat(vae: Any, image: np.ndarray, mask: np.ndarray) -> Any:
    """cat([mask at latent size, masked-image latents]) as a (B, 5, h, w) float32 CPU tensor, built as
    diffusers' ``StableDiffusionInpaintPipeline`` does: the mask is binarized at 0.5, the image is
    blanked where it is 1 (``image * (mask < 0.5)`` in the VAE's [-1, 1] range) and encoded, and the mask
    is resized to the latent size with ``interpolate`` (nearest). ``image`` (B, H, W, 3) and ``mask``
    (B, H, W) are of one size, a multiple of 8. The VAE encodes with its distribution's mean, where the
    pipeline samples it (as every encode here: the same image gives the same latents)."""
    import torch
    import torch.nn.functional as F

    from studio.diffusion.vae import encode

    hard = (mask >= 0.5).astype(np.float32)
    blanked = np.where(hard[..., None] > 0, np.float32(NEUTRAL), image).astype(np.float32)
    masked = encode(vae, blanked).samples
    small = F.interpolate(torch.from_numpy(np.ascontiguousarray(hard))[:, None], size=tuple(masked.shape[-2:]))
    return torch.cat([small, masked], dim=1)


def _stretch_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A MASK batch stretched to (height, width) with ``interpolate`` (nearest), as diffusers' mask
    processor resizes a tensor mask."""
    import torch
    import torch.nn.functional as F

    m = F.interpolate(torch.from_numpy(np.ascontiguousarray(mask))[:, None], size=(height, width))
    return m[:, 0].numpy()


@node(
    "conditioning.inpaint", title="Inpaint Conditioning", category="Conditioning",
    inputs=[
        Wire("positive", "CONDITIONING[$F]"),
        Wire("negative", "CONDITIONING[$F]"),
        Wire("vae", "VAE[$F]"),
        Wire("pixels", "IMAGE", label="image"),
        Wire("mask", "MASK", tooltip="1 = repaint, 0 = keep; stretched to the image if its size differs"),
        Bool("noise_mask", True, label="noise mask",
             tooltip="also set the mask as the latent's noise mask, so the sampler keeps the unmasked area "
                     "exactly; off, an inpainting model repaints the whole image guided by the kept part, "
                     "as diffusers' inpainting pipelines do"),
    ],
    outputs=[Out("positive", "CONDITIONING[$F]"), Out("negative", "CONDITIONING[$F]"),
             Out("latent", "LATENT[$F]")],
    aliases=("InpaintModelConditioning",),
)
def inpaint_conditioning(ctx: NodeContext, positive: Any, negative: Any, vae: Any, pixels: np.ndarray,
                         mask: np.ndarray, noise_mask: bool) -> tuple[Any, Any, Any]:
    """Condition an inpainting model (SD 1.5, SD 2 or SDXL inpainting checkpoints, whose UNet takes 9
    channels) on an image and a mask: both prompts carry the mask and the latents of the image with the
    masked area blanked, and the latent output is the encoded image, to sample with any denoise. An
    ordinary model ignores the conditioning's image and inpaints through the latent's noise mask alone.
    The image is centre-cropped to a multiple of 8 pixels; the mask counts as 1 where it is 0.5 or more."""
    import torch

    from studio.diffusion.vae import encode

    for name, cond in (("positive", positive), ("negative", negative)):
        if not latents_compatible(cond.family, vae.family):
            raise NodeFailure(f"VAE[{vae.family}] does not fit the {name} CONDITIONING[{cond.family}]")
    image, m = image_and_mask_for_vae(ctx, pixels, mask, _stretch_nearest)
    m = np.clip(m, 0.0, 1.0)
    concat = inpaint_concat(vae, image, m)
    ctx.check_cancel()
    latent = encode(vae, image)
    if noise_mask:
        latent = replace(latent, noise_mask=torch.from_numpy(m))
    ctx.preview(mask_overlay(image, m), -1)
    # Every entry of a combined prompt gets the inpainting channels.
    return (positive.map_entries(lambda e: replace(e, concat=concat)),
            negative.map_entries(lambda e: replace(e, concat=concat)), latent)
