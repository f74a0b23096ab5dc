"""Reading untrusted JSON: every defect becomes one WorkflowError that names the JSON path.

Parsing is budgeted: the number of values is bounded before the text is parsed, so memory stays
a small multiple of the budget however the file is shaped, and every check is linear in the text.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from collections.abc import Iterator
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


# --- parsing untrusted JSON within a budget ---------------------------------------------------------

MAX_DEPTH = 64
# Values and object keys one document may hold. Memory grows with them (an empty object costs 64
# bytes, a two-byte file fragment), so the budget, not the file size, bounds what parsing allocates;
# a million is some ten thousand ComfyUI nodes, far beyond any real workflow.
MAX_JSON_ITEMS = 1_000_000
MAX_INT = 2**128  # seeds use 64 bits; nothing in a workflow needs more than this
# A string from its opening quote to its closing one (or to the end of the text when unterminated):
# possessive, and able to end anywhere, so every attempt succeeds at once and the scan stays linear.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.S)


def _structure_count(text: str) -> int:
    """An upper bound on the values and keys ``text`` holds: each one but the first follows one of
    ``[ { , :`` outside a string."""
    return sum(text.count(ch) for ch in "[{,:") + 1


def check_budget(text: str, source: str | None = None, *, limit: int | None = None) -> None:
    """Refuse, before parsing, a JSON text with more values than the budget allows."""
    limit = MAX_JSON_ITEMS if limit is None else limit
    if _structure_count(text) <= limit:
        return
    # Commas and colons inside strings (prompts are full of them) do not count: strip the strings
    # unless there are so many that their number alone is over the budget.
    if text.count('"') // 2 <= limit and _structure_count(_STRING.sub("", text)) <= limit:
        return
    raise WorkflowError("$", f"the document holds more than {limit:,} JSON values; refused", source=source)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector (if it runs) while a document is parsed or imported: it would rescan
    every container already built, again and again, and parsing makes no cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a workflow")


def loads_bounded(text: str, source: str | None = None) -> Any:
    """JSON text → value within the budgets: every failure (syntax, size, depth, numbers) is one
    WorkflowError naming where."""
    check_budget(text, source)
    try:
        with gc_paused():
            value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WorkflowError("$", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            source=source) from None
    except RecursionError:
        raise WorkflowError("$", f"JSON is nested more than {MAX_DEPTH} levels deep", source=source) from None
    except ValueError as exc:
        message = str(exc)
        if "integer string conversion" in message:  # Python's own limit on digits
            message = "a number has thousands of digits; refused"
        raise WorkflowError("$", message, source=source) from None
    check_values(value, source)
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value, source)
    return value


# JSON may spell a lone UTF-16 surrogate ("\ud800"); Python keeps it in the string, and no file can
# hold it: saving the workflow, or a PNG that embeds it, would fail later and far from the cause.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(value: Any, source: str | None) -> None:
    stack = [value]
    while stack:
        container = stack.pop()
        items = container.items() if isinstance(container, dict) else enumerate(container) \
            if isinstance(container, list) else ()
        for k, x in items:
            if isinstance(k, str) and _LONE_SURROGATE.search(k):
                raise WorkflowError(_path_of(value, container), f"the key {k!r} holds an unpaired UTF-16 "
                                    "surrogate, which no file can store", source=source)
            if isinstance(x, str):
                if _LONE_SURROGATE.search(x):
                    raise WorkflowError(_path_of(value, container, k), f"text holds an unpaired UTF-16 "
                                        f"surrogate ({x[:40]!r}), which no file can store", source=source)
            elif isinstance(x, dict | list):
                stack.append(x)
    if isinstance(value, str) and _LONE_SURROGATE.search(value):
        raise WorkflowError("$", "text holds an unpaired UTF-16 surrogate, which no file can store", source=source)


def check_values(value: Any, source: str | None = None) -> None:
    """Refuse what a saved workflow could not hold, naming the JSON path: nesting deeper than
    MAX_DEPTH, more than MAX_JSON_ITEMS values, NaN or infinite numbers (``1e999`` parses as one),
    integers beyond MAX_INT, keys that are not text and values that are not JSON. Iterative, so a
    hostile document cannot exhaust the stack; linear in the document."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    if not isinstance(value, dict | list | tuple):
        _check_scalar(value, value, None, source)
        return
    while stack:
        container, depth = stack.pop()
        count += len(container)
        if count > MAX_JSON_ITEMS:
            raise WorkflowError("$", f"the document holds more than {MAX_JSON_ITEMS:,} JSON values; refused",
                                source=source)
        if type(container) is dict:
            for k, x in container.items():
                if type(k) is not str:
                    raise WorkflowError(_path_of(value, container),
                                        f"an object key is {type(k).__name__}, not text", source=source)
                t = type(x)
                if t is dict or t is list or t is tuple:
                    if depth >= MAX_DEPTH:
                        _too_deep(value, container, k, source)
                    if x:
                        stack.append((x, depth + 1))
                elif not (t is str or t is bool or x is None or (t is float and x - x == 0.0)
                          or (t is int and -MAX_INT <= x <= MAX_INT)):
                    _check_scalar(value, container, k, source)
        else:
            for i, x in enumerate(container):
                t = type(x)
                if t is dict or t is list or t is tuple:
                    if depth >= MAX_DEPTH:
                        _too_deep(value, container, i, source)
                    if x:
                        stack.append((x, depth + 1))
                elif not (t is str or t is bool or x is None or (t is float and x - x == 0.0)
                          or (t is int and -MAX_INT <= x <= MAX_INT)):
                    _check_scalar(value, container, i, source)


def _too_deep(root: Any, container: Any, key: Any, source: str | None) -> None:
    raise WorkflowError(_path_of(root, container, key), f"nested more than {MAX_DEPTH} levels deep",
                        source=source)


def _check_scalar(root: Any, container: Any, key: Any, source: str | None) -> None:
    """Raise for a value that is not a plain, finite, bounded JSON scalar (subclasses included)."""
    x = container if key is None else container[key]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return
    where = "$" if key is None else _path_of(root, container, key)
    if isinstance(x, float):
        if math.isfinite(x):
            return
        raise WorkflowError(where, "number out of range (NaN and infinite numbers are not allowed)", source=source)
    if isinstance(x, int):
        if -MAX_INT <= x <= MAX_INT:
            return
        raise WorkflowError(where, f"number out of range (about {x.bit_length() * 0.30103:.0f} digits)",
                            source=source)
    raise WorkflowError(where, f"{type(x).__name__} is not a JSON value", source=source)


def _key_text(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    return f".{key}" if _PLAIN_KEY.match(key) else f"[{json.dumps(key)}]"


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _path_of(root: Any, target: Any, key: Any = None) -> str:
    """The JSON path of ``target`` (found by identity) inside ``root``, plus ``key`` if given. Only
    runs when something is wrong, so it may walk the document once more."""
    stack: list[tuple[Any, str]] = [(root, "$")]
    found = None
    while stack:
        v, path = stack.pop()
        if v is target:
            found = path
            break
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list | tuple) else ()
        for k, x in items:
            if isinstance(x, dict | list | tuple):
                stack.append((x, path + _key_text(k if isinstance(v, dict) else int(k))))
    if found is None:
        found = "$"
    return found if key is None else found + _key_text(key)
