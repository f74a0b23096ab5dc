"""A prompt's weight among the regional prompts it is combined with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node


@node(
    "conditioning.set_strength", title="Conditioning Strength", category="Conditioning",
    inputs=[Wire("conditioning", "CONDITIONING[$F]"),
            Float("strength", 1.0, min=0.0, max=10.0, step=0.01,
                  tooltip="how much this prompt counts where it overlaps others")],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["strength"],
    aliases=("ConditioningSetAreaStrength",),
)
def set_strength(ctx: NodeContext, conditioning: Any, strength: float) -> Any:
    """Set the weight of every entry of the conditioning, as the area nodes' strength does: where
    combined prompts overlap, their predictions are averaged with these weights. A prompt alone is
    not changed by it."""
    return conditioning.map_entries(lambda e: replace(e, strength=float(strength)))
