"""ComfyUI's regional-conditioning and conditioning-arithmetic nodes → ours (``nodes/conditioning_regions.py``).

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_BOUNDS = ("default", "mask bounds")


def set_area(b: _Builder, c: CNode) -> None:
    params: dict[str, Any] = {name: b.whole(c, name) for name in ("width", "height", "x", "y")}
    params["strength"] = b.num(c, "strength")
    b.add(c, "conditioning.set_area", params, {"conditioning": "conditioning"}, ["conditioning"])


def set_area_percent(b: _Builder, c: CNode) -> None:
    params = {name: b.num(c, name) for name in ("width", "height", "x", "y", "strength")}
    b.add(c, "conditioning.set_area_percent", params, {"conditioning": "conditioning"}, ["conditioning"])


def set_mask(b: _Builder, c: CNode) -> None:
    bounds = b.text(c, "set_cond_area")
    if bounds not in _BOUNDS:
        b.report.approximated(f"{c.label}: set_cond_area {bounds!r} is not known; using 'default'")
        bounds = "default"
    params = {"strength": b.num(c, "strength"), "set_cond_area": bounds}
    b.add(c, "conditioning.set_mask", params, {"conditioning": "conditioning", "mask": "mask"}, ["conditioning"])


def combine(b: _Builder, c: CNode) -> None:
    b.add(c, "conditioning.combine", {}, {"conditioning_1": "conditioning_1", "conditioning_2": "conditioning_2"},
          ["conditioning"])


def concat(b: _Builder, c: CNode) -> None:
    b.add(c, "conditioning.concat", {}, {"conditioning_to": "conditioning_to",
                                         "conditioning_from": "conditioning_from"}, ["conditioning"])


def average(b: _Builder, c: CNode) -> None:
    params = {"conditioning_to_strength": b.num(c, "conditioning_to_strength")}
    b.add(c, "conditioning.average", params, {"conditioning_to": "conditioning_to",
                                              "conditioning_from": "conditioning_from"}, ["conditioning"])


def zero_out(b: _Builder, c: CNode) -> None:
    b.add(c, "conditioning.zero_out", {}, {"conditioning": "conditioning"}, ["conditioning"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "ConditioningSetArea": set_area,
    "ConditioningSetAreaPercentage": set_area_percent,
    "ConditioningSetMask": set_mask,
    "ConditioningCombine": combine,
    "ConditioningConcat": concat,
    "ConditioningAverage": average,
    "ConditioningZeroOut": zero_out,
}
