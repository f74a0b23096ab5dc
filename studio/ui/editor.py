"""The editing controller: every user edit becomes an undo command on one QUndoStack."""

from __future__ import annotations

import copy
import json
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from studio.core.graph import BYPASS, MUTE, NORMAL, Graph, Group, Link, Node, new_id
from studio.core.nodetype import NodeType
from studio.core.types import Verdict, can_connect
from studio.core.workflow import WorkflowError, document_to_graph, graph_to_document, parse_json

from . import undo

FRAGMENT_FORMAT = "latent-studio.fragment"
Rect = tuple[float, float, float, float]


class Editor(QObject):
    message = Signal(str)  # a human message for the status bar (refusals, hints)

    def __init__(self, graph: Graph, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph = graph
        self.stack = QUndoStack(self)

    @property
    def registry(self) -> Any:
        return self.graph.registry

    def set_graph(self, graph: Graph) -> None:
        self.graph = graph
        self.stack.clear()

    # -- nodes ----------------------------------------------------------------------------------
    def _new_node(self, type_id: str, pos: tuple[float, float]) -> Node:
        nt = self.registry.get(type_id)
        if nt is None:
            raise KeyError(type_id)
        return Node(new_id(), type_id, nt.version, nt.default_params(), (float(pos[0]), float(pos[1])))

    def add_node(self, type_id: str, pos: tuple[float, float]) -> str:
        node = self._new_node(type_id, pos)
        self.stack.push(undo.AddNode(self.graph, node))
        return node.id

    def add_node_connected(self, type_id: str, pos: tuple[float, float], port: tuple[str, str, bool]) -> str | None:
        """Add a node and wire it to ``port`` (node id, port name, is_output) in one undo step."""
        nt = self.registry[type_id]
        node = self._new_node(type_id, pos)
        other_id, other_port, is_output = port
        parent = undo.Macro(f"Add {nt.title}")
        parent.add(undo.AddNode(self.graph, node))
        link = None
        if is_output:
            out_t = self.graph.output_type(other_id, other_port)
            target = next((i for i in nt.wires if can_connect(out_t, i.type)), None)
            if target is not None:
                link = Link(other_id, other_port, node.id, target.name)
        else:
            decl = next(i for i in self.graph.input_ports(self.graph.nodes[other_id]) if i.name == other_port)
            source = next((o for o in nt.outputs if can_connect(o.type, decl.type)), None)
            if source is not None:
                link = Link(node.id, source.name, other_id, other_port)
        if link is not None:
            parent.add(undo.Connect(self.graph, link))
        self.stack.push(parent)
        return node.id

    def delete(self, node_ids: list[str]) -> None:
        ids = [n for n in node_ids if n in self.graph.nodes]
        if ids:
            self.stack.push(undo.RemoveNodes(self.graph, ids))

    def move(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
             groups: dict[str, tuple[Rect, Rect]] | None = None, *, text: str | None = None) -> None:
        """Move nodes (and groups, whose rectangles change): one undo step. ``text`` names it."""
        moves = {k: v for k, v in moves.items() if v[0] != v[1] and k in self.graph.nodes}
        groups = {k: v for k, v in (groups or {}).items() if v[0] != v[1]}
        if not moves and not groups:
            return
        if not groups and text is None:
            self.stack.push(undo.MoveNodes(self.graph, moves))
            return
        n = len(groups)
        parent = undo.Macro(text or (f"Move group{'s' if n != 1 else ''}" if n else "Move nodes"))
        if moves:
            parent.add(undo.MoveNodes(self.graph, moves))
        for gid, (old, new) in groups.items():
            parent.add(undo.SetGroup(self.graph, gid, {"rect": (old, new)}))
        self.stack.push(parent)

    # -- modes and looks ------------------------------------------------------------------------
    def toggle_mode(self, node_ids: list[str], mode: str) -> bool:
        """Bypass or mute nodes (ComfyUI's Ctrl+B / Ctrl+M); if all already are, restore them.
        A bypass some node cannot do is refused as a whole, with the reason."""
        ids = [n for n in node_ids if n in self.graph.nodes]
        if not ids:
            return False
        restore = all(self.graph.nodes[n].mode == mode for n in ids)
        target = NORMAL if restore else mode
        if target == BYPASS:
            for nid in ids:
                problem = self.graph.bypass_problem(nid)
                if problem:
                    self.message.emit(problem)
                    return False
        what = {BYPASS: "Bypass", MUTE: "Mute"}[mode]
        count = f"{len(ids)} nodes" if len(ids) != 1 else self.graph.title_of(ids[0])
        self.stack.push(undo.SetMode(self.graph, ids, target, f"{'Un-' + what.lower() if restore else what} {count}"))
        return True

    def set_collapsed(self, node_ids: list[str], collapsed: bool | None = None) -> None:
        """Collapse or expand nodes; ``None`` toggles (collapse unless all are collapsed)."""
        ids = [n for n in node_ids if n in self.graph.nodes]
        if not ids:
            return
        if collapsed is None:
            collapsed = not all(self.graph.nodes[n].collapsed for n in ids)
        ids = [n for n in ids if self.graph.nodes[n].collapsed != collapsed]
        if ids:
            self.stack.push(undo.SetStyle(self.graph, ids, "collapsed", collapsed,
                                          "Collapse" if collapsed else "Expand"))

    def set_color(self, node_ids: list[str], color: str | None) -> None:
        ids = [n for n in node_ids if n in self.graph.nodes and self.graph.nodes[n].color != color]
        if ids:
            self.stack.push(undo.SetStyle(self.graph, ids, "color", color, "Colour nodes"))

    # -- groups ---------------------------------------------------------------------------------
    def add_group(self, rect: Rect, title: str = "Group", color: str | None = None) -> str:
        group = Group(new_id(), title, tuple(float(v) for v in rect), color)  # type: ignore[arg-type]
        self.stack.push(undo.AddGroup(self.graph, group))
        return group.id

    def edit_group(self, group_id: str, **changes: Any) -> None:
        """Rename (``title``), recolour (``color``) or move/resize (``rect``) a group: one undo step."""
        g = next((g for g in self.graph.groups if g.id == group_id), None)
        if g is None:
            return
        diff = {k: (getattr(g, k), v) for k, v in changes.items() if getattr(g, k) != v}
        if diff:
            text = {"title": "Rename group", "color": "Colour group", "rect": "Resize group"}[next(iter(diff))]
            self.stack.push(undo.SetGroup(self.graph, group_id, diff, text))

    def delete_groups(self, group_ids: list[str], node_ids: list[str] = ()) -> None:  # type: ignore[assignment]
        """Delete groups, and ``node_ids`` with them (their contents) when given: one undo step."""
        gids = [g.id for g in self.graph.groups if g.id in set(group_ids)]
        ids = [n for n in node_ids if n in self.graph.nodes]
        if not gids and not ids:
            return
        parent = undo.Macro("Delete group" + ("s" if len(gids) > 1 else "") + (" and contents" if ids else ""))
        if ids:
            parent.add(undo.RemoveNodes(self.graph, ids))
        for gid in gids:
            parent.add(undo.RemoveGroup(self.graph, gid))
        self.stack.push(parent)

    # -- on a wire ------------------------------------------------------------------------------
    def insert_on_wire(self, link: Link, type_id: str, pos: tuple[float, float]) -> str | None:
        """Put a new node (a reroute, say) into a wire: source → new node → destination."""
        if self.graph.links.get((link.dst, link.dst_port)) != link:
            return None
        nt = self.registry[type_id]
        node = self._new_node(type_id, pos)
        out_t = self.graph.output_type(link.src, link.src_port)
        dst_decl = self.graph._input_decl(self.graph.nodes[link.dst], link.dst_port)
        into = next((i for i in nt.wires if can_connect(out_t, i.type)), None)
        out_of = next((o for o in nt.outputs if dst_decl is not None and can_connect(o.type, dst_decl.type)), None)
        if into is None or out_of is None:
            self.message.emit(f"Cannot insert {nt.title} here: it has no input for {out_t} "
                              "or no output for what the wire feeds")
            return None
        parent = undo.Macro(f"Insert {nt.title}")
        parent.add(undo.AddNode(self.graph, node))
        parent.add(undo.Connect(self.graph, Link(link.src, link.src_port, node.id, into.name)))
        parent.add(undo.Connect(self.graph, Link(node.id, out_of.name, link.dst, link.dst_port)))
        self.stack.push(parent)
        return node.id

    def set_param(self, node_id: str, name: str, value: Any, final: bool = True) -> None:
        node = self.graph.nodes.get(node_id)
        if node is None:
            return
        old = node.params.get(name)
        top = self.stack.command(self.stack.index() - 1) if self.stack.index() > 0 else None
        if isinstance(top, undo.SetParam) and top.open and top.node_id == node_id and top.name == name:
            old = top.old  # continuing a drag: the step's "before" is where the drag began
        if old == value and final and not (isinstance(top, undo.SetParam) and top.open):
            return
        self.stack.push(undo.SetParam(self.graph, node_id, name, old, value, final))

    def rename(self, node_id: str, title: str) -> None:
        if node_id in self.graph.nodes and (title or None) != self.graph.nodes[node_id].title:
            self.stack.push(undo.Rename(self.graph, node_id, title))

    # -- wires ----------------------------------------------------------------------------------
    def check(self, src: str, src_port: str, dst: str, dst_port: str) -> Verdict:
        return self.graph.check_connection(src, src_port, dst, dst_port, replace=True)

    # Shadows QObject.connect/disconnect on purpose (wires, not signals); no caller uses Qt's forms.
    def connect(  # type: ignore[override]
            self, src: str, src_port: str, dst: str, dst_port: str, *, detached: Link | None = None) -> Verdict:
        """Wire two ports (replacing what fed the input); ``detached`` is a wire being re-routed."""
        link = Link(src, src_port, dst, dst_port)
        if detached == link:
            return Verdict(True)
        verdict = self.check(src, src_port, dst, dst_port)
        if not verdict:
            self.message.emit(f"Cannot connect: {verdict.reason}")
            return verdict
        if detached is not None:
            parent = undo.Macro("Re-route wire")
            parent.add(undo.Disconnect(self.graph, detached))
            parent.add(undo.Connect(self.graph, link))
            self.stack.push(parent)
        else:
            self.stack.push(undo.Connect(self.graph, link))
        return verdict

    def disconnect(self, link: Link) -> None:  # type: ignore[override]
        if self.graph.links.get((link.dst, link.dst_port)) == link:
            self.stack.push(undo.Disconnect(self.graph, link))

    def accepting_types(self, port_type: Any, *, from_output: bool) -> list[NodeType]:
        """Node types that have a port able to take a wire dragged from ``port_type``."""
        out = []
        for nt in self.registry:
            if from_output and any(can_connect(port_type, i.type) for i in nt.wires) or not from_output and any(can_connect(o.type, port_type) for o in nt.outputs):
                out.append(nt)
        return out

    # -- clipboard ------------------------------------------------------------------------------
    def copy_text(self, node_ids: list[str]) -> str:
        part = Graph(self.registry)
        chosen = [n for n in self.graph.nodes if n in set(node_ids)]
        for nid in chosen:
            part.insert_node(copy.deepcopy(self.graph.nodes[nid]))  # mode, colour and collapse go along
        for lk in self.graph.links.values():
            if lk.src in part.nodes and lk.dst in part.nodes:
                part.insert_link(lk)
        doc = graph_to_document(part, environment={})
        return json.dumps({"format": FRAGMENT_FORMAT, "nodes": doc["nodes"], "links": doc["links"]})

    def paste_text(self, text: str, at: tuple[float, float] | None = None) -> list[str]:
        """Paste a fragment (from this or another window); new ids, placed at ``at``."""
        try:
            data = parse_json(text, source="clipboard")  # bounded like a file: the clipboard is outside input
            if not isinstance(data, dict) or data.get("format") != FRAGMENT_FORMAT:
                raise ValueError("not a node fragment")
            part = document_to_graph({"format": "latent-studio.workflow", "version": 1, "nodes": data.get("nodes"),
                                      "links": data.get("links", [])}, self.registry, source="clipboard")
        except (ValueError, WorkflowError) as exc:
            self.message.emit(f"Nothing to paste: {exc}")
            return []
        if not part.nodes:
            return []
        xs = [n.pos[0] for n in part.nodes.values()]
        ys = [n.pos[1] for n in part.nodes.values()]
        dx, dy = (at[0] - min(xs), at[1] - min(ys)) if at else (40.0, 40.0)
        ids = {old: new_id() for old in part.nodes}
        parent = undo.Macro(f"Paste {len(ids)} node{'s' if len(ids) != 1 else ''}")
        for old, node in part.nodes.items():
            node.id = ids[old]
            node.pos = (node.pos[0] + dx, node.pos[1] + dy)
            parent.add(undo.AddNode(self.graph, node))
        for lk in part.links.values():
            parent.add(undo.Connect(self.graph, Link(ids[lk.src], lk.src_port, ids[lk.dst], lk.dst_port)))
        self.stack.push(parent)
        return list(ids.values())

    def duplicate(self, node_ids: list[str]) -> list[str]:
        return self.paste_text(self.copy_text(node_ids)) if node_ids else []
