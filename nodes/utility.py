"""Nodes that shape the canvas rather than the image: reroutes for tidy wires, and notes."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Out, String, Wire, node


@node(
    "util.reroute", title="Reroute", category="Utility", passthrough=True,
    inputs=[Wire("value", "ANY", label="")], outputs=[Out("value", "ANY", label="")],
    aliases=("Reroute", "dot", "wire"),
)
def reroute(ctx: NodeContext, value: Any) -> Any:
    """A point on a wire to route it tidily; it carries whatever type is connected to it. Runs plan
    around it (its input feeds its consumers directly), so it costs nothing."""
    return value


@node(
    "util.note", title="Note", category="Utility", editor_only=True,
    inputs=[String("text", "", multiline=True, tooltip="Markdown: **bold**, *italic*, lists, links, `code`")],
    summary=(), aliases=("Note", "MarkdownNote", "comment", "text"),
)
def note(ctx: NodeContext, text: str) -> None:
    """A note on the canvas, written in Markdown. It never runs."""
    return None
