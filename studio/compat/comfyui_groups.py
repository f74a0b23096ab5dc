"""ComfyUI group nodes, expanded into the nodes they stand for.

A UI file may define group node types in ``extra.groupNodes[name]``: ``nodes`` (the members, as the
editor serialises them), ``links`` (``[from index, from slot, to index, to slot, from id, type]``, by
member index) and ``external`` (``[member index, output slot, type]``: outputs that also leave the
group). Each instance is a node of type ``workflow>name`` (older files: ``workflow/name``) whose
ports and widgets are derived from the members:

- inputs: member by member, each member's wire inputs that no member feeds; then, after all members,
  the members' widgets that were turned into inputs, the same way;
- outputs: member by member, each output that is not wired inside the group, or is also listed in
  ``external``;
- widgets: the members' widget values one after another (virtual members such as notes and reroutes
  have none); values of widgets turned into inputs come after all the others, and a widget fed by a
  member inside the group is none of the group's (a Primitive member's value goes to the widget it feeds).

An optional ``config[member index].input|output[name or slot].visible = false`` hides a port.
The expansion rewrites the file's node and link lists; nothing else of the file changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio.core.jsonread import MAX_JSON_ITEMS
from studio.core.workflow import MAX_NODES

from .comfyui_schema import SPECS
from .jsonsafe import Reader

PREFIXES = ("workflow>", "workflow/")
_VIRTUAL = frozenset({"Note", "MarkdownNote", "Reroute"})  # members without widgets of the group
_MAX_DEPTH = 4  # group nodes inside group nodes, this deep


@dataclass
class _Member:
    raw: dict[str, Any]
    slots: list[int] = field(default_factory=list)  # wire input positions, in order
    converted: list[int] = field(default_factory=list)  # widget-input positions, in order
    widgets: list[Any] = field(default_factory=list)


@dataclass
class _Definition:
    name: str
    members: list[_Member]
    links: list[tuple[int, int, int, int, str]]  # (from index, from slot, to index, to slot, type)
    inputs: list[tuple[int, int]] = field(default_factory=list)  # instance input → (member, input slot)
    outputs: list[tuple[int, int]] = field(default_factory=list)  # instance output → (member, output slot)
    fed: set[tuple[int, int]] = field(default_factory=set)  # (member, input slot) wired inside the group


def group_name(node_type: Any) -> str | None:
    if isinstance(node_type, str):
        for prefix in PREFIXES:
            if node_type.startswith(prefix):
                return node_type[len(prefix):]
    return None


def expand_group_nodes(data: dict[str, Any], r: Reader) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``data`` with every group node instance replaced by its members, and report notes as
    (kind, text). ``data`` itself is not changed."""
    extra = data.get("extra")
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    if not isinstance(groups, dict) or not groups:
        return data, []
    notes: list[tuple[str, str]] = []
    definitions: dict[str, _Definition] = {}
    for _ in range(_MAX_DEPTH):
        nodes = r.arr(data.get("nodes"), "$.nodes")
        instances = [n for n in nodes if isinstance(n, dict) and group_name(n.get("type")) in groups]
        if not instances:
            break
        for node in instances:
            name = group_name(node.get("type")) or ""
            if name not in definitions:
                definitions[name] = _definition(name, groups[name], r)
        used = [definitions[group_name(n.get("type")) or ""] for n in instances]
        if len(nodes) + sum(len(d.members) for d in used) > MAX_NODES:
            raise r.fail("$.extra.groupNodes", f"expanding the group nodes makes more than {MAX_NODES} nodes")
        if len(data.get("links") or []) + sum(len(d.links) for d in used) > MAX_JSON_ITEMS:
            raise r.fail("$.extra.groupNodes", f"expanding the group nodes makes more than {MAX_JSON_ITEMS} links")
        data = _expand(data, instances, definitions, r, notes)
    return data, notes


