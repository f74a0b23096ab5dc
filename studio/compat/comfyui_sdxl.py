"""ComfyUI's SDXL prompt nodes (size, crop and target conditioning; the refiner's aesthetic score) → ours.

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_SIZES = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


def clip_text_sdxl(b: _Builder, c: CNode) -> None:
    params: dict[str, Any] = {name: b.whole(c, name) for name in _SIZES}
    params["text_g"], params["text_l"] = b.text(c, "text_g"), b.text(c, "text_l")
    b.add(c, "text.encode_sdxl", params, {"clip": "clip"}, ["conditioning"])


def clip_text_sdxl_refiner(b: _Builder, c: CNode) -> None:
    params = {"ascore": b.num(c, "ascore"), "width": b.whole(c, "width"), "height": b.whole(c, "height"),
              "text": b.text(c, "text")}
    b.add(c, "text.encode_refiner", params, {"clip": "clip"}, ["conditioning"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "CLIPTextEncodeSDXL": clip_text_sdxl,
    "CLIPTextEncodeSDXLRefiner": clip_text_sdxl_refiner,
}
