"""Nodes drawn their own way: reroute dots and Markdown notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from studio.core.graph import MUTE, Node
from studio.core.types import Kind
from studio.ui import theme

from .inline_edit import InlineTextEdit, view_for
from .items import (
    HEADER,
    NOTE_MAX_CHARS,
    NOTE_MAX_TEXT,
    NOTE_MIN_TEXT,
    NOTE_PAD,
    NOTE_WIDTH,
    REROUTE_RADIUS,
    NodeItem,
    PortItem,
    font,
    mix,
    valid_color,
)

if TYPE_CHECKING:
    from .scene import GraphScene


class RerouteItem(NodeItem):
    """A reroute: a small dot in the colour of the type it carries, its input and output at the dot."""

    def __init__(self, scene: GraphScene, node: Node):
        self.kind = Kind.ANY
        super().__init__(scene, node)

    def _make_ports(self) -> None:
        graph = self.gscene.graph
        # Small hit areas at the dot's edges leave its middle free for dragging the dot itself.
        [decl], [out] = graph.input_ports(self.node), graph.output_ports(self.node)
        self.inputs[decl.name] = PortItem(self, decl.name, "in", decl.type, False, bare=True, hit=5)
        self.outputs[out.name] = PortItem(self, out.name, "out", out.type, True, bare=True, hit=5)

    def _restyle(self) -> None:
        super()._restyle()
        self.badge = ""
        self.header_color = theme.port_color(self.kind)

    def _relayout(self) -> None:
        r = REROUTE_RADIUS
        self._width = self._height = 2 * r
        for p in self.inputs.values():
            p.setPos(0, r)
        for p in self.outputs.values():
            p.setPos(2 * r, r)
        self._extent = (0.0, 0.0)

    def zoom_changed(self, zoom: float) -> None:
        pass  # no title to scale

    def refresh_kind(self) -> bool:
        """Take the type of what feeds the reroute; True when its kind changed."""
        carried = self.gscene.graph.output_type(self.node_id, "value")
        for p in (*self.inputs.values(), *self.outputs.values()):
            p.set_type(carried)
        changed = carried.kind is not self.kind
        self.kind = carried.kind
        self.header_color = theme.port_color(self.kind)
        self.setToolTip(f"Reroute: {carried}")
        self.update()
        return changed

    def refresh(self) -> None:
        self.refresh_kind()
        super().refresh()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-3, -3, 2 * REROUTE_RADIUS + 6, 2 * REROUTE_RADIUS + 6)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.node_rect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        color = self.header_color
        painter.setPen(QPen(QColor(theme.SELECTION), 2) if self.isSelected() else QPen(color.darker(170), 1.5))
        painter.setBrush(color)
        painter.drawEllipse(QPointF(REROUTE_RADIUS, REROUTE_RADIUS), REROUTE_RADIUS, REROUTE_RADIUS)


class NoteItem(NodeItem):
    """A note: a yellow card showing its Markdown; double-click edits the text in place."""

    title_color = theme.NOTE_TEXT
    lod_detail = 0.3  # a note is read from further out than port labels: its text is the point

    def __init__(self, scene: GraphScene, node: Node):
        self.document = QTextDocument()
        self.document.setDocumentMargin(0)
        self.document.setDefaultFont(font(13))
        self._source: str | None = None
        self._text_height = NOTE_MIN_TEXT
        self.clipped = False
        self.inline_editor: InlineTextEdit | None = None
        self._ctx = QAbstractTextDocumentLayout.PaintContext()
        palette = QPalette()
        palette.setColor(QPalette.ColorRole.Text, QColor(theme.NOTE_TEXT))
        palette.setColor(QPalette.ColorRole.Link, QColor(theme.NOTE_LINK))
        self._ctx.palette = palette
        super().__init__(scene, node)

    @property
    def text(self) -> str:
        value = self.node.params.get("text", "")
        return value if isinstance(value, str) else str(value)

    def _summary_lines(self) -> list[str]:
        return []

    def _restyle(self) -> None:
        super()._restyle()
        custom = valid_color(self.node.color)
        self.header_color = custom or QColor(theme.NOTE_HEADER)
        self.body_color = mix(theme.NOTE_BG, custom, 0.3) if custom else QColor(theme.NOTE_BG)
        if self.node.mode == MUTE:
            self.header_color = QColor(theme.MUTED_HEADER)

    def _relayout(self) -> None:
        super()._relayout()
        if self.collapsed:
            return
        source = self.text
        if source != self._source:
            self._source = source
            self.document.setMarkdown(source[:NOTE_MAX_CHARS])
        self.document.setTextWidth(NOTE_WIDTH - 2 * NOTE_PAD)
        full = self.document.size().height()
        self.clipped = full > NOTE_MAX_TEXT
        self._text_height = max(NOTE_MIN_TEXT, min(full, NOTE_MAX_TEXT))
        self._width, self._height = NOTE_WIDTH, HEADER + self._text_height + 2 * NOTE_PAD + 6
        self._header_path = QPainterPath()
        self._header_path.addRoundedRect(QRectF(0, 0, NOTE_WIDTH, HEADER), 6, 6)
        self._header_path.addRect(QRectF(0, HEADER / 2, NOTE_WIDTH, HEADER / 2))
        self._header_path = self._header_path.simplified()

    def _paint_details(self, painter: QPainter) -> None:
        painter.save()
        painter.translate(NOTE_PAD, HEADER + NOTE_PAD)
        clip = QRectF(0, 0, NOTE_WIDTH - 2 * NOTE_PAD, self._text_height)
        painter.setClipRect(clip)
        self._ctx.clip = clip
        self.document.documentLayout().draw(painter, self._ctx)
        painter.restore()
        if self.clipped:  # there is more: say so where the text is cut
            more = QRectF(NOTE_WIDTH - NOTE_PAD - 28, HEADER + NOTE_PAD + self._text_height - 16, 28, 18)
            painter.fillRect(more, self.body_color)
            painter.setPen(QColor(theme.NOTE_TEXT))
            painter.setFont(font(14, True))
            painter.drawText(more, Qt.AlignmentFlag.AlignCenter, "…")
        painter.setPen(QPen(QColor(theme.NOTE_HEADER), 1.2))  # a resize grip, as on a card
        x, y = self._width - 4, self._height - 4
        for d in (4.0, 8.0, 12.0):
            painter.drawLine(QPointF(x - d, y), QPointF(x, y - d))

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and not self.collapsed:
            self.start_editing(event.widget())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def start_editing(self, widget: QWidget | None = None) -> InlineTextEdit | None:
        """Edit the Markdown source in place; focus-out commits (one undo step), Escape cancels."""
        view = view_for(self, widget)
        if view is None or self.inline_editor is not None:
            return self.inline_editor
        area = self.mapRectToScene(QRectF(0, HEADER, self._width, max(self._height - HEADER, 160)))
        editor = InlineTextEdit(view, self.text, self._finish_editing)
        editor.setStyleSheet(f"QPlainTextEdit {{ background: {theme.NOTE_BG}; color: {theme.NOTE_TEXT};"
                             f" border: 1px solid {theme.NOTE_HEADER}; }}")
        editor.place(view, area, 13)
        self.inline_editor = editor
        return editor

    def _finish_editing(self, text: str | None) -> None:
        self.inline_editor = None
        if text is None or text == self.text or self.node_id not in self.gscene.graph.nodes:
            return
        if self.gscene.editor is not None:
            self.gscene.editor.set_param(self.node_id, "text", text)
        else:
            self.gscene.graph.set_param(self.node_id, "text", text)