def _definition(name: str, raw: Any, r: Reader) -> _Definition:
    path = f"$.extra.groupNodes[{name!r}]"
    raw = r.obj(raw, path)
    members = [_Member(r.obj(m, f"{path}.nodes[{i}]")) for i, m in enumerate(r.arr(raw.get("nodes"), f"{path}.nodes"))]
    links: list[tuple[int, int, int, int, str]] = []
    for i, link in enumerate(r.arr(raw.get("links") or [], f"{path}.links")):
        lpath = f"{path}.links[{i}]"
        link = r.arr(link, lpath)
        if len(link) < 4 or link[0] is None or link[2] is None:
            continue  # a wire from outside the group (the editor keeps it as a null source)
        src, dst = r.whole(link[0], f"{lpath}[0]"), r.whole(link[2], f"{lpath}[2]")
        if not (0 <= src < len(members) and 0 <= dst < len(members)):
            raise r.fail(lpath, f"refers to member {src if not 0 <= src < len(members) else dst}, which the group "
                                "does not have")
        kind = link[5] if len(link) > 5 and isinstance(link[5], str) else "*"
        links.append((src, r.whole(link[1], f"{lpath}[1]"), dst, r.whole(link[3], f"{lpath}[3]"), kind))
    external = set()
    for i, ext in enumerate(r.arr(raw.get("external") or [], f"{path}.external")):
        ext = r.arr(ext, f"{path}.external[{i}]")
        if len(ext) >= 2:
            external.add((r.whole(ext[0], f"{path}.external[{i}][0]"), r.whole(ext[1], f"{path}.external[{i}][1]")))
    config = _dict(raw.get("config"))
    d = _Definition(name, members, links)
    fed = d.fed = {(dst, dslot) for _s, _ss, dst, dslot, _t in links}
    feeding = {(src, sslot) for src, sslot, _d, _ds, _t in links}
    for idx, m in enumerate(members):
        for key in ("inputs", "outputs"):
            r.arr(m.raw.get(key) or [], f"{path}.nodes[{idx}].{key}")
        for j, inp in enumerate(m.raw.get("inputs") or []):
            if isinstance(inp, dict):
                (m.converted if isinstance(inp.get("widget"), dict) else m.slots).append(j)
        widgets = m.raw.get("widgets_values")
        m.widgets = list(widgets) if isinstance(widgets, list) else []
        hidden = _hidden(config, idx)
        d.inputs += [(idx, j) for j in m.slots if (idx, j) not in fed and _name(m, "inputs", j) not in hidden[0]]
        for slot, _out in enumerate(m.raw.get("outputs") or []):
            wired_inside = (idx, slot) in feeding and (idx, slot) not in external
            visible = hidden[1].get(slot, not wired_inside)
            if visible:
                d.outputs.append((idx, slot))
    for idx, m in enumerate(members):  # widgets turned into inputs come after every member's inputs
        d.inputs += [(idx, j) for j in m.converted if (idx, j) not in fed]
    return d


def _hidden(config: dict[str, Any], idx: int) -> tuple[set[str], dict[int, bool]]:
    """Input names hidden, and output slots with a chosen visibility, by the group's config."""
    entry = _dict(config.get(str(idx)))
    inputs, outputs = _dict(entry.get("input")), _dict(entry.get("output"))
    hidden = {name for name, c in inputs.items() if isinstance(c, dict) and c.get("visible") is False}
    shown = {int(k): c["visible"] for k, c in outputs.items()
             if isinstance(c, dict) and isinstance(c.get("visible"), bool) and str(k).isdigit()}
    return hidden, shown


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(m: _Member, key: str, j: int) -> Any:
    ports = m.raw.get(key) or []
    return ports[j].get("name") if j < len(ports) and isinstance(ports[j], dict) else None


