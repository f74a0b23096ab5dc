"""ComfyUI's two file formats → one neutral list of nodes with named values and resolved wires.

API prompts (``{id: {"class_type", "inputs"}}``) already name every value; UI files store widget
values by position and carry editor matter: Reroute, Note and Primitive nodes, muted nodes (mode 2,
never run), bypassed nodes (mode 4, inputs pass through to same-typed outputs), collapse and colours.
All of it is kept for the builder except Primitive nodes, whose values already sit in the widgets
they feed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from studio.core.graph import MAX_PORTS

from .comfyui_schema import CONTROL_AFTER_GENERATE, SPECS
from .jsonsafe import Reader
from .report import ImportReport

MUTED, BYPASSED = 2, 4
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# Slots are list positions we may have to fill with names: bound them before anything grows a list.
MAX_SLOT = MAX_PORTS - 1


@dataclass
class CNode:
    id: str
    class_type: str
    path: str  # JSON path of the node, for error messages
    values: dict[str, Any] = field(default_factory=dict)  # parameter values by name
    value_paths: dict[str, str] = field(default_factory=dict)
    raw_widgets: Any = None  # UI widget values that could not be named (unknown class)
    seed_controls: dict[str, str] = field(default_factory=dict)  # seed widget → "control after generate"
    links: dict[str, tuple[str, int]] = field(default_factory=dict)  # wire input → (source id, slot)
    wired_params: dict[str, tuple[str, int]] = field(default_factory=dict)  # parameters fed by a wire
    input_names: list[str] = field(default_factory=list)
    input_types: dict[str, str] = field(default_factory=dict)
    output_names: list[str] = field(default_factory=list)
    output_types: list[str] = field(default_factory=list)
    pos: tuple[float, float] | None = None
    title: str | None = None
    mode: int = 0
    collapsed: bool = False
    color: str | None = None  # "#rrggbb"

    def set_title(self, title: Any) -> None:
        """Keep a title only where the user gave one (not ComfyUI's default display name)."""
        spec = SPECS.get(self.class_type)
        if isinstance(title, str) and title.strip() and title not in (self.class_type, spec.title if spec else None):
            self.title = title

    @property
    def label(self) -> str:
        return f"{self.class_type} #{self.id}" + (f" ({self.title!r})" if self.title else "")


@dataclass
class CGroup:
    title: str
    rect: tuple[float, float, float, float]
    color: str | None = None


@dataclass
class CDoc:
    kind: str  # "api" or "ui"
    nodes: dict[str, CNode]
    groups: list[CGroup] = field(default_factory=list)


def hex_color(value: Any) -> str | None:
    """``#rgb`` or ``#rrggbb`` (ComfyUI writes both) as ``#rrggbb``; None for anything else."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        return None
    digits = value[1:].lower()
    return "#" + ("".join(ch * 2 for ch in digits) if len(digits) == 3 else digits)


def is_api(data: dict[str, Any]) -> bool:
    return bool(data) and all(isinstance(v, dict) and "class_type" in v for v in data.values())


def is_ui(data: dict[str, Any]) -> bool:
    return isinstance(data.get("nodes"), list) and ("links" in data or "version" in data)


# --- API prompts ----------------------------------------------------------------------------------


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int)
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool))


def parse_api(data: dict[str, Any], r: Reader) -> CDoc:
    nodes: dict[str, CNode] = {}
    for cid, raw in data.items():
        path = f"$[{json.dumps(cid)}]"
        raw = r.obj(raw, path)
        node = CNode(cid, r.name(raw.get("class_type"), f"{path}.class_type"), path)
        meta = raw.get("_meta")
        if isinstance(meta, dict):
            node.set_title(meta.get("title"))
        inputs = r.obj(raw.get("inputs", {}), f"{path}.inputs")
        spec = SPECS.get(node.class_type)
        wire_names = {name for name, _ in spec.inputs} if spec else set()
        for name, value in inputs.items():
            ipath = f"{path}.inputs.{name}"
            if _is_link(value):
                src = str(value[0])
                if src not in data:
                    raise r.fail(ipath, f"links to node {src!r}, which is not in the prompt")
                if value[1] < 0:
                    raise r.fail(f"{ipath}[1]", "output slot must not be negative")
                if value[1] > MAX_SLOT:
                    raise r.fail(f"{ipath}[1]", f"links to output {value[1]} of node {src!r}; a node has at most "
                                                f"{MAX_PORTS} outputs")
                if spec is None or name in wire_names:
                    node.links[name] = (src, value[1])
                else:
                    node.wired_params[name] = (src, value[1])
            else:
                node.values[name] = value
                node.value_paths[name] = ipath
        if len(node.links) > MAX_PORTS:
            raise r.fail(f"{path}.inputs", f"{node.label} has {len(node.links)} wired inputs; at most {MAX_PORTS} "
                                           "are allowed")
        node.input_names = [n for n, _ in spec.inputs] if spec else list(node.links)
        nodes[cid] = node
    # API prompts name no outputs: take ComfyUI's names for known classes, slot numbers otherwise.
    for node in nodes.values():
        spec = SPECS.get(node.class_type)
        if spec:
            node.output_names = [n for n, _ in spec.outputs]
            node.output_types = [t for _, t in spec.outputs]
    for node in nodes.values():
        for src, slot in node.links.values():
            target = nodes[src]
            if target.class_type not in SPECS:
                while len(target.output_names) <= slot:
                    target.output_names.append(f"output {len(target.output_names)}")
    return CDoc("api", nodes)


# --- UI workflows ---------------------------------------------------------------------------------


def _links_table(data: dict[str, Any], r: Reader) -> dict[int, tuple[str, int, str, int, str]]:
    """link id → (origin id, origin slot, target id, target slot, type), for both schema versions."""
    table: dict[int, tuple[str, int, str, int, str]] = {}
    for i, raw in enumerate(r.arr(data.get("links", []), "$.links")):
        path = f"$.links[{i}]"
        if raw is None:
            continue
        if isinstance(raw, dict):  # schema version 1
            fields = [raw.get(k) for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")]
        else:
            fields = list(r.arr(raw, path)) + [None] * 6
            if len(raw) < 5:
                raise r.fail(path, "expected [id, from node, from slot, to node, to slot, type]")
        link_id = r.whole(fields[0], f"{path}[0]")
        origin, target = r.ident(fields[1], f"{path} origin"), r.ident(fields[3], f"{path} target")
        table[link_id] = (origin, _slot(fields[2], f"{path} origin slot", origin, r),
                          target, _slot(fields[4], f"{path} target slot", target, r),
                          fields[5] if isinstance(fields[5], str) else "*")
    return table


def _slot(value: Any, path: str, node_id: str, r: Reader) -> int:
    slot = r.whole(value, path)
    if not 0 <= slot <= MAX_SLOT:
        raise r.fail(path, f"slot {slot} of node {node_id} is out of range (0 to {MAX_SLOT})")
    return slot


def _name_widgets(node: CNode, values: Any, path: str, r: Reader) -> None:
    spec = SPECS.get(node.class_type)
    if isinstance(values, dict):  # some node packs store widgets by name
        for name, value in values.items():
            node.values[name] = value
            node.value_paths[name] = f"{path}.{name}"
        return
    values = r.arr(values, path)
    if spec is None:
        node.raw_widgets = list(values)
        return
    i = 0
    # Every seed followed by its slot: whatever that slot holds (but a number) is the control.
    every_control = len(values) == len(spec.widgets) + len(spec.seeds)
    for k, (name, _default) in enumerate(spec.widgets):
        if i >= len(values):
            break
        node.values[name] = values[i]
        node.value_paths[name] = f"{path}[{i}] ({name})"
        i += 1
        if name in spec.seeds and i < len(values):
            # The front end's "control after generate" follows the seed: no value of the node, but the
            # seed policy. Old front ends stored a flag (true: "randomize").
            following = spec.widgets[k + 1][1] if k + 1 < len(spec.widgets) else None
            value = values[i]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if (every_control and not number) or _is_control(value, following):
                control = values[i]
                if isinstance(control, bool):
                    node.seed_controls[name] = "randomize" if control else "fixed"
                elif isinstance(control, str) and control in CONTROL_AFTER_GENERATE:
                    node.seed_controls[name] = control
                i += 1


def _is_control(value: Any, following: Any) -> bool:
    """Whether a value after a seed is its "control after generate" slot rather than the next widget
    (whose default is ``following``): a flag, nothing, a known mode, or text where no text belongs."""
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, str) and (value in CONTROL_AFTER_GENERATE or not isinstance(following, str))


def parse_ui(data: dict[str, Any], r: Reader) -> CDoc:
    table = _links_table(data, r)
    by_target: dict[str, list[tuple[str, int, str, int, str]]] | None = None  # built when first needed
    raw_nodes = r.arr(data.get("nodes"), "$.nodes")
    nodes: dict[str, CNode] = {}
    for i, raw in enumerate(raw_nodes):
        path = f"$.nodes[{i}]"
        raw = r.obj(raw, path)
        node = CNode(r.ident(raw.get("id"), f"{path}.id"), r.name(raw.get("type"), f"{path}.type"), path)
        if node.id in nodes:
            raise r.fail(f"{path}.id", f"duplicate node id {node.id}")
        mode = raw.get("mode", 0)
        node.mode = r.whole(mode if mode is not None else 0, f"{path}.mode")
        pos = r.point(raw.get("pos"), f"{path}.pos", 2)
        node.pos = (pos[0], pos[1]) if pos else None
        node.set_title(raw.get("title"))
        flags = raw.get("flags")
        node.collapsed = isinstance(flags, dict) and flags.get("collapsed") is True
        # The title bar's colour; a node given only a body colour takes that.
        node.color = hex_color(raw.get("color")) or hex_color(raw.get("bgcolor"))
        outputs = r.arr(raw.get("outputs") or [], f"{path}.outputs")
        if len(outputs) > MAX_PORTS:
            raise r.fail(f"{path}.outputs", f"{node.label} has {len(outputs)} outputs; at most {MAX_PORTS} are allowed")
        for j, out in enumerate(outputs):
            out = r.obj(out, f"{path}.outputs[{j}]")
            name = out.get("name")
            node.output_names.append(name if isinstance(name, str) and name else f"output {j}")
            kind = out.get("type")
            node.output_types.append(kind if isinstance(kind, str) else "*")
        _name_widgets(node, raw.get("widgets_values", []) or [], f"{path}.widgets_values", r)
        raw_inputs = raw.get("inputs")
        if raw_inputs is None:
            if by_target is None:
                by_target = {}
                for entry in table.values():
                    by_target.setdefault(entry[2], []).append(entry)
            _inputs_from_table(node, by_target.get(node.id, []))
        else:
            raw_inputs = r.arr(raw_inputs, f"{path}.inputs")
            if len(raw_inputs) > MAX_PORTS:
                raise r.fail(f"{path}.inputs", f"{node.label} has {len(raw_inputs)} inputs; at most {MAX_PORTS} "
                                               "are allowed")
            _inputs_from_node(node, raw_inputs, table, f"{path}.inputs", r)
        nodes[node.id] = node

    for node in nodes.values():
        for name, (src, slot) in [*node.links.items(), *node.wired_params.items()]:
            if src not in nodes:
                raise r.fail(f"{node.path}.inputs ({name})", f"linked to node {src}, which is not in the workflow")
            source = nodes[src]
            if source.output_names and slot >= len(source.output_names):
                raise r.fail(f"{node.path}.inputs ({name})", f"linked to output {slot} of {source.label}, "
                                                             "which has no such output")
            while len(source.output_names) <= slot:
                source.output_names.append(f"output {len(source.output_names)}")
                source.output_types.append("*")

    groups = []
    for i, raw in enumerate(r.arr(data.get("groups", []) or [], "$.groups")):
        raw = r.obj(raw, f"$.groups[{i}]")
        rect = r.point(raw.get("bounding"), f"$.groups[{i}].bounding", 4)
        if rect is None:
            continue
        title, color = raw.get("title"), raw.get("color")
        title = title if isinstance(title, str) else ""
        groups.append(CGroup(title, (rect[0], rect[1], rect[2], rect[3]), hex_color(color)))
    return CDoc("ui", nodes, groups)


def _inputs_from_node(node: CNode, inputs: list[Any], table: dict[int, tuple[str, int, str, int, str]],
                      path: str, r: Reader) -> None:
    for j, inp in enumerate(inputs):
        ipath = f"{path}[{j}]"
        inp = r.obj(inp, ipath)
        name = inp.get("name")
        name = name if isinstance(name, str) else f"input {j}"
        is_widget = isinstance(inp.get("widget"), dict)
        if not is_widget:
            node.input_names.append(name)
            kind = inp.get("type")
            node.input_types[name] = kind if isinstance(kind, str) else "*"
        link_id = inp.get("link")
        if link_id is None:
            continue
        link_id = r.whole(link_id, f"{ipath}.link")
        if link_id not in table:
            raise r.fail(f"{ipath}.link", f"refers to link {link_id}, which is not in $.links")
        src, slot = table[link_id][0], table[link_id][1]
        (node.wired_params if is_widget else node.links)[name] = (src, slot)


def _inputs_from_table(node: CNode, entries: list[tuple[str, int, str, int, str]]) -> None:
    """Wire inputs of a node that lists none, from the links that end at it."""
    spec = SPECS.get(node.class_type)
    names = [n for n, _ in spec.inputs] if spec else []
    for src, slot, _dst, dst_slot, typ in entries:
        name = names[dst_slot] if dst_slot < len(names) else f"input {dst_slot}"
        node.links[name] = (src, slot)
        node.input_types[name] = typ
    node.input_names = names or list(node.links)


# --- editor matter ---------------------------------------------------------------------------------


def resolve(doc: CDoc, report: ImportReport) -> dict[str, CNode]:
    """The nodes to build: all but Primitive nodes (their values are mirrored in the widgets they feed).
    Reroutes, notes, muted and bypassed nodes are kept and wired as in the file."""
    kept = {cid: n for cid, n in doc.nodes.items() if n.class_type != "PrimitiveNode"}
    for node in kept.values():
        for name, (src, _slot) in node.wired_params.items():
            if doc.nodes[src].class_type != "PrimitiveNode":
                report.dropped(f"{node.label}: parameter {name!r} was wired from "
                               f"{doc.nodes[src].label}; the wire is dropped and the saved value kept")
    return kept


def bypass_input(node: CNode, slot: int) -> str | None:
    """The input ComfyUI hands to output ``slot`` of a bypassed node: the input at the same position
    if its type matches, else the first input of that type; None where no input has it."""
    out_type = node.output_types[slot] if slot < len(node.output_types) else "*"
    names = node.input_names
    candidates = ([names[slot]] if slot < len(names) else []) + list(names)
    return next((name for name in candidates if node.input_types.get(name, "*") == out_type), None)
