"""Typed reading of untrusted JSON-like data: every defect becomes a WorkflowError with a JSON path."""

from __future__ import annotations

from typing import Any

from studio.core.jsonread import MAX_INT, JsonReader, check_values, kind_of


def check_plain(value: Any, source: str | None = None) -> None:
    """Refuse what a saved workflow could not hold (deep nesting, non-JSON values, NaN, huge numbers,
    more values than the budget), naming the JSON path; linear, and safe against deep nesting."""
    check_values(value, source)


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
            if abs(value) > MAX_INT:
                raise self.fail(path, "number out of range")
            return value
        number = self.num(value, path)
        if abs(number) > MAX_INT:
            raise self.fail(path, "number out of range")
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
