"""The editing controller: every user edit becomes an undo command on one QUndoStack."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from studio.core.graph import Graph, Link, Node, new_id
from studio.core.nodetype import NodeType
from studio.core.types import Verdict, can_connect
from studio.core.workflow import WorkflowError, document_to_graph, graph_to_document, parse_json

from . import undo

FRAGMENT_FORMAT = "latent-studio.fragment"


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

    def move(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]]) -> None:
        moves = {k: v for k, v in moves.items() if v[0] != v[1]}
        if moves:
            self.stack.push(undo.MoveNodes(self.graph, moves))

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
            src = self.graph.nodes[nid]
            part.insert_node(Node(src.id, src.type_id, src.version, dict(src.params), src.pos, src.title,
                                  dict(src.extra), src.placeholder_inputs, src.placeholder_outputs))
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
