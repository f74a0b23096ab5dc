"""VAE decode and encode in overlapping tiles, for images larger than the memory allows in one piece."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Int, Out, Wire, node

_TILE = Int("tile_size", 512, min=64, max=4096, step=8,
            tooltip="Tile width and height in image pixels; halved automatically when memory runs out")
_OVERLAP = Int("overlap", 64, min=0, max=4096, step=8,
               tooltip="Pixels shared by neighbouring tiles, cross-faded to hide the tile edges "
                       "(at most a quarter of the tile)")


def _tiles(ctx: NodeContext, tile_size: int, overlap: int) -> tuple[int, int]:
    from studio.diffusion.vae_tiled import effective_overlap

    tile = max(64, tile_size // 8 * 8)
    used = effective_overlap(tile, overlap)
    if used != overlap:
        ctx.warn(f"overlap {overlap} px → {used} px (a multiple of 8, at most a quarter of the {tile}-px tile)")
    return tile, overlap


def _hooks(ctx: NodeContext) -> dict[str, Any]:
    return {"progress": ctx.progress, "check": ctx.check_cancel,
            "on_retry": lambda tile: ctx.warn(f"out of memory: retrying with {tile}-px tiles")}


@node(
    "latent.vae_decode_tiled", title="VAE Decode (Tiled)", category="Latent",
    inputs=[Wire("vae", "VAE[$F]"), Wire("latent", "LATENT[$F]"), _TILE, _OVERLAP],
    outputs=[Out("image", "IMAGE")],
    aliases=("VAEDecodeTiled",),
)
def vae_decode_tiled(ctx: NodeContext, vae: Any, latent: Any, tile_size: int, overlap: int) -> np.ndarray:
    """Decode a latent into an image tile by tile: memory depends on the tile size, not the image size.
    Neighbouring tiles overlap and cross-fade, so no seams show. A tile as large as the image gives
    exactly what VAE Decode gives."""
    from studio.diffusion.vae_tiled import decode_tiled

    tile, overlap = _tiles(ctx, tile_size, overlap)
    return decode_tiled(vae, latent, tile, overlap, **_hooks(ctx))


@node(
    "latent.vae_encode_tiled", title="VAE Encode (Tiled)", category="Latent",
    inputs=[Wire("vae", "VAE[$F]"), Wire("image", "IMAGE"), _TILE, _OVERLAP],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("VAEEncodeTiled",),
)
def vae_encode_tiled(ctx: NodeContext, vae: Any, image: Any, tile_size: int, overlap: int) -> Any:
    """Encode an image into the model's latent space tile by tile (for image-to-image on large images).
    The image is centre-cropped to a multiple of 8 pixels."""
    from studio.diffusion.vae_tiled import encode_tiled

    try:
        image = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    h, w = image.shape[1:3]
    if h % 8 or w % 8:
        ctx.warn(f"{w}×{h} is not a multiple of 8; the image is centre-cropped to {w - w % 8}×{h - h % 8}")
    tile, overlap = _tiles(ctx, tile_size, overlap)
    return encode_tiled(vae, image, tile, overlap, **_hooks(ctx))
