"""ComfyUI's tiled VAE, upscale-model and tiled-diffusion (ComfyUI-TiledDiffusion) nodes → ours.

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


# ComfyUI-TiledDiffusion's methods → our modes. SpotDiffusion (a non-overlapping grid shifted at random
# each step) is the method FSTD refines with Gaussian weights inside the tiles.
_METHODS = {"MultiDiffusion": "multidiffusion", "Mixture of Diffusers": "mixture", "SpotDiffusion": "fstd"}


def tiled_diffusion(b: _Builder, c: CNode) -> None:
    method = b.text(c, "method")
    mode = _METHODS.get(method)
    if mode is None:
        b.report.approximated(f"{c.label}: method {method!r} is not known; using Mixture of Diffusers")
        mode = "mixture"
    elif method == "SpotDiffusion":
        b.report.approximated(f"{c.label}: SpotDiffusion → fstd (Fast Seamless Tiled Diffusion): a grid shifted at "
                              "random each step as there, but not wrapped around the image's edges, and blended "
                              "with Gaussian weights inside the tiles")
    params = {"mode": mode, "tile_width": b.whole(c, "tile_width"), "tile_height": b.whole(c, "tile_height"),
              "tile_overlap": b.whole(c, "tile_overlap"), "tile_batch_size": b.whole(c, "tile_batch_size")}
    b.add(c, "model.tiled_diffusion", params, {"model": "model"}, ["model"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "TiledDiffusion": tiled_diffusion,
    "VAEDecodeTiled": vae_decode_tiled,
    "VAEEncodeTiled": vae_encode_tiled,
    "UpscaleModelLoader": upscale_model_loader,
    "ImageUpscaleWithModel": image_upscale_with_model,
}
