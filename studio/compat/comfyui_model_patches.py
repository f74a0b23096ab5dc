"""ComfyUI's MODEL → MODEL patch nodes (FreeU, FreeU_V2, RescaleCFG, PerturbedAttentionGuidance,
PatchModelAddDownscale) → ours;
SelfAttentionGuidance, HyperTile and TomePatchModel are known but kept as placeholders.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .comfyui_schema import SPECS, ComfySpec

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_IN = (("model", "MODEL"),)
_OUT = (("MODEL", "MODEL"),)


def _spec(title: str, *widgets: tuple[str, Any]) -> ComfySpec:
    return ComfySpec(title, inputs=_IN, widgets=widgets, outputs=_OUT)


_FREEU = ("b1", "b2", "s1", "s2")

MODEL_PATCH_SPECS: dict[str, ComfySpec] = {
    "FreeU": _spec("FreeU", ("b1", 1.1), ("b2", 1.2), ("s1", 0.9), ("s2", 0.2)),
    "FreeU_V2": _spec("FreeU_V2", ("b1", 1.3), ("b2", 1.4), ("s1", 0.9), ("s2", 0.2)),
    "RescaleCFG": _spec("RescaleCFG", ("multiplier", 0.7)),
    "PerturbedAttentionGuidance": _spec("PerturbedAttentionGuidance", ("scale", 3.0)),
    "PatchModelAddDownscale": _spec(
        "PatchModelAddDownscale (Kohya Deep Shrink)", ("block_number", 3), ("downscale_factor", 2.0),
        ("start_percent", 0.0), ("end_percent", 0.35), ("downscale_after_skip", True),
        ("downscale_method", "bicubic"), ("upscale_method", "bicubic")),
    "SelfAttentionGuidance": _spec("Self-Attention Guidance", ("scale", 0.5), ("blur_sigma", 2.0)),
    "HyperTile": _spec("HyperTile", ("tile_size", 256), ("swap_size", 2), ("max_depth", 0), ("scale_depth", False)),
    "TomePatchModel": _spec("TomePatchModel", ("ratio", 0.3)),
}


def _simple(type_id: str, names: tuple[str, ...]) -> Callable[[_Builder, CNode], None]:
    def translate(b: _Builder, c: CNode) -> None:
        b.add(c, type_id, {n: b.num(c, n) for n in names}, {"model": "model"}, ["model"])

    return translate


_METHODS = ("bicubic", "nearest-exact", "bilinear", "area")


def _method(b: _Builder, c: CNode, name: str) -> str:
    value = b.text(c, name)
    if value not in _METHODS:  # bislerp: ComfyUI's own slerp resize
        b.report.approximated(f"{c.label}: {name} {value!r} is not offered here; using bilinear")
        return "bilinear"
    return value


def _flag(b: _Builder, c: CNode, name: str) -> bool:
    value = c.values.get(name, SPECS[c.class_type].default(name))
    if isinstance(value, str):
        value = value.lower() != "false"
    return bool(value)


def deep_shrink(b: _Builder, c: CNode) -> None:
    params = {"block_number": b.whole(c, "block_number"),
              **{n: b.num(c, n) for n in ("downscale_factor", "start_percent", "end_percent")},
              "downscale_after_skip": _flag(b, c, "downscale_after_skip"),
              "downscale_method": _method(b, c, "downscale_method"),
              "upscale_method": _method(b, c, "upscale_method")}
    b.add(c, "model.deep_shrink", params, {"model": "model"}, ["model"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "FreeU": _simple("model.freeu", _FREEU),
    "FreeU_V2": _simple("model.freeu_v2", _FREEU),
    "RescaleCFG": _simple("model.rescale_cfg", ("multiplier",)),
    "PerturbedAttentionGuidance": _simple("model.perturbed_attention", ("scale",)),
    "PatchModelAddDownscale": deep_shrink,
}
# Known classes we cannot run yet: ``comfyui.TRANSLATORS`` keeps them as placeholders with these reasons.
NOT_YET: dict[str, str] = {
    name: f"{what} is not supported yet (bypass it to sample without it)"
    for name, what in (("SelfAttentionGuidance", "self-attention guidance"), ("HyperTile", "HyperTile"),
                       ("TomePatchModel", "token merging (ToMe)"))
}

SPECS.update(MODEL_PATCH_SPECS)
