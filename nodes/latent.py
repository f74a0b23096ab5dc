"""Latent images: empty canvases, and VAE encode/decode between IMAGE and LATENT."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Int, Out, Wire, node


def _round8(value: int) -> int:
    return max(8, int(round(value / 8)) * 8)


@node(
    "latent.empty", title="Empty Latent", category="Latent",
    inputs=[Int("width", 512, min=8, max=8192, step=8), Int("height", 512, min=8, max=8192, step=8),
            Int("batch", 1, min=1, max=64)],
    outputs=[Out("latent", "LATENT")],
    aliases=("EmptyLatentImage",),
)
def empty(ctx: NodeContext, width: int, height: int, batch: int) -> Any:
    """An all-zero latent for text-to-image: the sampler starts from pure noise of this size.
    Its family is left open ("any"): SD 1.x, 2.x and SDXL share the same 4-channel latent at 1/8 of the
    pixel size, so the model it is sampled with decides. Sizes are rounded to multiples of 8."""
    import torch

    from studio.diffusion.values import Latent

    w, h = _round8(width), _round8(height)
    if (w, h) != (width, height):
        ctx.warn(f"{width}×{height} is not a multiple of 8; using {w}×{h}")
    return Latent(family="any", samples=torch.zeros((batch, 4, h // 8, w // 8), dtype=torch.float32))


@node(
    "latent.vae_encode", title="VAE Encode", category="Latent",
    inputs=[Wire("vae", "VAE[$F]"), Wire("image", "IMAGE")],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("VAEEncode",),
)
def vae_encode(ctx: NodeContext, vae: Any, image: Any) -> Any:
    """Encode an image into the model's latent space (for image-to-image: sample it with denoise < 1).
    The image is centre-cropped to a multiple of 8 pixels."""
    from studio.diffusion.vae import encode

    try:
        image = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    h, w = image.shape[1:3]
    if h % 8 or w % 8:
        ctx.warn(f"{w}×{h} is not a multiple of 8; the image is centre-cropped to {w - w % 8}×{h - h % 8}")
    return encode(vae, image)


@node(
    "latent.vae_decode", title="VAE Decode", category="Latent",
    inputs=[Wire("vae", "VAE[$F]"), Wire("latent", "LATENT[$F]")],
    outputs=[Out("image", "IMAGE")],
    aliases=("VAEDecode",),
)
def vae_decode(ctx: NodeContext, vae: Any, latent: Any) -> np.ndarray:
    """Decode a latent into an image. SD 1.x and SD 2.x latents share one latent space: either VAE
    decodes either."""
    from studio.diffusion.vae import decode

    return decode(vae, latent)
