"""GraphScene: keeps graphics items in step with a Graph through its listener callbacks."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene

from studio.core.graph import Graph, Group, Link, Node
from studio.core.types import Kind
from studio.ui import theme

from .group_item import GroupItem
from .items import NodeItem, PortItem, WireItem
from .special_nodes import NoteItem, RerouteItem

GRID = 20


class GraphScene(QGraphicsScene):
    zoom_changed = Signal(float)

    def __init__(self, graph: Graph, parent: Any = None) -> None:
        super().__init__(parent)
        self.zoom = 1.0  # the view's scale; items size their zoomed-out titles by it
        self._painted_zoom = 1.0
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.timeout.connect(lambda: self.set_zoom(self._painted_zoom))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setSceneRect(QRectF(-50_000, -50_000, 100_000, 100_000))
        self.graph = graph
        self.node_items: dict[str, NodeItem] = {}
        self.wires: dict[tuple[str, str], WireItem] = {}
        self.group_items: dict[str, GroupItem] = {}
        self._node_wires: dict[str, set[tuple[str, str]]] = {}
        self.show_all_thumbnails = False
        self.editor: Any = None  # the view's Editor, set by the view
        self._populate()
        graph.listeners.append(self._on_graph)

    # -- whole graph ----------------------------------------------------------------------------
    def set_graph(self, graph: Graph) -> None:
        if self._on_graph in self.graph.listeners:
            self.graph.listeners.remove(self._on_graph)
        self.clear()
        self.node_items.clear()
        self.wires.clear()
        self.group_items.clear()
        self._node_wires.clear()
        self.graph = graph
        self._populate()
        graph.listeners.append(self._on_graph)

    def detach(self) -> None:
        if self._on_graph in self.graph.listeners:
            self.graph.listeners.remove(self._on_graph)

    def _populate(self) -> None:
        for g in self.graph.groups:
            self._add_group(g)
        for node in self.graph.nodes.values():
            self._add_node(node)
        for link in self.graph.links.values():
            self._add_wire(link)

    # -- listener ---------------------------------------------------------------------------------
    def _on_graph(self, what: str, info: dict[str, Any]) -> None:
        if what == "node_added":
            self._add_node(info["node"])
        elif what == "node_removed":
            item = self.node_items.pop(info["node"].id, None)
            if item is not None:
                self.removeItem(item)
            self._node_wires.pop(info["node"].id, None)
        elif what in ("link_added", "link_removed"):
            link = info["link"]
            if what == "link_added":
                self._add_wire(link)
            else:
                self._remove_wire(link)
            self._mark_stale(link.dst)
            self._refresh_reroutes(link.dst)
        elif what == "node_moved":
            item = self.node_items.get(info["node"].id)
            if item is not None and (item.pos().x(), item.pos().y()) != info["node"].pos:
                item.setPos(*info["node"].pos)
        elif what in ("param_changed", "node_renamed", "node_mode", "node_style"):
            item = self.node_items.get(info["node"].id)
            if item is not None:
                item.refresh()
            if what == "param_changed":
                self._mark_stale(info["node"].id)
        elif what == "group_added":
            self._add_group(info["group"])
        elif what == "group_removed":
            group_item = self.group_items.pop(info["group"].id, None)
            if group_item is not None:
                self.removeItem(group_item)
        elif what == "group_changed":
            group_item = self.group_items.get(info["group"].id)
            if group_item is not None:
                group_item.sync(info["group"])

    def _mark_stale(self, node_id: str) -> None:
        """Pictures on this node and everything downstream no longer show what a run would give."""
        stack, seen = [node_id], set()
        while stack:
            nid = stack.pop()
            if nid in seen or nid not in self.graph.nodes:
                continue
            seen.add(nid)
            item = self.node_items.get(nid)
            if item is not None:
                item.mark_stale()
            stack.extend(lk.dst for lk in self.graph.outgoing(nid))

    def set_show_all_thumbnails(self, show: bool) -> None:
        self.show_all_thumbnails = show
        for item in self.node_items.values():
            item.refresh()

    def _add_node(self, node: Node) -> None:
        nt = self.graph.node_type(node)
        cls = RerouteItem if nt is not None and nt.passthrough else NoteItem if nt is not None and nt.editor_only \
            else NodeItem
        item = cls(self, node)
        self.node_items[node.id] = item
        self.addItem(item)

    def _add_group(self, group: Group) -> None:
        item = GroupItem(self, group)
        self.group_items[group.id] = item
        self.addItem(item)

    def _wire_kind(self, link: Link) -> Kind:
        src = self.node_items.get(link.src)
        if isinstance(src, RerouteItem):
            return src.kind
        out = src.outputs.get(link.src_port) if src is not None else None
        return out.port_type.kind if out else Kind.ANY

    def _add_wire(self, link: Link) -> None:
        src, dst = self.node_items.get(link.src), self.node_items.get(link.dst)
        if src is None or dst is None:
            return
        wire = WireItem(link, self._wire_kind(link))
        key = (link.dst, link.dst_port)
        self.wires[key] = wire
        self._node_wires.setdefault(link.src, set()).add(key)
        self._node_wires.setdefault(link.dst, set()).add(key)
        self.addItem(wire)
        self._update_wire(key)

    def _refresh_reroutes(self, node_id: str) -> None:
        """A reroute carries what feeds it: after a wire change, re-colour the reroutes from
        ``node_id`` down the chain of reroutes, and the wires leaving them."""
        stack, seen = [node_id], set()
        while stack:
            nid = stack.pop()
            item = self.node_items.get(nid)
            if nid in seen or not isinstance(item, RerouteItem):
                continue
            seen.add(nid)
            item.refresh_kind()
            for link in self.graph.outgoing(nid):
                wire = self.wires.get((link.dst, link.dst_port))
                if wire is not None:
                    wire.set_kind(item.kind)
                stack.append(link.dst)

    def _remove_wire(self, link: Link) -> None:
        key = (link.dst, link.dst_port)
        wire = self.wires.pop(key, None)
        if wire is not None:
            self.removeItem(wire)
        for nid in (link.src, link.dst):
            self._node_wires.get(nid, set()).discard(key)

    def _update_wire(self, key: tuple[str, str]) -> None:
        wire = self.wires.get(key)
        if wire is None or wire.link is None:
            return
        link = wire.link
        a = self.port(link.src, link.src_port, output=True)
        b = self.port(link.dst, link.dst_port, output=False)
        if a is not None and b is not None:
            wire.set_ends(a.scene_anchor(), b.scene_anchor())

    def node_item_moved(self, item: NodeItem) -> None:
        for key in self._node_wires.get(item.node_id, ()):
            self._update_wire(key)

    # -- lookups --------------------------------------------------------------------------------
    def port(self, node_id: str, name: str, *, output: bool) -> PortItem | None:
        item = self.node_items.get(node_id)
        if item is None:
            return None
        return (item.outputs if output else item.inputs).get(name)

    def all_ports(self) -> list[PortItem]:
        return [p for it in self.node_items.values() for p in (*it.inputs.values(), *it.outputs.values())]

    def selected_node_ids(self) -> list[str]:
        return [it.node_id for it in self.selectedItems() if isinstance(it, NodeItem)]

    def selected_group_ids(self) -> list[str]:
        return [it.group_id for it in self.selectedItems() if isinstance(it, GroupItem)]

    def _group_rect(self, group_id: str) -> QRectF | None:
        item = self.group_items.get(group_id)
        return QRectF(*item.graph_group.rect) if item is not None else None

    def nodes_in_group(self, group_id: str) -> list[str]:
        """Nodes lying wholly inside the group (those of nested groups too)."""
        rect = self._group_rect(group_id)
        if rect is None:
            return []
        return [nid for nid, it in self.node_items.items() if rect.contains(it.scene_node_rect())]

    def groups_in_group(self, group_id: str) -> list[str]:
        """Groups lying wholly inside the group, at any depth."""
        rect = self._group_rect(group_id)
        if rect is None:
            return []
        return [gid for gid, it in self.group_items.items()
                if gid != group_id and rect.contains(QRectF(*it.graph_group.rect))]

    def group_at(self, scene_pos: QPointF) -> str | None:
        """The innermost group whose rectangle holds ``scene_pos`` (its body too, not just the title
        bar that takes the mouse), or None."""
        hits = [it for it in self.group_items.values() if QRectF(*it.graph_group.rect).contains(scene_pos)]
        return max(hits, key=lambda it: it.zValue()).group_id if hits else None

    # -- zoom -------------------------------------------------------------------------------------
    def set_zoom(self, zoom: float) -> None:
        """The view's scale changed: zoomed-out titles need more room. The view calls this on every
        zoom; a change seen while painting the background also lands here, one frame later."""
        if zoom <= 0 or zoom == self.zoom:
            return
        self.zoom = self._painted_zoom = zoom
        for item in self.node_items.values():
            item.zoom_changed(zoom)
        self.zoom_changed.emit(zoom)

    # -- background -------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        painter.fillRect(rect, QColor(theme.CANVAS_BG))
        scale = painter.worldTransform().m11()
        if scale > 0 and scale != self.zoom and scale != self._painted_zoom:
            self._painted_zoom = scale  # items cannot change geometry mid-paint: apply after it
            self._zoom_timer.start(0)
        if scale < 0.3:
            return
        left, top = int(rect.left()) - int(rect.left()) % GRID, int(rect.top()) - int(rect.top()) % GRID
        minor: list[QLineF] = []
        major: list[QLineF] = []
        x = left
        while x < rect.right():
            (major if x % (GRID * 5) == 0 else minor).append(QLineF(x, rect.top(), x, rect.bottom()))
            x += GRID
        y = top
        while y < rect.bottom():
            (major if y % (GRID * 5) == 0 else minor).append(QLineF(rect.left(), y, rect.right(), y))
            y += GRID
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # hairlines: AA costs ~5 ms a frame
        painter.setPen(QPen(QColor(theme.GRID_MINOR), 0))
        painter.drawLines(minor)
        painter.setPen(QPen(QColor(theme.GRID_MAJOR), 0))
        painter.drawLines(major)
        painter.restore()

    def items_bounding_rect(self, node_ids: list[str] | None = None) -> QRectF:
        items = [self.node_items[n] for n in node_ids] if node_ids else list(self.node_items.values())
        rect = QRectF()
        for it in items:
            rect = rect.united(it.scene_node_rect())
        return rect if not rect.isNull() else QRectF(QPointF(-200, -150), QPointF(600, 450))
