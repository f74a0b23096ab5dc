"""GraphView: where users wire, select, move, pan and zoom."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QPainterPathStroker, QWheelEvent
from PySide6.QtWidgets import QGraphicsView

from studio.core.graph import Link
from studio.ui.editor import Editor

from .items import NodeItem, PortItem, WireItem
from .scene import GraphScene

NODE_TYPE_MIME = "application/x-latent-studio-node-type"
MIN_ZOOM, MAX_ZOOM = 0.08, 4.0


class _WireDrag:
    """A wire being dragged: from ``origin`` (a port), possibly detached from an existing link."""

    def __init__(self, origin: PortItem, detached: Link | None, temp: WireItem) -> None:
        self.origin, self.detached, self.temp = origin, detached, temp


class GraphView(QGraphicsView):
    quick_add_requested = Signal(QPoint, object)  # global pos, and the port to connect (or None)
    files_dropped = Signal(list, QPointF)  # local file paths, scene position
    node_menu_requested = Signal(str, QPoint)  # node id, global position
    group_menu_requested = Signal(str, QPoint)  # group id, global position
    wire_menu_requested = Signal(object, QPoint, QPointF)  # Link, global position, scene position
    canvas_menu_requested = Signal(QPoint, QPointF)  # global position, scene position
    zoom_changed = Signal(float)

    def __init__(self, scene: GraphScene, editor: Editor, parent: Any = None) -> None:
        super().__init__(scene, parent)
        self.gscene, self.editor = scene, editor
        scene.editor = editor  # items (groups) turn their own drags into undoable edits
        self.zoom_changed.connect(scene.set_zoom)  # level of detail: titles stay readable
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._wire: _WireDrag | None = None
        self._pan_from: QPoint | None = None
        self._space = False
        self._press_positions: dict[str, tuple[float, float]] = {}
        self.last_scene_pos = QPointF(0, 0)

    # -- zoom and framing -------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        self.zoom_by(1.15**steps)  # anchored under the mouse: zoom to cursor

    def zoom_by(self, factor: float) -> None:
        factor = max(MIN_ZOOM / self.zoom, min(MAX_ZOOM / self.zoom, factor))
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom)

    def _zoom_at_center(self, factor: float | None) -> None:
        """Zoom by ``factor`` (or back to 100 % when None) keeping the view's centre in place: menu
        and keyboard zooms have no meaningful mouse position."""
        center = self.mapToScene(self.viewport().rect().center())
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        if factor is None:
            self.resetTransform()
            self.zoom_changed.emit(self.zoom)
        else:
            self.zoom_by(factor)
        self.centerOn(center)
        self.setTransformationAnchor(anchor)

    def zoom_in(self) -> None:
        self._zoom_at_center(1.25)

    def zoom_out(self) -> None:
        self._zoom_at_center(1 / 1.25)

    def zoom_reset(self) -> None:
        self._zoom_at_center(None)

    def frame(self, node_ids: list[str] | None = None) -> None:
        rect = self.gscene.items_bounding_rect(node_ids or None).adjusted(-60, -60, 60, 60)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.5:
            self.resetTransform()
            self.scale(1.5, 1.5)
            self.centerOn(rect.center())
        elif self.zoom < MIN_ZOOM:
            self.resetTransform()
            self.scale(MIN_ZOOM, MIN_ZOOM)
            self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom)

    # -- what is under the mouse ------------------------------------------------------------------
    def wire_at(self, pos: QPoint, tolerance: float = 6.0) -> Link | None:
        """The wire within ``tolerance`` screen pixels of ``pos`` (wires are thin curves: their own
        shape would be the area they enclose)."""
        scene_pos = self.mapToScene(pos)
        half = tolerance / max(self.zoom, 1e-3)
        probe = QRectF(scene_pos.x() - half, scene_pos.y() - half, 2 * half, 2 * half)
        stroker = QPainterPathStroker()
        stroker.setWidth(2 * half)
        for key, wire in self.gscene.wires.items():
            if wire.link is None or not wire.isVisible() or not wire.sceneBoundingRect().intersects(probe):
                continue
            if stroker.createStroke(wire.path()).contains(scene_pos):
                return self.gscene.graph.links.get(key)
        return None

    # -- wire dragging ----------------------------------------------------------------------------
    def _port_at(self, pos: QPoint) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def _start_wire(self, port: PortItem) -> None:
        detached = None
        origin = port
        if not port.is_output:
            link = self.gscene.graph.links.get((port.node_id, port.name))
            if link is not None:  # pick up the wire's end: re-route or drop it on empty canvas
                detached = link
                origin = self.gscene.port(link.src, link.src_port, output=True) or port
                wire = self.gscene.wires.get((link.dst, link.dst_port))
                if wire is not None:
                    wire.setVisible(False)
        temp = WireItem(None, origin.port_type.kind)
        temp.setZValue(10)
        self.gscene.addItem(temp)
        self._wire = _WireDrag(origin, detached, temp)
        for p in self.gscene.all_ports():
            if p.is_output == origin.is_output or p.node_id == origin.node_id:
                p.highlight = False
            else:
                src, dst = (origin, p) if origin.is_output else (p, origin)
                p.highlight = bool(self.editor.check(src.node_id, src.name, dst.node_id, dst.name)) or (
                    detached is not None and (dst.node_id, dst.name) == (detached.dst, detached.dst_port))
            p.update()

    def _update_wire(self, scene_pos: QPointF) -> None:
        assert self._wire is not None
        a = self._wire.origin.scene_anchor()
        if self._wire.origin.is_output:
            self._wire.temp.set_ends(a, scene_pos)
        else:
            self._wire.temp.set_ends(scene_pos, a)

    def _finish_wire(self, pos: QPoint) -> None:
        drag, self._wire = self._wire, None
        assert drag is not None
        self.gscene.removeItem(drag.temp)
        for p in self.gscene.all_ports():
            p.highlight = None
            p.update()
        target = self._port_at(pos)
        origin = drag.origin
        if target is not None and target.is_output != origin.is_output and target.node_id != origin.node_id:
            src, dst = (origin, target) if origin.is_output else (target, origin)
            verdict = self.editor.connect(src.node_id, src.name, dst.node_id, dst.name, detached=drag.detached)
            if not verdict:
                self._show_detached(drag)
            return
        if target is not None:
            if target is origin or (drag.detached and (target.node_id, target.name) == (drag.detached.dst,
                                                                                       drag.detached.dst_port)):
                self._show_detached(drag)  # dropped back where it was
                return
            self.editor.message.emit("Cannot connect: drag from an output to an input")
            self._show_detached(drag)
            return
        if drag.detached is not None:
            self.editor.disconnect(drag.detached)
            return
        # Dropped on empty canvas: offer the nodes that can take this wire, placed here.
        self.last_scene_pos = self.mapToScene(pos)
        self.quick_add_requested.emit(self.mapToGlobal(pos), (origin.node_id, origin.name, origin.is_output,
                                                              origin.port_type))

    def _show_detached(self, drag: _WireDrag) -> None:
        if drag.detached is not None:
            wire = self.gscene.wires.get((drag.detached.dst, drag.detached.dst_port))
            if wire is not None:
                wire.setVisible(True)

    # -- mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(pos)
            if port is not None:
                self._start_wire(port)
                self._update_wire(self.mapToScene(pos))
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_positions = {
                it.node_id: (it.pos().x(), it.pos().y()) for it in self.gscene.selectedItems()
                if isinstance(it, NodeItem)}

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        self.last_scene_pos = self.mapToScene(pos)
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.translate_view(delta.x(), delta.y())
            return
        if self._wire is not None:
            self._update_wire(self.mapToScene(pos))
            return
        super().mouseMoveEvent(event)

    def translate_view(self, dx: float, dy: float) -> None:
        """Pan by a distance in screen pixels."""
        center = self.mapToScene(self.viewport().rect().center())
        self.centerOn(center - QPointF(dx / self.zoom, dy / self.zoom))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().unsetCursor()
            return
        if self._wire is not None and event.button() == Qt.MouseButton.LeftButton:
            self._finish_wire(event.position().toPoint())
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press_positions:
            moves = {}
            for nid, old in self._press_positions.items():
                item = self.gscene.node_items.get(nid)
                if item is not None:
                    moves[nid] = (old, (item.pos().x(), item.pos().y()))
            self._press_positions = {}
            self.editor.move(moves)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.LeftButton and self.itemAt(pos) is None:
            self.last_scene_pos = self.mapToScene(pos)
            self.quick_add_requested.emit(self.mapToGlobal(pos), None)
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: Any) -> None:  # noqa: N802
        """Right-click: the node's menu, else the wire's, else the group's, else the canvas's."""
        pos, global_pos = event.pos(), event.globalPos()
        for item in self.items(pos):
            while item is not None and not isinstance(item, NodeItem):
                item = item.parentItem()
            if isinstance(item, NodeItem):
                if not item.isSelected():
                    self.gscene.clearSelection()
                    item.setSelected(True)
                self.node_menu_requested.emit(item.node_id, global_pos)
                return
        scene_pos = self.mapToScene(pos)
        self.last_scene_pos = scene_pos
        link = self.wire_at(pos)
        if link is not None:
            self.wire_menu_requested.emit(link, global_pos, scene_pos)
            return
        group_id = self.gscene.group_at(scene_pos)
        if group_id is not None:
            self.group_menu_requested.emit(group_id, global_pos)
            return
        self.canvas_menu_requested.emit(global_pos, scene_pos)

    # -- keys -----------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        # Tab would move keyboard focus; on the canvas it opens the quick-add search.
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Tab:
            local = self.mapFromGlobal(self.cursor().pos())
            if not self.viewport().rect().contains(local):
                local = self.viewport().rect().center()
            self.last_scene_pos = self.mapToScene(local)
            self.quick_add_requested.emit(self.mapToGlobal(local), None)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    # -- drag and drop from the library and the desktop -------------------------------------------
    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802
        md = event.mimeData()
        if md.hasFormat(NODE_TYPE_MIME) or md.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        md = event.mimeData()
        if md.hasFormat(NODE_TYPE_MIME) or md.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        md = event.mimeData()
        scene_pos = self.mapToScene(event.position().toPoint())
        if md.hasFormat(NODE_TYPE_MIME):
            type_id = bytes(md.data(NODE_TYPE_MIME)).decode("utf-8")
            if type_id in self.editor.registry:
                self.editor.add_node(type_id, (scene_pos.x(), scene_pos.y()))
            event.acceptProposedAction()
            return
        if md.hasUrls():
            paths = [u.toLocalFile() for u in md.urls() if u.isLocalFile()]
            if paths:
                self.files_dropped.emit(paths, scene_pos)
            event.acceptProposedAction()
            return
        super().dropEvent(event)
