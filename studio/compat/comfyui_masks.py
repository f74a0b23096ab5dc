"""ComfyUI's inpainting, outpainting, latent and mask nodes → ours.

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode


# -- inpainting, outpainting and latents ---------------------------------------------------------

def set_latent_noise_mask(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.set_noise_mask", {}, {"samples": "latent", "mask": "mask"}, ["latent"])


def vae_encode_inpaint(b: _Builder, c: CNode) -> None:
    grow = b.whole(c, "grow_mask_by")
    inputs = {"pixels": "pixels", "vae": "vae", "mask": "mask"}
    b.add(c, "latent.vae_encode_inpaint", {"grow_mask_by": grow}, inputs, ["latent"])
    if grow >= 2:
        b.report.approximated(f"{c.label}: the noise mask is widened by {grow // 2} pixels with a round brush; "
                              f"ComfyUI widens it with a square of {grow}×{grow} pixels, so its corners differ slightly")


def inpaint_model_conditioning(b: _Builder, c: CNode) -> None:
    value, path = b._raw(c, "noise_mask")
    inputs = {"positive": "positive", "negative": "negative", "vae": "vae", "pixels": "pixels", "mask": "mask"}
    b.add(c, "conditioning.inpaint", {"noise_mask": b.r.flag(value, path)}, inputs,
          ["positive", "negative", "latent"])


def pad_for_outpaint(b: _Builder, c: CNode) -> None:
    params = {side: b.whole(c, side) for side in ("left", "top", "right", "bottom", "feathering")}
    b.add(c, "image.pad_outpaint", params, {"image": "image"}, ["image", "mask"])


def latent_composite(b: _Builder, c: CNode) -> None:
    params = {name: b.whole(c, name) for name in ("x", "y", "feather")}
    b.add(c, "latent.composite", params, {"samples_to": "destination", "samples_from": "source"}, ["latent"])


def latent_from_batch(b: _Builder, c: CNode) -> None:
    params = {"batch_index": b.whole(c, "batch_index"), "length": b.whole(c, "length")}
    b.add(c, "latent.from_batch", params, {"samples": "latent"}, ["latent"])


# -- masks ------------------------------------------------------------------------------------------


def image_to_mask(b: _Builder, c: CNode) -> None:
    channel = b.text(c, "channel")
    if channel not in ("red", "green", "blue", "alpha"):
        b.report.approximated(f"{c.label}: channel {channel!r} is unknown; using 'red'")
        channel = "red"
    b.add(c, "mask.from_image", {"channel": channel}, {"image": "image"}, ["mask"])


def mask_to_image(b: _Builder, c: CNode) -> None:
    b.add(c, "mask.to_image", {}, {"mask": "mask"}, ["image"])


def invert_mask(b: _Builder, c: CNode) -> None:
    b.add(c, "mask.invert", {}, {"mask": "mask"}, ["mask"])


def grow_mask(b: _Builder, c: CNode) -> None:
    expand = b.whole(c, "expand")
    value, path = b._raw(c, "tapered_corners")
    tapered = b.r.flag(value, path)
    b.add(c, "mask.grow", {"pixels": expand}, {"mask": "mask"}, ["mask"])
    # ComfyUI repeats a 3×3 step: a cross (tapered corners) grows a diamond, a square a square. Our round
    # brush is the same shape as the diamond up to 2 pixels.
    if expand and not (tapered and abs(expand) <= 2):
        shape = "a diamond (tapered corners)" if tapered else "a square (no tapered corners)"
        b.report.approximated(f"{c.label}: grown by {expand} pixels with a round brush; ComfyUI grows {shape}, "
                              "so the corners differ")


_FEATHER_SIDES = ("left", "top", "right", "bottom")


def feather_mask(b: _Builder, c: CNode) -> None:
    """ComfyUI's FeatherMask fades the mask towards the image's sides; our Feather Mask blurs the mask's
    outline, another operation: only the no-op (all sides 0) carries over."""
    sides = {side: b.whole(c, side) for side in _FEATHER_SIDES}
    if any(sides.values()):
        b.unsupported(c, "ComfyUI's FeatherMask fades the mask towards the image's sides, which no node here "
                         "does (our Feather Mask blurs the mask's outline instead)")
        return
    b.add(c, "mask.feather", {"radius": 0}, {"mask": "mask"}, ["mask"])


def threshold_mask(b: _Builder, c: CNode) -> None:
    b.add(c, "mask.threshold", {"value": b.num(c, "value")}, {"mask": "mask"}, ["mask"])


# ComfyUI's operation → ours; "and", "or" and "xor" work on the masks rounded to 0 or 1 there.
_MASK_OPERATIONS = {"multiply": "multiply", "add": "add", "subtract": "subtract", "and": "intersect",
                    "or": "union", "xor": "difference"}


def mask_composite(b: _Builder, c: CNode) -> None:
    operation = b.text(c, "operation")
    ours = _MASK_OPERATIONS.get(operation)
    if ours is None:
        b.report.approximated(f"{c.label}: operation {operation!r} is unknown; using 'multiply'")
        ours = "multiply"
    elif operation in ("and", "or", "xor"):
        b.report.approximated(f"{c.label}: {operation!r} → {ours!r}: the same on hard masks; on soft ones ComfyUI "
                              "rounds the values to 0 or 1 first, ours combines them as they are")
    x, y = b.whole(c, "x"), b.whole(c, "y")
    if x or y:
        b.report.approximated(f"{c.label}: the source is placed at ({x}, {y}) in ComfyUI; ours has no offset: it "
                              "is combined at (0, 0), stretched to the destination's size where the sizes differ")
    else:  # the sizes are known only when it runs
        b.report.info(f"{c.label}: a source of another size than the destination is stretched to it here "
                      "(ComfyUI combines it unscaled from the top left corner)")
    b.add(c, "mask.combine", {"operation": ours}, {"destination": "mask", "source": "other"}, ["mask"])


def solid_mask(b: _Builder, c: CNode) -> None:
    params = {"value": b.num(c, "value"), "width": b.whole(c, "width"), "height": b.whole(c, "height")}
    b.add(c, "mask.solid", params, {}, ["mask"])


def image_color_to_mask(b: _Builder, c: CNode) -> None:
    color = b.whole(c, "color")
    if not 0 <= color <= 0xFFFFFF:
        b.report.approximated(f"{c.label}: colour {color} is not a 24-bit RGB value; using its lowest 24 bits")
    params = {"red": (color >> 16) & 0xFF, "green": (color >> 8) & 0xFF, "blue": color & 0xFF, "tolerance": 0}
    b.add(c, "mask.from_color", params, {"image": "image"}, ["mask"])


