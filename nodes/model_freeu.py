"""FreeU and FreeU V2: re-weight the UNet's decoder (backbone features up, skip features' low frequencies down)."""

from __future__ import annotations

from dataclasses import replace

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node
from studio.diffusion.freeu import FreeUPatch
from studio.diffusion.values import UNetModel

_B = "backbone factor for the {} decoder stage (1 = unchanged; above 1 strengthens the main features)"
_S = "skip factor for the {} decoder stage (1 = unchanged; below 1 damps the skip features' low frequencies)"


def _inputs(b1: float, b2: float, s1: float, s2: float) -> list:
    return [Wire("model", "MODEL[$F]"),
            Float("b1", b1, min=0.0, max=10.0, step=0.01, tooltip=_B.format("deepest")),
            Float("b2", b2, min=0.0, max=10.0, step=0.01, tooltip=_B.format("second")),
            Float("s1", s1, min=0.0, max=10.0, step=0.01, tooltip=_S.format("deepest")),
            Float("s2", s2, min=0.0, max=10.0, step=0.01, tooltip=_S.format("second"))]


def _patched(model: UNetModel, b1: float, b2: float, s1: float, s2: float, version: int) -> UNetModel:
    patch = FreeUPatch(float(b1), float(b2), float(s1), float(s2), version)
    return replace(model, patches=(*model.patches, patch))


@node(
    "model.freeu", title="FreeU", category="Models",
    inputs=_inputs(1.1, 1.2, 0.9, 0.2), outputs=[Out("model", "MODEL[$F]")],
    summary=["b1", "b2", "s1", "s2"], aliases=("FreeU",),
)
def freeu(ctx: NodeContext, model: UNetModel, b1: float, b2: float, s1: float, s2: float) -> UNetModel:
    """The model with FreeU applied while it samples (the shared UNet is not changed)."""
    return _patched(model, b1, b2, s1, s2, 1)


@node(
    "model.freeu_v2", title="FreeU V2", category="Models",
    inputs=_inputs(1.3, 1.4, 0.9, 0.2), outputs=[Out("model", "MODEL[$F]")],
    summary=["b1", "b2", "s1", "s2"], aliases=("FreeU_V2",),
)
def freeu_v2(ctx: NodeContext, model: UNetModel, b1: float, b2: float, s1: float, s2: float) -> UNetModel:
    """FreeU whose backbone boost follows the features' strength (mean over channels, per sample)."""
    return _patched(model, b1, b2, s1, s2, 2)
