"""Reading untrusted JSON: every defect becomes one WorkflowError that names the JSON path."""

from __future__ import annotations

import math
from typing import Any


class WorkflowError(ValueError):
    """A workflow file that cannot be used; says where (JSON path) and what."""

    def __init__(self, path: str, message: str, *, source: str | None = None) -> None:
        self.path, self.message, self.source = path, message, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}")


class JsonReader:
    """Typed access to untrusted JSON that reports the JSON path of whatever is wrong."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> WorkflowError:
        return WorkflowError(path, message, source=self.source)

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, found {kind_of(value)}")
        return value

    def arr(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, found {kind_of(value)}")
        return value

    def text(self, value: Any, path: str, *, empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected text, found {kind_of(value)}")
        if not empty and not value.strip():
            raise self.fail(path, "must not be empty")
        return value

    def num(self, value: Any, path: str) -> float:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**128:
            raise self.fail(path, "number out of range")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(path, f"expected a number, found {kind_of(value)}")
        return float(value)

    def point(self, value: Any, path: str, n: int) -> tuple[float, ...]:
        items = self.arr(value, path)
        if len(items) != n:
            raise self.fail(path, f"expected {n} numbers, found {len(items)} items")
        return tuple(self.num(v, f"{path}[{i}]") for i, v in enumerate(items))

    def port_ref(self, value: Any, path: str) -> tuple[str, str]:
        items = self.arr(value, path)
        if len(items) != 2:
            raise self.fail(path, "expected [node id, port name]")
        return self.text(items[0], f"{path}[0]"), self.text(items[1], f"{path}[1]")


def kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
