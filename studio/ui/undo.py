"""Undo commands: every edit of the graph goes through one of these on the window's QUndoStack.

Commands change the Qt-free Graph; the canvas follows through the graph's listeners. Undo never
touches the executor, whose cache is keyed by signatures: undoing a change brings back a
signature whose outputs are still cached.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from studio.core.graph import Graph, Group, Link, Node

_PARAM_MERGE_ID = 1001


class AddNode(QUndoCommand):
    def __init__(self, graph: Graph, node: Node, text: str | None = None):
        super().__init__(text or f"Add {graph.title_of(node)}")
        self.graph, self.node = graph, copy.deepcopy(node)

    def redo(self) -> None:
        self.graph.insert_node(copy.deepcopy(self.node))

    def undo(self) -> None:
        self.graph.remove_node(self.node.id)


class RemoveNodes(QUndoCommand):
    """Remove nodes with every wire touching them; undo puts both back exactly."""

    def __init__(self, graph: Graph, node_ids: list[str]):
        n = len(node_ids)
        super().__init__(f"Delete {n} node{'s' if n != 1 else ''}")
        self.graph = graph
        self.order = [nid for nid in graph.nodes if nid in set(node_ids)]  # keep file order on undo
        self.nodes: list[tuple[int, Node]] = []
        self.links: list[Link] = []
        self.link_order: list[tuple[str, str]] = []

    def redo(self) -> None:
        ids = list(self.graph.nodes)
        self.link_order = list(self.graph.links)
        self.nodes = [(ids.index(nid), copy.deepcopy(self.graph.nodes[nid])) for nid in self.order]
        self.links = [lk for lk in self.graph.links.values() if lk.src in self.order or lk.dst in self.order]
        for nid in self.order:
            self.graph.remove_node(nid)

    def undo(self) -> None:
        for index, node in self.nodes:
            self.graph.insert_node(copy.deepcopy(node))
            _move_to_index(self.graph, node.id, index)
        for lk in self.links:
            self.graph.insert_link(lk)
        _restore_link_order(self.graph, self.link_order)


def _move_to_index(graph: Graph, node_id: str, index: int) -> None:
    """Put a re-inserted node back at its old place, so undo gives back identical files."""
    items = list(graph.nodes.items())
    item = next(i for i in items if i[0] == node_id)
    items.remove(item)
    items.insert(min(index, len(items)), item)
    graph.nodes.clear()
    graph.nodes.update(items)


def _restore_link_order(graph: Graph, order: list[tuple[str, str]]) -> None:
    """Put links back in their saved order: re-inserted links would otherwise go to the end, and
    undo must give back a byte-identical file."""
    rank = {key: i for i, key in enumerate(order)}
    items = sorted(graph.links.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    graph.links.clear()
    graph.links.update(items)


class MoveNodes(QUndoCommand):
    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]]):
        super().__init__(f"Move {len(moves)} node{'s' if len(moves) != 1 else ''}")
        self.graph, self.moves = graph, moves

    def redo(self) -> None:
        for nid, (_, new) in self.moves.items():
            if nid in self.graph.nodes:
                self.graph.set_pos(nid, new)

    def undo(self) -> None:
        for nid, (old, _) in self.moves.items():
            if nid in self.graph.nodes:
                self.graph.set_pos(nid, old)


class Connect(QUndoCommand):
    """Make a wire, replacing whatever fed that input before (undo restores it)."""

    def __init__(self, graph: Graph, link: Link):
        super().__init__("Connect")
        self.graph, self.link = graph, link
        self.replaced: Link | None = None
        self.order: list[tuple[str, str]] = []

    def redo(self) -> None:
        self.order = list(self.graph.links)
        self.replaced = self.graph.disconnect(self.link.dst, self.link.dst_port)
        self.graph.insert_link(self.link)

    def undo(self) -> None:
        self.graph.disconnect(self.link.dst, self.link.dst_port)
        if self.replaced is not None:
            self.graph.insert_link(self.replaced)
            _restore_link_order(self.graph, self.order)


class Disconnect(QUndoCommand):
    def __init__(self, graph: Graph, link: Link):
        super().__init__("Disconnect")
        self.graph, self.link = graph, link
        self.order: list[tuple[str, str]] = []

    def redo(self) -> None:
        self.order = list(self.graph.links)
        self.graph.disconnect(self.link.dst, self.link.dst_port)

    def undo(self) -> None:
        self.graph.insert_link(self.link)
        _restore_link_order(self.graph, self.order)


class SetParam(QUndoCommand):
    """A parameter change. While ``final`` is False (a slider being dragged), later changes of the
    same parameter merge into this command, so one drag is one undo step."""

    def __init__(self, graph: Graph, node_id: str, name: str, old: Any, new: Any, final: bool):
        super().__init__(f"Change {name.replace('_', ' ')}")
        self.graph, self.node_id, self.name = graph, node_id, name
        self.old, self.new, self.open = old, new, not final

    def id(self) -> int:
        return _PARAM_MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt API)
        if not (isinstance(other, SetParam) and self.open and other.node_id == self.node_id
                and other.name == self.name):
            return False
        self.new, self.open = other.new, other.open
        if self.new == self.old and not self.open:
            self.setObsolete(True)
        return True

    def redo(self) -> None:
        if self.node_id in self.graph.nodes:
            self.graph.set_param(self.node_id, self.name, self.new)

    def undo(self) -> None:
        if self.node_id in self.graph.nodes:
            self.graph.set_param(self.node_id, self.name, self.old)


class Rename(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, title: str | None):
        super().__init__("Rename node")
        self.graph, self.node_id = graph, node_id
        self.old, self.new = graph.nodes[node_id].title, title or None

    def redo(self) -> None:
        self.graph.set_title(self.node_id, self.new)

    def undo(self) -> None:
        self.graph.set_title(self.node_id, self.old)


class AddGroup(QUndoCommand):
    def __init__(self, graph: Graph, group: Group, text: str = "Add group"):
        super().__init__(text)
        self.graph, self.group = graph, copy.deepcopy(group)

    def redo(self) -> None:
        self.graph.insert_group(copy.deepcopy(self.group))

    def undo(self) -> None:
        self.graph.remove_group(self.group.id)


class RemoveGroup(QUndoCommand):
    """Remove a group (not its nodes); undo puts it back at its place in the drawing order."""

    def __init__(self, graph: Graph, group_id: str):
        super().__init__("Delete group")
        self.graph, self.group_id = graph, group_id
        self.index = 0
        self.group: Group | None = None

    def redo(self) -> None:
        g = self.graph.group(self.group_id)
        self.index = self.graph.groups.index(g)
        self.group = copy.deepcopy(g)
        self.graph.remove_group(self.group_id)

    def undo(self) -> None:
        assert self.group is not None
        self.graph.insert_group(copy.deepcopy(self.group), self.index)


class SetGroup(QUndoCommand):
    """Rename, recolour, move or resize a group: ``changes`` maps field → (old, new)."""

    def __init__(self, graph: Graph, group_id: str, changes: dict[str, tuple[Any, Any]], text: str = "Edit group"):
        super().__init__(text)
        self.graph, self.group_id, self.changes = graph, group_id, changes

    def _apply(self, which: int) -> None:
        if any(g.id == self.group_id for g in self.graph.groups):
            self.graph.set_group(self.group_id, **{k: v[which] for k, v in self.changes.items()})

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class SetMode(QUndoCommand):
    """Bypass, mute or restore nodes (each node's old mode comes back on undo)."""

    def __init__(self, graph: Graph, node_ids: list[str], mode: str, text: str):
        super().__init__(text)
        self.graph, self.mode = graph, mode
        self.old = {nid: graph.nodes[nid].mode for nid in node_ids}

    def redo(self) -> None:
        for nid in self.old:
            if nid in self.graph.nodes:
                self.graph.set_mode(nid, self.mode)

    def undo(self) -> None:
        for nid, mode in self.old.items():
            if nid in self.graph.nodes:
                self.graph.nodes[nid].mode = mode  # the old mode was valid when it was set
                self.graph._notify("node_mode", node=self.graph.nodes[nid])


class SetStyle(QUndoCommand):
    """Collapse/expand or recolour nodes: ``field`` is "collapsed" or "color"."""

    def __init__(self, graph: Graph, node_ids: list[str], field: str, value: Any, text: str):
        super().__init__(text)
        self.graph, self.field, self.value = graph, field, value
        self.old = {nid: getattr(graph.nodes[nid], field) for nid in node_ids}

    def redo(self) -> None:
        for nid in self.old:
            if nid in self.graph.nodes:
                self.graph.set_style(nid, **{self.field: self.value})

    def undo(self) -> None:
        for nid, old in self.old.items():
            if nid in self.graph.nodes:
                self.graph.set_style(nid, **{self.field: old})


class Macro(QUndoCommand):
    """Several commands as one undo step. Children are kept in a Python list rather than given a
    Qt parent: PySide can drop the Python half of a parented command and crash on redo."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.children: list[QUndoCommand] = []

    def add(self, command: QUndoCommand) -> QUndoCommand:
        self.children.append(command)
        return command

    def redo(self) -> None:
        for c in self.children:
            c.redo()

    def undo(self) -> None:
        for c in reversed(self.children):
            c.undo()
