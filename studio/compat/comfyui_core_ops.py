"""ComfyUI's core image, latent and mask operations → ours: latent arithmetic and geometry, saving and
loading latents, image filters and batches, masks from image channels, mask cropping and conditioning
strength.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.

Left as unknown classes (placeholders): LatentBatchSeedBehavior, whose "fixed" gives every latent of a
batch the first latent's noise (the sampler draws one noise for the whole batch, which is only its
"random"), and ConditioningSetTimestepRange, whose range ComfyUI compares with each step's noise level
(prompt entries here apply to every step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .comfyui_core_nodes import split_prefix
from .comfyui_schema import SPECS, ComfySpec

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_IMAGE = (("IMAGE", "IMAGE"),)
_LATENT = (("LATENT", "LATENT"),)
_MASK = (("MASK", "MASK"),)
_COND = (("CONDITIONING", "CONDITIONING"),)
_TWO_LATENTS = (("samples1", "LATENT"), ("samples2", "LATENT"))


def _spec(title: str, inputs: tuple[tuple[str, str], ...], widgets: tuple[tuple[str, Any], ...] = (),
          outputs: tuple[tuple[str, str], ...] = _LATENT) -> ComfySpec:
    return ComfySpec(title, inputs=inputs, widgets=widgets, outputs=outputs)


CORE_OPS_SPECS: dict[str, ComfySpec] = {
    "LatentAdd": _spec("LatentAdd", _TWO_LATENTS),
    "LatentSubtract": _spec("LatentSubtract", _TWO_LATENTS),
    "LatentMultiply": _spec("LatentMultiply", (("samples", "LATENT"),), (("multiplier", 1.0),)),
    "LatentInterpolate": _spec("LatentInterpolate", _TWO_LATENTS, (("ratio", 1.0),)),
    # Older ComfyUI showed a blend_mode widget (only "normal") after the factor.
    "LatentBlend": _spec("Latent Blend", _TWO_LATENTS, (("blend_factor", 0.5), ("blend_mode", "normal"))),
    "LatentCompositeMasked": _spec(
        "LatentCompositeMasked", (("destination", "LATENT"), ("source", "LATENT"), ("mask", "MASK")),
        (("x", 0), ("y", 0), ("resize_source", False))),
    "LatentFlip": _spec("Flip Latent", (("samples", "LATENT"),), (("flip_method", "x-axis: vertically"),)),
    "LatentRotate": _spec("Rotate Latent", (("samples", "LATENT"),), (("rotation", "none"),)),
    "LatentCrop": _spec("Crop Latent", (("samples", "LATENT"),),
                        (("width", 512), ("height", 512), ("x", 0), ("y", 0))),
    "LatentBatch": _spec("LatentBatch", _TWO_LATENTS),
    "SaveLatent": _spec("SaveLatent", (("samples", "LATENT"),), (("filename_prefix", "latents/ComfyUI"),), ()),
    "LoadLatent": _spec("LoadLatent", (), (("latent", ""),)),
    "ImageBlur": _spec("Image Blur", (("image", "IMAGE"),), (("blur_radius", 1), ("sigma", 1.0)), _IMAGE),
    "ImageSharpen": _spec("Image Sharpen", (("image", "IMAGE"),),
                          (("sharpen_radius", 1), ("sigma", 1.0), ("alpha", 1.0)), _IMAGE),
    "ImageQuantize": _spec("Image Quantize", (("image", "IMAGE"),), (("colors", 256), ("dither", "floyd-steinberg")),
                           _IMAGE),
    "ImageBatch": _spec("Batch Images", (("image1", "IMAGE"), ("image2", "IMAGE")), (), _IMAGE),
    "ImageFromBatch": _spec("ImageFromBatch", (("image", "IMAGE"),), (("batch_index", 0), ("length", 1)), _IMAGE),
    "ImageCompositeMasked": _spec(
        "ImageCompositeMasked", (("destination", "IMAGE"), ("source", "IMAGE"), ("mask", "MASK")),
        (("x", 0), ("y", 0), ("resize_source", False)), _IMAGE),
    "LoadImageMask": _spec("Load Image (as Mask)", (), (("image", ""), ("channel", "alpha"), ("upload", "image")),
                           _MASK),
    "Morphology": _spec("ImageMorphology", (("image", "IMAGE"),), (("operation", "erode"), ("kernel_size", 3)),
                        _IMAGE),
    "CropMask": _spec("CropMask", (("mask", "MASK"),), (("x", 0), ("y", 0), ("width", 512), ("height", 512)), _MASK),
    "ConditioningSetAreaStrength": _spec("ConditioningSetAreaStrength", (("conditioning", "CONDITIONING"),),
                                         (("strength", 1.0),), _COND),
}


def _flag(b: _Builder, c: CNode, name: str) -> bool:
    value, path = b._raw(c, name)
    return b.r.flag(value, path)


def _choice(b: _Builder, c: CNode, name: str, type_id: str, fallback: str) -> str:
    """The value of ``name`` if our node ``type_id`` offers it, else ``fallback`` (reported)."""
    value = b.text(c, name)
    nt = b.registry.get(type_id)
    decl = nt.input(name) if nt is not None else None
    if decl is not None and value not in (decl.choices or ()):
        b.report.approximated(f"{c.label}: {name} {value!r} is not known; using {fallback!r}")
        return fallback
    return value


def _two(type_id: str) -> Callable[[_Builder, CNode], None]:
    def translate(b: _Builder, c: CNode) -> None:
        b.add(c, type_id, {}, {"samples1": "samples1", "samples2": "samples2"}, ["latent"])
    return translate


def latent_multiply(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.multiply", {"multiplier": b.num(c, "multiplier")}, {"samples": "samples"}, ["latent"])


def latent_interpolate(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.interpolate", {"ratio": b.num(c, "ratio")}, {"samples1": "samples1", "samples2": "samples2"},
          ["latent"])


def latent_blend(b: _Builder, c: CNode) -> None:
    if b.text(c, "blend_mode") != "normal":
        b.report.approximated(f"{c.label}: blend mode {b.text(c, 'blend_mode')!r} → 'normal' (the only one)")
    b.add(c, "latent.blend", {"blend_factor": b.num(c, "blend_factor")},
          {"samples1": "samples1", "samples2": "samples2"}, ["latent"])


def latent_composite_masked(b: _Builder, c: CNode) -> None:
    params = {"x": b.whole(c, "x"), "y": b.whole(c, "y"), "resize_source": _flag(b, c, "resize_source")}
    b.add(c, "latent.composite_masked", params, {"destination": "destination", "source": "source", "mask": "mask"},
          ["latent"])


def latent_flip(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.flip", {"flip_method": _choice(b, c, "flip_method", "latent.flip", "x-axis: vertically")}, {"samples": "samples"},
          ["latent"])


def latent_rotate(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.rotate", {"rotation": _choice(b, c, "rotation", "latent.rotate", "none")}, {"samples": "samples"},
          ["latent"])


def latent_crop(b: _Builder, c: CNode) -> None:
    params = {name: b.whole(c, name) for name in ("width", "height", "x", "y")}
    b.add(c, "latent.crop", params, {"samples": "samples"}, ["latent"])


def save_latent(b: _Builder, c: CNode) -> None:
    folder, prefix = split_prefix(b, c)
    b.add(c, "latent.save", {"folder": folder, "prefix": prefix}, {"samples": "samples"}, [])


def load_latent(b: _Builder, c: CNode) -> None:
    name = b.file_name(c, "latent")
    b.add(c, "latent.load", {"latent": name, "space": "sd"}, {}, ["latent"])
    b.report.info(f"{c.label}: {name!r} is read as an SD 1.x/2.x latent; choose SDXL in the node for SDXL latents")


def image_blur(b: _Builder, c: CNode) -> None:
    b.add(c, "image.blur", {"blur_radius": b.whole(c, "blur_radius"), "sigma": b.num(c, "sigma")},
          {"image": "image"}, ["image"])


def image_sharpen(b: _Builder, c: CNode) -> None:
    params = {"sharpen_radius": b.whole(c, "sharpen_radius"), "sigma": b.num(c, "sigma"), "alpha": b.num(c, "alpha")}
    b.add(c, "image.sharpen", params, {"image": "image"}, ["image"])


def image_quantize(b: _Builder, c: CNode) -> None:
    dither = b.text(c, "dither")
    if dither.startswith("bayer"):
        b.report.approximated(f"{c.label}: ordered ({dither}) dithering is not available; using 'floyd-steinberg'")
        dither = "floyd-steinberg"
    elif dither not in ("none", "floyd-steinberg"):
        b.report.approximated(f"{c.label}: dither {dither!r} is not known; using 'floyd-steinberg'")
        dither = "floyd-steinberg"
    b.add(c, "image.quantize", {"colors": b.whole(c, "colors"), "dither": dither}, {"image": "image"}, ["image"])


def image_batch(b: _Builder, c: CNode) -> None:
    b.add(c, "image.batch", {}, {"image1": "image1", "image2": "image2"}, ["image"])


def image_from_batch(b: _Builder, c: CNode) -> None:
    b.add(c, "image.from_batch", {"batch_index": b.whole(c, "batch_index"), "length": b.whole(c, "length")},
          {"image": "image"}, ["image"])


def image_composite_masked(b: _Builder, c: CNode) -> None:
    node = b.add(c, "image.composite_masked", {"x": b.whole(c, "x"), "y": b.whole(c, "y")},
                 {"destination": "destination", "source": "source", "mask": "mask"}, ["image"])
    if not _flag(b, c, "resize_source") or (c.id, "source") not in b.ins:
        return
    # The source stretched to the destination's size first: a node of its own between them.
    resize = b.add_extra(c, "resize_source", "image.match_size", {}, (0.0, -120.0))
    b.ins[(c.id, "source")] = [(resize, "image")]
    b.ins[(c.id, "destination")] = [*b.ins[(c.id, "destination")], (resize, "reference")]
    b.graph.connect(resize, "image", node, "source")


def load_image_mask(b: _Builder, c: CNode) -> None:
    name = b.file_name(c, "image")
    b.add(c, "image.load_mask", {"image": name, "channel": _choice(b, c, "channel", "image.load_mask", "alpha")}, {},
          ["mask"])
    b.report.info(f"{c.label}: {name!r} is looked up next to the workflow, then in the input folder")


def morphology(b: _Builder, c: CNode) -> None:
    params = {"operation": _choice(b, c, "operation", "image.morphology", "erode"), "kernel_size": b.whole(c, "kernel_size")}
    b.add(c, "image.morphology", params, {"image": "image"}, ["image"])


def crop_mask(b: _Builder, c: CNode) -> None:
    params = {name: b.whole(c, name) for name in ("x", "y", "width", "height")}
    b.add(c, "mask.crop", params, {"mask": "mask"}, ["mask"])


def conditioning_strength(b: _Builder, c: CNode) -> None:
    b.add(c, "conditioning.set_strength", {"strength": b.num(c, "strength")}, {"conditioning": "conditioning"},
          ["conditioning"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "LatentAdd": _two("latent.add"),
    "LatentSubtract": _two("latent.subtract"),
    "LatentMultiply": latent_multiply,
    "LatentInterpolate": latent_interpolate,
    "LatentBlend": latent_blend,
    "LatentCompositeMasked": latent_composite_masked,
    "LatentFlip": latent_flip,
    "LatentRotate": latent_rotate,
    "LatentCrop": latent_crop,
    "LatentBatch": _two("latent.batch"),
    "SaveLatent": save_latent,
    "LoadLatent": load_latent,
    "ImageBlur": image_blur,
    "ImageSharpen": image_sharpen,
    "ImageQuantize": image_quantize,
    "ImageBatch": image_batch,
    "ImageFromBatch": image_from_batch,
    "ImageCompositeMasked": image_composite_masked,
    "LoadImageMask": load_image_mask,
    "Morphology": morphology,
    "CropMask": crop_mask,
    "ConditioningSetAreaStrength": conditioning_strength,
}

SPECS.update(CORE_OPS_SPECS)