def _expand(data: dict[str, Any], instances: list[dict[str, Any]], definitions: dict[str, _Definition], r: Reader,
            notes: list[tuple[str, str]]) -> dict[str, Any]:
    links = [lk for lk in r.arr(data.get("links") or [], "$.links")]
    next_id = 1 + max((_link_id(lk) for lk in links), default=0)
    by_target: dict[tuple[str, int], int] = {}  # (instance id, input) → index into links
    by_origin: dict[tuple[str, int], list[int]] = {}  # (instance id, output) → indices into links
    ids = {str(n.get("id")) for n in instances}
    for i, lk in enumerate(links):
        fields = _fields(lk)
        if fields is None:
            continue
        if str(fields[3]) in ids:
            by_target[(str(fields[3]), _int(fields[4]))] = i
        if str(fields[1]) in ids:
            by_origin.setdefault((str(fields[1]), _int(fields[2])), []).append(i)
    members_out: list[dict[str, Any]] = []
    for inst in instances:
        d = definitions[group_name(inst.get("type")) or ""]
        iid = str(inst.get("id"))
        new_ids = [f"{iid}:{i}" for i in range(len(d.members))]
        made = [_member_node(inst, d, i, new_ids[i]) for i in range(len(d.members))]
        _place(inst, made)
        _fill_widgets(inst, d, made, notes)
        for src, sslot, dst, dslot, kind in d.links:
            links.append([next_id, new_ids[src], sslot, new_ids[dst], dslot, kind])
            _set_link(made[dst], dslot, next_id)
            next_id += 1
        for j, (idx, slot) in enumerate(d.inputs):
            at = by_target.get((iid, j))
            if at is not None:
                links[at] = _retarget(links[at], target=(new_ids[idx], slot))
                _set_link(made[idx], slot, _link_id(links[at]))
        for k, (idx, slot) in enumerate(d.outputs):
            for at in by_origin.get((iid, k), []):
                links[at] = _retarget(links[at], origin=(new_ids[idx], slot))
        members_out += made
        notes.append(("info", f"group node {d.name!r} (#{iid}) expanded into its {len(d.members)} member nodes"))
    gone = {id(n) for n in instances}
    kept = [n for n in r.arr(data.get("nodes"), "$.nodes") if id(n) not in gone]
    return {**data, "nodes": kept + members_out, "links": links}


def _member_node(inst: dict[str, Any], d: _Definition, i: int, new_id: str) -> dict[str, Any]:
    node = dict(d.members[i].raw)
    node["id"] = new_id
    node["inputs"] = [dict(inp, link=None) if isinstance(inp, dict) else inp for inp in node.get("inputs") or []]
    mode = inst.get("mode")
    if mode in (2, 4):  # a muted or bypassed group mutes or bypasses every member
        node["mode"] = mode
    return node


def _place(inst: dict[str, Any], made: list[dict[str, Any]]) -> None:
    """Members keep their layout, moved to where the instance stands."""
    points = [n.get("pos") for n in made]
    xy = [(float(p[0]), float(p[1])) for p in points if isinstance(p, list | tuple) and len(p) >= 2
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p[:2])]
    at = inst.get("pos")
    if not xy or not (isinstance(at, list | tuple) and len(at) >= 2
                      and all(isinstance(v, int | float) and not isinstance(v, bool) for v in at[:2])):
        return
    left, top = min(x for x, _ in xy), min(y for _, y in xy)
    for n in made:
        p = n.get("pos")
        if isinstance(p, list | tuple) and len(p) >= 2 and all(isinstance(v, int | float) for v in p[:2]):
            n["pos"] = [float(at[0]) + float(p[0]) - left, float(at[1]) + float(p[1]) - top]


def _fill_widgets(inst: dict[str, Any], d: _Definition, made: list[dict[str, Any]],
                  notes: list[tuple[str, str]]) -> None:
    """Hand the instance's widget values to the members, in the group's order."""
    values = inst.get("widgets_values")
    if values is None or values == []:
        return  # nothing saved on the instance: the members keep the values of the definition
    order = _widget_order(d)
    if order is None or not isinstance(values, list) or len(values) != len(order):
        notes.append(("approximated", f"group node {d.name!r} (#{inst.get('id')}): its widget values do not line up "
                                      "with the group's members; each member keeps the values stored in the group"))
        return
    widgets = [list(m.widgets) for m in d.members]
    for (idx, position), value in zip(order, values, strict=True):
        widgets[idx][position] = value
    _primitives_to_widgets(d, widgets)
    for idx, m in enumerate(d.members):
        if m.widgets:
            made[idx]["widgets_values"] = widgets[idx]


