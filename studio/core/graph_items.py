"""What a graph holds: nodes, links, groups, and the problems validation reports; node modes and
colours. Plain data, no behaviour beyond checks of single values."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

NORMAL, BYPASS, MUTE = "normal", "bypass", "mute"
NODE_MODES = (NORMAL, BYPASS, MUTE)
_COLOR_RE = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def is_color(value: Any) -> bool:
    """Whether ``value`` is a colour the file keeps: ``#rgb``, ``#rrggbb`` or ``#aarrggbb``."""
    return isinstance(value, str) and _COLOR_RE.fullmatch(value) is not None


class GraphError(ValueError):
    """An edit that the graph refuses; ``str(exc)`` is the human reason."""


@dataclass
class Node:
    id: str
    type_id: str
    version: str
    params: dict[str, Any]
    pos: tuple[float, float] = (0.0, 0.0)
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    mode: str = "normal"  # one of NODE_MODES: "bypass" passes inputs through, "mute" never runs
    collapsed: bool = False
    color: str | None = None  # "#rrggbb", or None for the category's colour
    # Only for placeholders (unknown type): the port names seen when the node was loaded.
    placeholder_inputs: tuple[str, ...] = ()
    placeholder_outputs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass
class Group:
    id: str
    title: str
    rect: tuple[float, float, float, float]
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Problem:
    node_id: str | None
    node_title: str
    port: str | None
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.node_title} [{self.node_id}]" if self.node_id else self.node_title
        if self.port:
            where += f" › {self.port}"
        return f"{where}: {self.message}"


def new_id() -> str:
    return str(uuid.uuid4())


def _check_color(color: Any) -> None:
    """An edit's colour (False: unchanged, None or "": the default) must be one the file keeps."""
    if color not in (False, None, "") and not is_color(color):
        raise GraphError(f"{color!r} is not a colour: use #rgb, #rrggbb or #aarrggbb")
