"""ComfyUI's GLIGEN nodes → ours: GLIGENLoader → ``model.gligen``, GLIGENTextBoxApply →
``conditioning.gligen_box``.

ComfyUI grounds every step; our box node grounds the first β of them (the paper's scheduled sampling,
0.3 by default), so imported boxes get β = 1 to keep ComfyUI's result. One difference remains: under
CFG ComfyUI leaves the gated layers out of the negative half, where we (as diffusers' GLIGEN pipeline)
run them with the learned null objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode


def gligen_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.gligen", {"gligen_name": b.file_name(c, "gligen_name")}, {}, ["gligen"])


def gligen_text_box(b: _Builder, c: CNode) -> None:
    params = {"text": b.text(c, "text"), "width": b.whole(c, "width"), "height": b.whole(c, "height"),
              "x": b.whole(c, "x"), "y": b.whole(c, "y"), "beta": 1.0}
    b.add(c, "conditioning.gligen_box", params,
          {"conditioning_to": "conditioning_to", "clip": "clip", "gligen_textbox_model": "gligen"}, ["conditioning"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "GLIGENLoader": gligen_loader,
    "GLIGENTextBoxApply": gligen_text_box,
}
