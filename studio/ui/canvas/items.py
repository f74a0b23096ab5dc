"""Graphics items: nodes (with ports, summary, thumbnail, progress, mode and error badges) and wires.
Reroutes and notes are in ``special_nodes``, groups in ``group_item``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from studio.core.graph import BYPASS, MUTE, Link, Node
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
COLLAPSED_MIN_WIDTH = 72.0
# Level of detail: below LOD_DETAIL (the view's zoom) port labels, summaries, thumbnails and note text
# are left out; titles grow so that they never look smaller than TITLE_MIN_PX on screen.
LOD_DETAIL = 0.5
TITLE_PX = 13
TITLE_MIN_PX = 9.0
TITLE_MARGIN_PX = 24.0  # how far (on screen) a zoomed-out title may run past the node's right edge
REROUTE_RADIUS = 7.0
NOTE_WIDTH = 280.0
NOTE_PAD = 10.0
NOTE_MIN_TEXT = 40.0
NOTE_MAX_TEXT = 320.0  # taller notes are clipped with "…"; the full text is in the editor
NOTE_MAX_CHARS = 20_000  # laying out megabytes of Markdown for a clipped card would stall the canvas
GROUP_TITLE = 32.0
GROUP_TITLE_PX = 16
GROUP_GRIP = 16.0
GROUP_MIN_SIZE = (140.0, 80.0)

_FONTS: dict[tuple[int, bool], QFont] = {}


def font(px: float, bold: bool = False) -> QFont:
    """A shared font of ``px`` pixels (fonts are made once, not on every paint)."""
    key = (max(1, math.ceil(px)), bold)
    hit = _FONTS.get(key)
    if hit is None:
        hit = QFont()
        hit.setPixelSize(key[0])
        hit.setBold(bold)
        _FONTS[key] = hit
    return hit


def title_px(zoom: float, base: int = TITLE_PX) -> int:
    """Title size in scene pixels so that the title is never under TITLE_MIN_PX on screen."""
    return max(base, math.ceil(TITLE_MIN_PX / max(zoom, 1e-3) - 1e-9))


def mix(a: QColor | str, b: QColor | str, t: float) -> QColor:
    """``a`` blended toward ``b`` by ``t`` (0..1)."""
    ca, cb = QColor(a), QColor(b)
    return QColor.fromRgbF(ca.redF() + (cb.redF() - ca.redF()) * t, ca.greenF() + (cb.greenF() - ca.greenF()) * t,
                           ca.blueF() + (cb.blueF() - ca.blueF()) * t)


def valid_color(value: str | None) -> QColor | None:
    if not value:
        return None
    c = QColor(value)
    return c if c.isValid() else None


class PortItem(QGraphicsItem):
    """A wire input or an output of a node; the thing wires are dragged from and dropped on."""

    def __init__(self, node_item: NodeItem, name: str, label: str, port_type: PortType, is_output: bool,
                 *, bare: bool = False, hit: float = PORT_RADIUS + 4):
        super().__init__(node_item)
        self.node_item, self.name, self.label = node_item, name, label
        self.port_type, self.is_output = port_type, is_output
        self.highlight: bool | None = None  # True: can accept the wire being dragged; False: cannot
        self.bare = bare  # drawn only while hovered or highlighted (a reroute's dot is its ports)
        self._hit = hit
        self.setAcceptHoverEvents(True)
        self.setToolTip(f"{label or name}: {port_type}")
        self._hover = False

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def set_type(self, port_type: PortType) -> None:
        self.port_type = port_type
        self.setToolTip(f"{self.label or self.name}: {port_type}")
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return QRectF(-self._hit, -self._hit, 2 * self._hit, 2 * self._hit)

    def scene_anchor(self) -> QPointF:
        return self.scenePos()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.bare and self.highlight is None and not self._hover:
            return
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
        # The cache is re-rendered whenever the view's scale changes, so zoom-dependent text is safe.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.thumbnail: QImage | None = None
        self.thumbnail_stale = False  # an edit upstream since the picture was made
        self.progress: float | None = None
        self.error: str | None = None
        self.state = ""  # "", "running", "done", "cached"
        self.header_color = QColor("#555")
        self.body_color = QColor(theme.NODE_BG)
        self.badge = ""  # "bypassed" or "muted"
        self._badge_width = 0.0
        self._width, self._height = NODE_WIDTH, HEADER
        self._summary: list[str] = []
        self._header_path = QPainterPath()
        self._extent = (0.0, HEADER)  # what a zoomed-out title adds: width past the node, height
        self.rebuild()
        self.setPos(*node.pos)

    # -- structure ------------------------------------------------------------------------------
    @property
    def node(self) -> Node:
        return self.gscene.graph.nodes[self.node_id]

    @property
    def collapsed(self) -> bool:
        return self.node.collapsed

    def node_rect(self) -> QRectF:
        """The node's body in item coordinates (no selection margin, no zoomed-out title)."""
        return QRectF(0, 0, self._width, self._height)

    def scene_node_rect(self) -> QRectF:
        return self.mapRectToScene(self.node_rect())

    def rebuild(self) -> None:
        """(Re)create ports and layout from the node's type (or placeholder ports)."""
        for port in [*self.inputs.values(), *self.outputs.values()]:
            port.setParentItem(None)  # type: ignore[arg-type]  # Qt takes None (no parent); the stub does not
            if port.scene() is not None:
                port.scene().removeItem(port)
        self.inputs.clear()
        self.outputs.clear()
        self._make_ports()
        self.refresh()

    def _make_ports(self) -> None:
        graph = self.gscene.graph
        for decl in graph.input_ports(self.node):
            self.inputs[decl.name] = PortItem(self, decl.name, decl.display_name, decl.type, False)
        for out in graph.output_ports(self.node):
            self.outputs[out.name] = PortItem(self, out.name, out.display_name, out.type, True)

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

    def _restyle(self) -> None:
        """Colours and badge from the node's colour, category and mode."""
        node = self.node
        nt = self.gscene.graph.node_type(node)
        custom = valid_color(node.color)
        header = custom or (theme.category_color(nt.category) if nt else QColor("#555"))
        body = mix(theme.NODE_BG, custom, 0.18) if custom else QColor(theme.NODE_BG)
        self.badge = ""
        if node.mode == BYPASS:
            header, body, self.badge = mix(header, theme.BYPASS, 0.75), mix(body, theme.BYPASS, 0.35), "bypassed"
        elif node.mode == MUTE:
            header, self.badge = QColor(theme.MUTED_HEADER), "muted"
        self.header_color, self.body_color = header, body
        self.setOpacity(theme.MUTED_OPACITY if node.mode == MUTE else 1.0)
        self._badge_width = QFontMetricsF(font(10, True)).horizontalAdvance(self.badge) + 12 if self.badge else 0.0

    def _relayout(self) -> None:
        self._summary = self._summary_lines()
        collapsed = self.collapsed
        if collapsed:
            title = self.gscene.graph.title_of(self.node)
            w = QFontMetricsF(font(TITLE_PX, True)).horizontalAdvance(title) + 26 + self._badge_width
            self._width, self._height = min(NODE_WIDTH, max(COLLAPSED_MIN_WIDTH, w)), HEADER
        else:
            rows = max(len(self.inputs), len(self.outputs))
            h = HEADER + rows * ROW + len(self._summary) * SUMMARY_ROW + PAD
            if self.shows_thumbnail:
                h += self._thumb_size()[1] + PAD
            self._width, self._height = NODE_WIDTH, h
        # A collapsed node's wires all meet the header's edges; its ports are hidden (no wiring there).
        for i, p in enumerate(self.inputs.values()):
            p.setPos(0, HEADER / 2 if collapsed else HEADER + ROW * i + ROW / 2)
            p.setVisible(not collapsed)
        for i, p in enumerate(self.outputs.values()):
            p.setPos(self._width, HEADER / 2 if collapsed else HEADER + ROW * i + ROW / 2)
            p.setVisible(not collapsed)
        head = QPainterPath()
        head.addRoundedRect(QRectF(0, 0, self._width, HEADER), 6, 6)
        if not collapsed:
            head.addRect(QRectF(0, HEADER / 2, self._width, HEADER / 2))
        self._header_path = head.simplified()
        self._extent = self._title_extent(self.gscene.zoom)

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
        """Re-read the node (parameters, title, mode, colour, collapse) and lay it out again."""
        self.prepareGeometryChange()
        self._restyle()
        self._relayout()
        self.update()
        if self.scene() is not None:
            self.gscene.node_item_moved(self)  # ports may have moved: wires follow

    # -- level of detail --------------------------------------------------------------------------
    def _title_extent(self, zoom: float) -> tuple[float, float]:
        px = title_px(zoom)
        if px <= TITLE_PX:
            return 0.0, HEADER
        return TITLE_MARGIN_PX / zoom, px * 1.3

    def zoom_changed(self, zoom: float) -> None:
        extent = self._title_extent(zoom)
        if extent != self._extent:
            self.prepareGeometryChange()
            self._extent = extent

    def title_font(self, zoom: float) -> QFont:
        """The title's font at this zoom: scaled up when zoomed out, so it stays readable."""
        return font(title_px(zoom), True)

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
        extra_w, title_h = self._extent
        return QRectF(-2, -2, self._width + 4 + extra_w, max(self._height, title_h) + 4)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.node_rect())
        return path

    def _border_pen(self) -> QPen:
        if self.isSelected():
            return QPen(QColor(theme.SELECTION), 2)
        if self.error:
            return QPen(QColor(theme.ERROR), 2)
        return QPen(QColor(theme.NODE_BORDER), 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        w = self._width
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod > 0.4)
        painter.setPen(self._border_pen())
        painter.setBrush(self.body_color)
        painter.drawRoundedRect(self.node_rect(), 6, 6)
        painter.fillPath(self._header_path, self.header_color)
        right = w - 8
        if self.error:
            painter.setBrush(QColor(theme.ERROR))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPointF(w - 14, HEADER / 2), 8, 8)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(QRectF(w - 22, 0, 16, HEADER), Qt.AlignmentFlag.AlignCenter, "!")
            right -= 22
        if self.badge:
            right -= self._badge_width
            self._paint_badge(painter, QRectF(right, (HEADER - 16) / 2, self._badge_width, 16))
            right -= 4
        self._paint_title(painter, lod, right)
        if self.collapsed:
            return
        if self.progress is not None:
            painter.fillRect(QRectF(0, HEADER - 3, w, 3), QColor(0, 0, 0, 96))
            painter.fillRect(QRectF(0, HEADER - 3, w * self.progress, 3), QColor("#7fd35b"))
        elif self.state == "done":
            painter.fillRect(QRectF(0, HEADER - 2, w, 2), QColor(127, 211, 91, 128))
        if lod < self.lod_detail:  # far out: the title says what it is; the rest would be a smudge
            return
        self._paint_details(painter)

    def _paint_badge(self, painter: QPainter, rect: QRectF) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.BYPASS) if self.badge == "bypassed" else QColor(0, 0, 0, 110))
        painter.drawRoundedRect(rect, 8, 8)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(font(10, True))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.badge)

    title_color = theme.TEXT
    lod_detail = LOD_DETAIL

    def _paint_title(self, painter: QPainter, lod: float, right: float) -> None:
        px = title_px(lod)
        painter.setPen(QColor(self.title_color))
        painter.setFont(font(px, True))
        title = self.gscene.graph.title_of(self.node)
        if px <= TITLE_PX:
            painter.drawText(QRectF(10, 0, max(0.0, right - 10), HEADER), Qt.AlignmentFlag.AlignVCenter, title)
        else:  # zoomed out: a big title over the node, clipped to its width plus a margin
            painter.drawText(QRectF(6, 0, self._width - 6 + TITLE_MARGIN_PX / lod, px * 1.3),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)

    def _paint_details(self, painter: QPainter) -> None:
        w = self._width
        painter.setFont(font(12))
        painter.setPen(QColor(theme.TEXT))
        for port in self.inputs.values():
            painter.drawText(QRectF(12, port.y() - ROW / 2, w / 2, ROW), Qt.AlignmentFlag.AlignVCenter, port.label)
        for port in self.outputs.values():
            painter.drawText(QRectF(w / 2 - 12, port.y() - ROW / 2, w / 2, ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, port.label)
        y = HEADER + max(len(self.inputs), len(self.outputs)) * ROW
        painter.setPen(QColor(theme.TEXT_DIM))
        for line in self._summary:
            painter.drawText(QRectF(10, y, w - 20, SUMMARY_ROW), Qt.AlignmentFlag.AlignVCenter, line)
            y += SUMMARY_ROW
        if self.shows_thumbnail:
            assert self.thumbnail is not None
            tw, th = self._thumb_size()
            target = QRectF((w - tw) / 2, y + PAD / 2, tw, th)
            opacity = painter.opacity()
            if self.thumbnail_stale:  # made before the latest edits: dimmed, and says so
                painter.setOpacity(opacity * 0.4)
            painter.drawImage(target, self.thumbnail)
            painter.setOpacity(opacity)
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

    def set_kind(self, kind: Kind) -> None:
        if kind is not self.kind:
            self.kind = kind
            pen = self.pen()
            pen.setColor(theme.port_color(kind))
            self.setPen(pen)

    def set_ends(self, a: QPointF, b: QPointF) -> None:
        self.setPath(wire_path(a, b))

