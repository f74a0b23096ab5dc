"""Node types declared as data: ports, parameters and one function.

A node type is what ``@node(...)`` turns a plain function into. The function receives a
``NodeContext`` first and then every input by name (wires and parameters alike; an unconnected
optional wire is ``None``). It returns one value per declared output: a single value, a tuple in
output order, or a dict keyed by output name.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .types import ANY_FAMILY, PARAM_KINDS, SEED_MAX, WIRE_KINDS, Kind, PortType

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_SEMVER_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class NodeDefinitionError(ValueError):
    """A node type was declared wrongly (a programming error in a node module or plugin)."""


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    type: PortType
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | None = None
    widget: str | None = None
    optional: bool = False
    label: str | None = None
    tooltip: str = ""
    file_kind: str | None = None

    @property
    def wire(self) -> bool:
        """True for inputs fed by a wire, False for parameters edited in the inspector."""
        return self.type.is_wire

    @property
    def kind(self) -> Kind:
        return self.type.kind

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None if it is."""
        k = self.type.kind
        if k in (Kind.INT, Kind.SEED):
            if isinstance(value, bool) or not isinstance(value, int):
                return f"expects a whole number, got {_describe(value)}"
            lo, hi = (0, SEED_MAX) if k is Kind.SEED else (self.min, self.max)
            return _range_problem(value, lo, hi)
        if k is Kind.FLOAT:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"expects a number, got {_describe(value)}"
            # Whole numbers compare exactly (10**400 does not fit a float, so no float() on them).
            if isinstance(value, float) and not math.isfinite(value):
                return f"expects a finite number, got {value}"
            return _range_problem(value, self.min, self.max)
        if k is Kind.BOOL:
            return None if isinstance(value, bool) else f"expects true or false, got {_describe(value)}"
        if k in (Kind.STRING, Kind.FILE):
            return None if isinstance(value, str) else f"expects text, got {_describe(value)}"
        if k is Kind.ENUM:
            if not isinstance(value, str):
                return f"expects one of {', '.join(self.choices or ())}, got {_describe(value)}"
            if self.choices and value not in self.choices:
                return f"{_REPR.repr(value)} is not one of {', '.join(self.choices)}"
        return None

    def coerce(self, text: str) -> Any:
        """Turn command-line text into a value of this parameter's kind (ValueError if impossible)."""
        k = self.type.kind
        if k in (Kind.INT, Kind.SEED):
            return int(text, 0)
        if k is Kind.FLOAT:
            return float(text)
        if k is Kind.BOOL:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {text!r}")
        return text


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    type: PortType
    label: str | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class BoxParams:
    """Which parameters of a node type form a rectangle on the image, for the box editor: the names of
    its x, y, width and height parameters (image pixels, or fractions 0–1 of the output size when
    ``relative``) and of the text shown as its label (a phrase or prompt; "" for none)."""

    x: str = "x"
    y: str = "y"
    width: str = "width"
    height: str = "height"
    label: str = ""
    relative: bool = False

    @property
    def names(self) -> tuple[str, str, str, str]:
        return (self.x, self.y, self.width, self.height)