def _primitives_to_widgets(d: _Definition, widgets: list[list[Any]]) -> None:
    """A Primitive member's value is the group's widget; the widget it feeds inside keeps a stale copy
    in the definition: give it the primitive's value, as the editor does before a run."""
    for src, _sslot, dst, dslot, _kind in d.links:
        if d.members[src].raw.get("type") != "PrimitiveNode" or not widgets[src]:
            continue
        names = _widget_names(d.members[dst])
        name = _name_of_widget(d.members[dst], dslot)
        if names is not None and name in names and len(names) == len(widgets[dst]):
            at = names.index(name)
            widgets[dst][at] = widgets[src][0]
            if at + 1 < len(names) and names[at + 1] == name and len(widgets[src]) > 1:
                widgets[dst][at + 1] = widgets[src][1]  # a seed's "control after generate" too


def _widget_order(d: _Definition) -> list[tuple[int, int]] | None:
    """(member, position in its widget values) for each widget value of an instance, in order; None
    where a member's widgets turned into inputs cannot be placed (a class the importer does not know)."""
    early: list[tuple[int, int]] = []
    late: list[tuple[int, int]] = []  # widgets turned into inputs: after every member's other widgets
    for idx, m in enumerate(d.members):
        if m.raw.get("type") in _VIRTUAL or not m.widgets:
            continue
        converted = {_name_of_widget(m, j) for j in m.converted}
        if not converted:
            early += [(idx, p) for p in range(len(m.widgets))]
            continue
        names = _widget_names(m)
        if names is None or len(names) != len(m.widgets):
            return None
        inside = {_name_of_widget(m, j) for j in m.converted if (idx, j) in d.fed}  # no widget of the group
        for p, name in enumerate(names):
            if name not in inside:
                (late if name in converted else early).append((idx, p))
    return early + late


def _name_of_widget(m: _Member, j: int) -> Any:
    inputs = m.raw.get("inputs") or []
    widget = inputs[j].get("widget") if j < len(inputs) and isinstance(inputs[j], dict) else None
    return widget.get("name") if isinstance(widget, dict) else None


def _widget_names(m: _Member) -> list[str] | None:
    """The names of a member's widget values, position by position ("control after generate" takes
    its seed's name): known only for the classes the importer knows."""
    spec = SPECS.get(str(m.raw.get("type")))
    if spec is None:
        return None
    names: list[str] = []
    for name, _default in spec.widgets:
        names.append(name)
        if name in spec.seeds:
            names.append(name)
    return names


def _fields(link: Any) -> list[Any] | None:
    if isinstance(link, dict):
        return [link.get(k) for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")]
    if isinstance(link, list) and len(link) >= 5:
        return list(link) + [None] * (6 - len(link))
    return None


def _link_id(link: Any) -> int:
    fields = _fields(link)
    return _int(fields[0]) if fields else 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _retarget(link: Any, *, target: tuple[str, int] | None = None, origin: tuple[str, int] | None = None) -> Any:
    if isinstance(link, dict):
        link = dict(link)
        if target:
            link["target_id"], link["target_slot"] = target
        if origin:
            link["origin_id"], link["origin_slot"] = origin
        return link
    link = list(link)
    if target:
        link[3], link[4] = target
    if origin:
        link[1], link[2] = origin
    return link


def _set_link(node: dict[str, Any], slot: int, link_id: int) -> None:
    inputs = node.get("inputs") or []
    if 0 <= slot < len(inputs) and isinstance(inputs[slot], dict):
        inputs[slot]["link"] = link_id
