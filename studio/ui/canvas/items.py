"""Graphics items: nodes (with ports, summary, thumbnail, progress and error badge), wires, groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from studio.core.graph import Group, Link, Node
from studio.core.types import Kind, PortType
from studio.ui import theme

if TYPE_CHECKING:
    from .scene import GraphScene

NODE_WIDTH = 230.0
HEADER = 26.0
ROW = 20.0
SUMMARY_ROW = 16.0
THUMB = 128.0
PORT_RADIUS = 5.5
PAD = 6.0


class PortItem(QGraphicsItem):
    """A wire input or an output of a node; the thing wires are dragged from and dropped on."""

    def __init__(self, node_item: NodeItem, name: str, label: str, port_type: PortType, is_output: bool):
        super().__init__(node_item)
        self.node_item, self.name, self.label = node_item, name, label
        self.port_type, self.is_output = port_type, is_output
        self.highlight: bool | None = None  # True: can accept the wire being dragged; False: cannot
        self.setAcceptHoverEvents(True)
        self.setToolTip(f"{label}: {port_type}")
        self._hover = False

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        r = PORT_RADIUS + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def scene_anchor(self) -> QPointF:
        return self.scenePos()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        color = theme.port_color(self.port_type.kind)
        r = PORT_RADIUS
        if self.highlight is True or self._hover:
            r += 2
            painter.setPen(QPen(QColor("#ffffff"), 2))
        elif self.highlight is False:
            color = color.darker(250)
            painter.setPen(QPen(QColor("#555"), 1))
        else:
            painter.setPen(QPen(color.darker(160), 1))
        painter.setBrush(color)
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event: Any) -> None:  # noqa: N802
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: Any) -> None:  # noqa: N802
        self._hover = False
        self.update()


class NodeItem(QGraphicsItem):
    def __init__(self, scene: GraphScene, node: Node):
        super().__init__()
        self.gscene = scene
        self.node_id = node.id
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.thumbnail: QImage | None = None
        self.thumbnail_stale = False  # an edit upstream since the picture was made
        self.progress: float | None = None
        self.error: str | None = None
        self.state = ""  # "", "running", "done", "cached"
        self._height = HEADER
        self.rebuild()
        self.setPos(*node.pos)

    # -- structure ------------------------------------------------------------------------------
    @property
    def node(self) -> Node:
        return self.gscene.graph.nodes[self.node_id]

    def rebuild(self) -> None:
        """(Re)create ports and layout from the node's type (or placeholder ports)."""
        graph = self.gscene.graph
        node = self.node
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setParentItem(None)  # type: ignore[arg-type]  # Qt takes None (no parent); the stub does not
            if port.scene() is not None:
                port.scene().removeItem(port)
        self.inputs.clear()
        self.outputs.clear()
        ins, outs = graph.input_ports(node), graph.output_ports(node)
        for i, decl in enumerate(ins):
            p = PortItem(self, decl.name, decl.display_name, decl.type, False)
            p.setPos(0, HEADER + ROW * i + ROW / 2)
            self.inputs[decl.name] = p
        for i, out in enumerate(outs):
            p = PortItem(self, out.name, out.display_name, out.type, True)
            p.setPos(NODE_WIDTH, HEADER + ROW * i + ROW / 2)
            self.outputs[out.name] = p
        self.prepareGeometryChange()
        self._relayout()

    def _summary_lines(self) -> list[str]:
        nt = self.gscene.graph.node_type(self.node)
        node = self.node
        if nt is None:
            return [f"unknown type {node.type_id}"]
        lines = []
        for key in nt.summary:
            value = node.params.get(key)
            if isinstance(value, float):
                value = f"{value:g}"
            text = str(value).replace("\n", " ")
            if len(text) > 30:
                text = "…" + text[-29:] if "/" in text else text[:29] + "…"
            lines.append(f"{nt.input(key).display_name}: {text}")  # type: ignore[union-attr]
        return lines

    def _relayout(self) -> None:
        rows = max(len(self.inputs), len(self.outputs))
        self._summary = self._summary_lines()
        h = HEADER + rows * ROW + len(self._summary) * SUMMARY_ROW + PAD
        if self.shows_thumbnail:
            h += self._thumb_size()[1] + PAD
        self._height = h

    @property
    def shows_thumbnail(self) -> bool:
        """Output nodes (preview, save) show their picture; others only when the View menu asks,
        so that a run does not grow nodes over their neighbours."""
        if self.thumbnail is None:
            return False
        if self.gscene.show_all_thumbnails:
            return True
        nt = self.gscene.graph.node_type(self.node)
        return nt is not None and not nt.outputs

    def _thumb_size(self) -> tuple[float, float]:
        assert self.thumbnail is not None
        tw, th = max(1, self.thumbnail.width()), max(1, self.thumbnail.height())
        w = min(NODE_WIDTH - 2 * PAD, THUMB * tw / th)
        return w, w * th / tw

    def refresh(self) -> None:
        self.prepareGeometryChange()
        self._relayout()
        self.update()

    # -- state shown on the node -----------------------------------------------------------------
    def set_thumbnail(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self.thumbnail = None
        else:
            rgb = np.ascontiguousarray(rgb)
            h, w = rgb.shape[:2]
            self.thumbnail = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.thumbnail_stale = False
        self.refresh()

    def mark_stale(self) -> None:
        if self.thumbnail is not None and not self.thumbnail_stale:
            self.thumbnail_stale = True
            self.update()

    def set_progress(self, fraction: float | None) -> None:
        self.progress = fraction
        self.update()

    def set_error(self, message: str | None) -> None:
        self.error = message
        self.setToolTip(f"Error: {message}" if message else "")
        self.update()

    # -- painting ---------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-2, -2, NODE_WIDTH + 4, self._height + 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        rect = QRectF(0, 0, NODE_WIDTH, self._height)
        nt = self.gscene.graph.node_type(self.node)
        header_color = theme.category_color(nt.category if nt else "")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod > 0.4)
        border = QColor(theme.SELECTION) if self.isSelected() else QColor(theme.ERROR) if self.error else QColor(
            theme.NODE_BORDER)
        painter.setPen(QPen(border, 2 if self.isSelected() or self.error else 1))
        painter.setBrush(QColor(theme.NODE_BG))
        painter.drawRoundedRect(rect, 6, 6)
        head = QPainterPath()
        head.addRoundedRect(QRectF(0, 0, NODE_WIDTH, HEADER), 6, 6)
        head.addRect(QRectF(0, HEADER / 2, NODE_WIDTH, HEADER / 2))
        painter.fillPath(head.simplified(), header_color if nt else QColor("#555"))
        if lod < 0.35:  # far out: shapes only, no text
            return
        painter.setPen(QColor(theme.TEXT))
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        title = self.gscene.graph.title_of(self.node)
        painter.drawText(QRectF(10, 0, NODE_WIDTH - 40, HEADER), Qt.AlignmentFlag.AlignVCenter, title)
        font.setBold(False)
        painter.setFont(font)
        if self.progress is not None:
            painter.fillRect(QRectF(0, HEADER - 3, NODE_WIDTH, 3), QColor(0, 0, 0, 96))
            painter.fillRect(QRectF(0, HEADER - 3, NODE_WIDTH * self.progress, 3), QColor("#7fd35b"))
        elif self.state == "done":
            painter.fillRect(QRectF(0, HEADER - 2, NODE_WIDTH, 2), QColor(127, 211, 91, 128))
        if self.error:
            painter.setBrush(QColor(theme.ERROR))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPointF(NODE_WIDTH - 14, HEADER / 2), 8, 8)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(QRectF(NODE_WIDTH - 22, 0, 16, HEADER), Qt.AlignmentFlag.AlignCenter, "!")
        painter.setPen(QColor(theme.TEXT))
        for name, port in self.inputs.items():
            painter.drawText(QRectF(12, port.y() - ROW / 2, NODE_WIDTH / 2, ROW), Qt.AlignmentFlag.AlignVCenter,
                             port.label)
            del name
        for port in self.outputs.values():
            painter.drawText(QRectF(NODE_WIDTH / 2 - 12, port.y() - ROW / 2, NODE_WIDTH / 2, ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, port.label)
        y = HEADER + max(len(self.inputs), len(self.outputs)) * ROW
        painter.setPen(QColor(theme.TEXT_DIM))
        for line in self._summary:
            painter.drawText(QRectF(10, y, NODE_WIDTH - 20, SUMMARY_ROW), Qt.AlignmentFlag.AlignVCenter, line)
            y += SUMMARY_ROW
        if self.shows_thumbnail:
            assert self.thumbnail is not None
            w, h = self._thumb_size()
            target = QRectF((NODE_WIDTH - w) / 2, y + PAD / 2, w, h)
            if self.thumbnail_stale:  # made before the latest edits: dimmed, and says so
                painter.setOpacity(0.4)
            painter.drawImage(target, self.thumbnail)
            painter.setOpacity(1.0)
            if self.thumbnail_stale:
                badge = QRectF(target.left() + 4, target.top() + 4, 64, 16)
                painter.fillRect(badge, QColor(0, 0, 0, 170))
                painter.setPen(QColor(theme.TEXT))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "outdated")

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.gscene.node_item_moved(self)
        return super().itemChange(change, value)


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    path = QPainterPath(a)
    dx = max(40.0, abs(b.x() - a.x()) * 0.5)
    path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path


class WireItem(QGraphicsPathItem):
    def __init__(self, link: Link | None, kind: Kind):
        super().__init__()
        self.link = link
        self.kind = kind
        self.setZValue(-1)
        pen = QPen(theme.port_color(kind), 2.2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)

    def set_ends(self, a: QPointF, b: QPointF) -> None:
        self.setPath(wire_path(a, b))


class GroupItem(QGraphicsItem):
    def __init__(self, group: Group):
        super().__init__()
        self.graph_group = group
        self.setZValue(-2)
        x, y, w, h = group.rect
        self.setPos(x, y)
        self._size = (w, h)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0, 0, *self._size)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        color = QColor(self.graph_group.color or "#3a4a5a")
        fill = QColor(color)
        fill.setAlpha(60)
        painter.setPen(QPen(color, 1))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self.boundingRect(), 8, 8)
        painter.setPen(QColor(theme.TEXT))
        font = QFont(painter.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        painter.drawText(QRectF(10, 4, self._size[0] - 20, 24), Qt.AlignmentFlag.AlignVCenter,
                         self.graph_group.title)