@dataclass(frozen=True)
class NodeType:
    id: str
    version: str
    category: str
    title: str
    description: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    fn: Callable[..., Any]
    side_effect: bool = False
    # ``family(params, services) -> family or None``: the family of this node's outputs, read from
    # its parameters (a model file's header, say) with the document's lookup services.
    family: Callable[[Mapping[str, Any], Any], str | None] | None = None
    summary: tuple[str, ...] = ()
    upgrade: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    # Extra signature input for nodes whose result depends on more than their parameters
    # (a file's size and mtime, say): ``fingerprint(params, services) -> JSON-able value``.
    fingerprint: Callable[[Mapping[str, Any], Any], Any] | None = None
    # Problems the parameters have before anything runs (a save folder outside the output folder,
    # a model name that leaves the model folders): ``check(params, services) -> [(param, message)]``.
    # ``validate`` reports them, so a file that ``run`` would refuse never validates.
    check: Callable[[Mapping[str, Any], Any], Iterable[tuple[str | None, str]]] | None = None
    # Other names the library search finds this type by (ComfyUI class names, common words).
    aliases: tuple[str, ...] = ()
    # Editor-only nodes (notes) never run; pass-through nodes (reroutes) hand their one input to
    # their one output and are routed around when a run is planned, so they never run either.
    editor_only: bool = False
    passthrough: bool = False
    source: str = ""
    # A rectangle the box editor draws and edits (regional prompts, GLIGEN boxes, layout guidance).
    box: BoxParams | None = None
    _by_name: dict[str, Input] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({i.name: i for i in self.inputs})

    def input(self, name: str) -> Input | None:
        return self._by_name.get(name)

    def output(self, name: str) -> Output | None:
        for out in self.outputs:
            if out.name == name:
                return out
        return None

    @property
    def wires(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.wire)

    @property
    def params(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if not i.wire)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def default_params(self) -> dict[str, Any]:
        return {i.name: i.default for i in self.params}

    def __call__(self, ctx: Any, **kwargs: Any) -> Any:
        return self.fn(ctx, **kwargs)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _show(value: Any) -> str:
    """A value for a message, short whatever its size (Python will not even print an int of 5,000
    digits, and a file may hold one)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        if value.bit_length() < 1000:
            return f"{float(value):.6g}"
        return f"a number of about {value.bit_length() * 0.30103:.0f} digits"
    return _REPR.repr(value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {_show(value)}"


def _range_problem(value: float, lo: float | None, hi: float | None) -> str | None:
    if lo is not None and value < lo:
        return f"{_show(value)} is below the minimum {lo}"
    if hi is not None and value > hi:
        return f"{_show(value)} is above the maximum {hi}"
    return None


# --- declaration helpers: what node modules use -------------------------------------------------


def Wire(name: str, type: str | PortType, *, optional: bool = False, label: str | None = None,
         tooltip: str = "") -> Input:
    """An input fed by a wire, e.g. ``Wire("image", "IMAGE")`` or ``Wire("model", "MODEL[$F]")``."""
    return Input(name, PortType.parse(type), optional=optional, label=label, tooltip=tooltip)


def Int(name: str, default: int, *, min: int | None = None, max: int | None = None, step: int = 1,
        widget: str | None = None, label: str | None = None, tooltip: str = "") -> Input:
    return Input(name, PortType(Kind.INT), default, min, max, step, widget=widget, label=label, tooltip=tooltip)


def Float(name: str, default: float, *, min: float | None = None, max: float | None = None,
          step: float = 0.01, widget: str | None = None, label: str | None = None, tooltip: str = "") -> Input:
    return Input(name, PortType(Kind.FLOAT), float(default), min, max, step, widget=widget, label=label,
                 tooltip=tooltip)


def String(name: str, default: str = "", *, multiline: bool = False, label: str | None = None,
           tooltip: str = "") -> Input:
    return Input(name, PortType(Kind.STRING), default, widget="prompt" if multiline else None, label=label,
                 tooltip=tooltip)


def Bool(name: str, default: bool = False, *, label: str | None = None, tooltip: str = "") -> Input:
    return Input(name, PortType(Kind.BOOL), default, label=label, tooltip=tooltip)


def Choice(name: str, choices: Sequence[str], default: str | None = None, *, label: str | None = None,
           tooltip: str = "") -> Input:
    choices = tuple(choices)
    return Input(name, PortType(Kind.ENUM), default if default is not None else choices[0], choices=choices,
                 label=label, tooltip=tooltip)


def Seed(name: str = "seed", default: int = 0, *, label: str | None = None, tooltip: str = "") -> Input:
    return Input(name, PortType(Kind.SEED), default, 0, SEED_MAX, 1, label=label, tooltip=tooltip)


SEED_POLICIES = ("fixed", "increment", "decrement", "randomize")


def SeedControl(seed: str = "seed", default: str = "fixed") -> Input:
    """What happens to seed input ``seed`` after each queued run (ComfyUI's "control after generate"):
    a parameter of its own, saved in the file, undoable and honoured by the command line."""
    return Input(f"{seed}_control", PortType(Kind.ENUM), default, choices=SEED_POLICIES, widget="seed_control",
                 label="control after generate",
                 tooltip="after each queued run: keep the seed, add or subtract 1, or pick a random one")


def File(name: str, default: str = "", *, file_kind: str, label: str | None = None, tooltip: str = "",
         optional: bool = False) -> Input:
    """A file parameter; ``file_kind`` says where choices come from (``image``, ``checkpoints``, ...)."""
    return Input(name, PortType(Kind.FILE), default, widget=file_kind, file_kind=file_kind,
                 optional=optional, label=label, tooltip=tooltip)


def Out(name: str, type: str | PortType, *, label: str | None = None) -> Output:
    return Output(name, PortType.parse(type), label=label)


def node(
    id: str,
    *,
    title: str,
    category: str,
    version: str = "1.0.0",
    inputs: Sequence[Input] = (),
    outputs: Sequence[Output] = (),
    description: str | None = None,
    side_effect: bool = False,
    family: Callable[[Mapping[str, Any], Any], str | None] | None = None,
    summary: Sequence[str] | None = None,
    upgrade: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
    fingerprint: Callable[[Mapping[str, Any], Any], Any] | None = None,
    check: Callable[[Mapping[str, Any], Any], Iterable[tuple[str | None, str]]] | None = None,
    aliases: Sequence[str] = (),
    editor_only: bool = False,
    passthrough: bool = False,
    box: BoxParams | None = None,
) -> Callable[[Callable[..., Any]], NodeType]:
    """Declare a node type from a function. The result is the ``NodeType``; the registry finds it."""

    def wrap(fn: Callable[..., Any]) -> NodeType:
        doc = (description or fn.__doc__ or "").strip()
        nt = NodeType(
            id=id, version=version, category=category, title=title, description=" ".join(doc.split()),
            inputs=tuple(inputs), outputs=tuple(outputs), fn=fn, side_effect=side_effect, family=family,
            summary=tuple(summary if summary is not None else [i.name for i in inputs if not i.wire][:3]),
            upgrade=upgrade, fingerprint=fingerprint, check=check, aliases=tuple(aliases),
            editor_only=editor_only, passthrough=passthrough, source=fn.__module__, box=box,
        )
        check_node_type(nt)
        return nt

    return wrap


def check_node_type(nt: NodeType) -> None:
    """Refuse a malformed declaration early, with a message that names the node type."""

    def fail(msg: str) -> None:
        raise NodeDefinitionError(f"node type {nt.id!r}: {msg}")

    if not _ID_RE.match(nt.id):
        fail("id must look like 'category.name' (lower case, dots between parts)")
    if not _SEMVER_RE.match(nt.version):
        fail(f"version {nt.version!r} is not MAJOR.MINOR.PATCH")
    names = [i.name for i in nt.inputs]
    if len(set(names)) != len(names):
        fail("two inputs share a name")
    if len({o.name for o in nt.outputs}) != len(nt.outputs):
        fail("two outputs share a name")
    for i in nt.inputs:
        if not _NAME_RE.match(i.name):
            fail(f"input name {i.name!r} must be a lower-case identifier")
        if i.type.kind in PARAM_KINDS:
            p = i.problem(i.default)
            if p and not (i.optional and i.default is None):
                fail(f"default of {i.name!r} {p}")
    for o in nt.outputs:
        if o.type.kind not in WIRE_KINDS and not (nt.passthrough and o.type.kind is Kind.ANY):
            fail(f"output {o.name!r} must be a wire type, not {o.type.kind.value}")
        if o.type.family != ANY_FAMILY and o.type.family.startswith("$") and nt.family is None and not any(
            i.type.family == o.type.family for i in nt.inputs
        ):
            fail(f"output {o.name!r} uses family {o.type.family} that nothing binds")
    for s in nt.summary:
        if s not in names:
            fail(f"summary names unknown input {s!r}")
    if nt.passthrough and (len(nt.wires) != 1 or len(nt.outputs) != 1):
        fail("a pass-through node has exactly one wire input and one output")
    if nt.editor_only and (nt.wires or nt.outputs):
        fail("an editor-only node has no wires")
    if nt.box is not None:
        for name in (*nt.box.names, *([nt.box.label] if nt.box.label else [])):
            param = nt.input(name)
            if param is None or param.wire:
                fail(f"box names {name!r}, which is not a parameter")
