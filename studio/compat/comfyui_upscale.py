"""ComfyUI's tiled VAE and upscale-model nodes → ours.

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode


def _tiles(b: _Builder, c: CNode) -> dict[str, Any]:
    # temporal_size / temporal_overlap tile video latents in time: nothing to carry over for images.
    return {"tile_size": b.whole(c, "tile_size"), "overlap": b.whole(c, "overlap")}


def vae_decode_tiled(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.vae_decode_tiled", _tiles(b, c), {"samples": "latent", "vae": "vae"}, ["image"])


def vae_encode_tiled(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.vae_encode_tiled", _tiles(b, c), {"pixels": "image", "vae": "vae"}, ["latent"])


def upscale_model_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.upscale", {"model_name": b.file_name(c, "model_name")}, {}, ["upscale_model"])


def image_upscale_with_model(b: _Builder, c: CNode) -> None:
    b.add(c, "image.upscale_model", {}, {"upscale_model": "upscale_model", "image": "image"}, ["image"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "VAEDecodeTiled": vae_decode_tiled,
    "VAEEncodeTiled": vae_encode_tiled,
    "UpscaleModelLoader": upscale_model_loader,
    "ImageUpscaleWithModel": image_upscale_with_model,
}
