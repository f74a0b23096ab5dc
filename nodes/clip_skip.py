"""CLIP skip: encode prompts from an earlier layer of the text encoder."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Int, Out, Wire, node


@node(
    "model.clip_skip", title="CLIP Skip", category="Conditioning",
    inputs=[Wire("clip", "CLIP[$F]"),
            Int("skip", 1, min=0, max=11,
                tooltip="layers to skip at the end of the text encoder; 1 on SD 1.x = A1111's 'Clip skip: 2'. "
                        "SD 2.x and SDXL already use the penultimate layer: there 1 goes one layer deeper")],
    outputs=[Out("clip", "CLIP[$F]")],
    summary=["skip"],
    aliases=("CLIPSetLastLayer",),
)
def clip_skip(ctx: NodeContext, clip: Any, skip: int) -> Any:
    """The same text encoder, read from ``skip`` layers before its usual output (0 = unchanged)."""
    return replace(clip, skip=int(skip))
