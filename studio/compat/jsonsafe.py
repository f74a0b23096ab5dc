"""Typed reading of untrusted JSON-like data: every defect becomes a WorkflowError with a JSON path."""

from __future__ import annotations

import math
from typing import Any

from studio.core.jsonread import JsonReader, WorkflowError, kind_of
from studio.core.workflow import MAX_DEPTH, MAX_NODES

MAX_ITEMS = 4 * MAX_NODES  # values of every kind, counted over the whole document


def check_plain(value: Any, source: str | None = None) -> None:
    """Refuse what a saved workflow could not hold: deep nesting, non-JSON values, NaN, huge documents.
    Iterative, so a hostile document cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while stack:
        v, depth = stack.pop()
        count += 1
        if count > MAX_ITEMS * 16:
            raise WorkflowError("$", "the document is too large to import", source=source)
        if isinstance(v, dict):
            if depth > MAX_DEPTH:
                raise WorkflowError("$", f"nested more than {MAX_DEPTH} levels deep", source=source)
            for k, item in v.items():
                if not isinstance(k, str):
                    raise WorkflowError("$", f"object key {k!r} is not text", source=source)
                stack.append((item, depth + 1))
        elif isinstance(v, list | tuple):
            if depth > MAX_DEPTH:
                raise WorkflowError("$", f"nested more than {MAX_DEPTH} levels deep", source=source)
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise WorkflowError("$", "NaN and infinite numbers are not allowed", source=source)
        elif v is not None and not isinstance(v, str | int | bool):
            raise WorkflowError("$", f"{type(v).__name__} is not a JSON value", source=source)


class Reader(JsonReader):
    """The core reader, plus what ComfyUI and A1111 data need: ids that may be numbers, exact
    whole numbers, flags and LiteGraph's occasional object-shaped points."""

    def text(self, value: Any, path: str, *, empty: bool = True) -> str:
        return super().text(value, path, empty=empty)

    def name(self, value: Any, path: str) -> str:
        """A node type or similar: non-empty text."""
        value = self.text(value, path)
        if not value.strip():
            raise self.fail(path, "must not be empty")
        return value

    def ident(self, value: Any, path: str) -> str:
        """A node id: ComfyUI writes numbers in UI files and text in API files."""
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise self.fail(path, f"expected a node id, found {kind_of(value)}")
        return str(value)

    def whole(self, value: Any, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):  # exact: seeds use all 64 bits
            if abs(value) > 2**128:
                raise self.fail(path, "number out of range")
            return value
        number = self.num(value, path)
        if number != int(number):
            raise self.fail(path, f"expected a whole number, found {value!r}")
        return int(number)

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true/false, found {kind_of(value)}")
        return value

    def point(self, value: Any, path: str, n: int) -> tuple[float, ...] | None:  # type: ignore[override]
        """``[x, y, ...]`` or LiteGraph's occasional ``{"0": x, "1": y}``; None when absent."""
        if value is None:
            return None
        if isinstance(value, dict):
            value = [value.get(str(i)) for i in range(n)]
        items = self.arr(value, path)
        if len(items) < n:
            raise self.fail(path, f"expected {n} numbers, found {len(items)} items")
        return tuple(self.num(v, f"{path}[{i}]") for i, v in enumerate(items[:n]))
