"""More of ComfyUI's core nodes → ours: the checkpoint loader with a config, scaling to a pixel count,
blending, cropping, solid images and repeating a latent batch.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .comfyui_schema import SPECS, ComfySpec

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_IMAGE_OUT = (("IMAGE", "IMAGE"),)

CORE_MORE_SPECS: dict[str, ComfySpec] = {
    "CheckpointLoader": ComfySpec(
        "Load Checkpoint With Config (DEPRECATED)", widgets=(("config_name", ""), ("ckpt_name", "")),
        outputs=(("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"))),
    # Newer ComfyUI adds resolution_steps (each side a multiple of it; 1 = as before).
    "ImageScaleToTotalPixels": ComfySpec(
        "Scale Image to Total Pixels", inputs=(("image", "IMAGE"),),
        widgets=(("upscale_method", "nearest-exact"), ("megapixels", 1.0), ("resolution_steps", 1)),
        outputs=_IMAGE_OUT),
    "ImageBlend": ComfySpec(
        "Image Blend", inputs=(("image1", "IMAGE"), ("image2", "IMAGE")),
        widgets=(("blend_factor", 0.5), ("blend_mode", "normal")), outputs=_IMAGE_OUT),
    "ImageCrop": ComfySpec(
        "Image Crop", inputs=(("image", "IMAGE"),), widgets=(("width", 512), ("height", 512), ("x", 0), ("y", 0)),
        outputs=_IMAGE_OUT),
    "EmptyImage": ComfySpec(
        "EmptyImage", widgets=(("width", 512), ("height", 512), ("batch_size", 1), ("color", 0)), outputs=_IMAGE_OUT),
    "RepeatLatentBatch": ComfySpec(
        "Repeat Latent Batch", inputs=(("samples", "LATENT"),), widgets=(("amount", 1),),
        outputs=(("LATENT", "LATENT"),)),
}


def checkpoint_with_config(b: _Builder, c: CNode) -> None:
    b.add(c, "model.checkpoint", {"checkpoint": b.file_name(c, "ckpt_name")}, {}, ["model", "clip", "vae"])
    config = b.text(c, "config_name")
    b.report.info(f"{c.label}: the config file {config!r} is not needed: the model's kind is read from the "
                  "checkpoint itself")


_SCALE_METHODS = {"nearest-exact": "nearest", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic",
                  "lanczos": "lanczos"}


def scale_to_total_pixels(b: _Builder, c: CNode) -> None:
    method = b.text(c, "upscale_method")
    ours = _SCALE_METHODS.get(method)
    if ours is None:
        b.report.approximated(f"{c.label}: scaling method {method!r} → 'bicubic'")
        ours = "bicubic"
    params = {"megapixels": b.num(c, "megapixels"), "method": ours, "steps": max(1, b.whole(c, "resolution_steps"))}
    b.add(c, "image.scale_to_pixels", params, {"image": "image"}, ["image"])


def image_blend(b: _Builder, c: CNode) -> None:
    mode = b.text(c, "blend_mode")
    if mode not in ("normal", "multiply", "screen", "overlay", "soft_light", "difference"):
        b.report.approximated(f"{c.label}: blend mode {mode!r} is not known; using 'normal'")
        mode = "normal"
    b.add(c, "image.blend", {"blend_factor": b.num(c, "blend_factor"), "blend_mode": mode},
          {"image1": "image1", "image2": "image2"}, ["image"])


def image_crop(b: _Builder, c: CNode) -> None:
    params = {name: b.whole(c, name) for name in ("width", "height", "x", "y")}
    b.add(c, "image.crop", params, {"image": "image"}, ["image"])


def empty_image(b: _Builder, c: CNode) -> None:
    params = {name: b.whole(c, name) for name in ("width", "height", "batch_size", "color")}
    b.add(c, "image.empty", params, {}, ["image"])


def repeat_latent_batch(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.repeat_batch", {"amount": b.whole(c, "amount")}, {"samples": "latent"}, ["latent"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "CheckpointLoader": checkpoint_with_config,
    "ImageScaleToTotalPixels": scale_to_total_pixels,
    "ImageBlend": image_blend,
    "ImageCrop": image_crop,
    "EmptyImage": empty_image,
    "RepeatLatentBatch": repeat_latent_batch,
}

SPECS.update(CORE_MORE_SPECS)
