"""Drawing, moving and resizing rectangles over an image: the canvas of the box editor.

The canvas knows nothing of graphs: it holds ``Box`` values (rectangles in output pixels) and reports
what the mouse and keys do to them through ``changed(node_id, rect, final)``; the box editor turns
that into parameter edits. ``final`` is False while a drag goes on and True once at its end, so the
caller can make a whole drag one undo step.

Mouse: drag inside a box to move it, drag an edge or corner to resize it, drag on empty space to draw
the selected box anew, double-click a box to edit its phrase. Keys: arrows move the selected box by
one grid step, Shift+arrows resize it, Tab selects the next box.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QWidget

HANDLE = 7.0  # on-screen size of a resize handle, px
GRAB = 6.0  # how close to an edge (screen px) a press grabs it
MARGIN = 12.0
_EDGE_CURSORS = {
    "l": Qt.CursorShape.SizeHorCursor, "r": Qt.CursorShape.SizeHorCursor,
    "t": Qt.CursorShape.SizeVerCursor, "b": Qt.CursorShape.SizeVerCursor,
    "lt": Qt.CursorShape.SizeFDiagCursor, "rb": Qt.CursorShape.SizeFDiagCursor,
    "rt": Qt.CursorShape.SizeBDiagCursor, "lb": Qt.CursorShape.SizeBDiagCursor,
}


def box_color(index: int) -> QColor:
    """A distinct, bright colour per box (hues a golden angle apart)."""
    return QColor.fromHsv(int(index * 137.508 + 200) % 360, 190, 255)


@dataclass
class Box:
    """One node's rectangle in output pixels. ``grid`` is the snap step (x, y) in pixels and ``min_size``
    the smallest width and height the node's parameters allow."""

    node_id: str
    rect: QRectF
    label: str
    color: QColor
    grid: tuple[float, float] = (8.0, 8.0)
    min_size: tuple[float, float] = (8.0, 8.0)

    @property
    def empty(self) -> bool:
        return self.rect.width() <= 0 or self.rect.height() <= 0


def _snap(value: float, step: float) -> float:
    return round(value / step) * step if step > 0 else value


def paint_boxes(p: QPainter, target: QRectF, size: QSizeF, boxes: list[Box], selected: str | None = None,
                *, handles: bool = False) -> None:
    """Paint ``boxes`` (in output pixels of ``size``) mapped onto ``target`` (widget coordinates):
    coloured outlines, a light fill, the label on a tag; the selected one stronger, with handles."""
    if size.width() <= 0 or size.height() <= 0:
        return
    sx, sy = target.width() / size.width(), target.height() / size.height()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont(p.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
    font.setBold(True)
    p.setFont(font)
    metrics = QFontMetrics(font)
    order = [b for b in boxes if b.node_id != selected] + [b for b in boxes if b.node_id == selected]
    for box in order:
        if box.empty:
            continue
        on = box.node_id == selected
        r = QRectF(target.x() + box.rect.x() * sx, target.y() + box.rect.y() * sy,
                   box.rect.width() * sx, box.rect.height() * sy)
        fill = QColor(box.color)
        fill.setAlpha(70 if on else 35)
        p.fillRect(r, fill)
        p.setPen(QPen(QColor(0, 0, 0, 170), 5.0 if on else 4.0))  # a dark rim: visible on any image
        p.drawRect(r)
        p.setPen(QPen(box.color, 2.5 if on else 2.0))
        p.drawRect(r)
        if box.label:
            # A tag may pass a narrow box's edge: a phrase is worth reading.
            text = metrics.elidedText(box.label, Qt.TextElideMode.ElideRight, int(max(r.width() - 8, 180)))
            tag = QRectF(r.x(), r.y(), metrics.horizontalAdvance(text) + 8, metrics.height() + 2)
            p.fillRect(tag, box.color)
            p.setPen(QColor(20, 20, 24))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
        if on and handles:
            p.setPen(QPen(QColor(20, 20, 24), 1.0))
            p.setBrush(QColor(255, 255, 255))
            for pt in _handle_points(r).values():
                p.drawRect(QRectF(pt.x() - HANDLE / 2, pt.y() - HANDLE / 2, HANDLE, HANDLE))
            p.setBrush(Qt.BrushStyle.NoBrush)
    p.restore()


def _handle_points(r: QRectF) -> dict[str, QPointF]:
    cx, cy = r.center().x(), r.center().y()
    return {"lt": r.topLeft(), "t": QPointF(cx, r.top()), "rt": r.topRight(), "r": QPointF(r.right(), cy),
            "rb": r.bottomRight(), "b": QPointF(cx, r.bottom()), "lb": r.bottomLeft(), "l": QPointF(r.left(), cy)}


class BoxCanvas(QWidget):
    """The output (a background image, or a blank canvas of the output's size) with the boxes on it."""

    selected_changed = Signal(str)  # node id ("" for none)
    changed = Signal(str, QRectF, bool)  # node id, new rectangle (output pixels), final
    label_edit_requested = Signal(str)  # node id: a box was double-clicked (edit its phrase)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.size_px = QSizeF(512, 512)
        self.background: QImage | None = None
        self.boxes: list[Box] = []
        self.selected: str | None = None
        self.scale, self.offset = 1.0, QPointF(MARGIN, MARGIN)
        self._drag: dict | None = None
        self.empty_text = ""  # shown when there are no boxes
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 160)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # -- state ----------------------------------------------------------------------------------------
    def set_output_size(self, width: float, height: float) -> None:
        self.size_px = QSizeF(max(1.0, width), max(1.0, height))
        self._fit()
        self.update()

    def set_background(self, image: QImage | None) -> None:
        self.background = image if image is not None and not image.isNull() else None
        self.update()

    def set_boxes(self, boxes: list[Box]) -> None:
        """New rectangles (the graph changed); a drag in progress goes on from where it started."""
        self.boxes = boxes
        if self.selected is not None and self.box(self.selected) is None:
            self.selected = None
        self.update()

    def box(self, node_id: str | None) -> Box | None:
        return next((b for b in self.boxes if b.node_id == node_id), None)

    def select(self, node_id: str | None, *, notify: bool = True) -> None:
        node_id = node_id if self.box(node_id) is not None else None
        if node_id != self.selected:
            self.selected = node_id
            self.update()
            if notify:
                self.selected_changed.emit(node_id or "")

    def cancel_drag(self) -> None:
        """End a drag now (the widget is going away): what it did so far stays, as one final change."""
        drag, self._drag = self._drag, None
        if drag is not None and drag["emitted"]:
            self.changed.emit(drag["node"], drag["last"], True)

    # -- geometry -------------------------------------------------------------------------------------
    def _fit(self) -> None:
        w, h = self.size_px.width(), self.size_px.height()
        avail_w, avail_h = max(1.0, self.width() - 2 * MARGIN), max(1.0, self.height() - 2 * MARGIN)
        self.scale = min(avail_w / w, avail_h / h)
        self.offset = QPointF((self.width() - w * self.scale) / 2, (self.height() - h * self.scale) / 2)

    def canvas_rect(self) -> QRectF:
        """Where the output lies on the widget."""
        return QRectF(self.offset, QSizeF(self.size_px.width() * self.scale, self.size_px.height() * self.scale))

    def to_output(self, p: QPointF) -> QPointF:
        return (p - self.offset) / self.scale

    def to_widget(self, p: QPointF) -> QPointF:
        return p * self.scale + self.offset

    def widget_rect(self, r: QRectF) -> QRectF:
        return QRectF(self.to_widget(r.topLeft()), self.to_widget(r.bottomRight()))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    # -- hit testing ----------------------------------------------------------------------------------
    def _hit(self, pos: QPointF) -> tuple[Box, str] | None:
        """The box under ``pos`` and which edges it grabs ("" = inside: a move): the selected box
        first, then from the topmost down; any box's edges resize it."""
        sel = self.box(self.selected)
        order = [b for b in ([sel] if sel is not None else []) + [b for b in reversed(self.boxes) if b is not sel]
                 if not b.empty]
        for box in order:
            edges = self._edges_at(self.widget_rect(box.rect), pos)
            if edges:
                return box, edges
        for box in order:
            if self.widget_rect(box.rect).adjusted(-1, -1, 1, 1).contains(pos):
                return box, ""
        return None

    @staticmethod
    def _edges_at(r: QRectF, pos: QPointF) -> str:
        if not r.adjusted(-GRAB, -GRAB, GRAB, GRAB).contains(pos):
            return ""
        x_edge = "l" if abs(pos.x() - r.left()) <= GRAB else "r" if abs(pos.x() - r.right()) <= GRAB else ""
        y_edge = "t" if abs(pos.y() - r.top()) <= GRAB else "b" if abs(pos.y() - r.bottom()) <= GRAB else ""
        return x_edge + y_edge

    # -- editing --------------------------------------------------------------------------------------
    def _clamped(self, box: Box, r: QRectF) -> QRectF:
        """``r`` kept inside the output and at least the box's smallest size."""
        w_max, h_max = self.size_px.width(), self.size_px.height()
        w = min(max(r.width(), box.min_size[0]), w_max)
        h = min(max(r.height(), box.min_size[1]), h_max)
        x = min(max(r.x(), 0.0), w_max - w)
        y = min(max(r.y(), 0.0), h_max - h)
        return QRectF(x, y, w, h)

    def _moved(self, box: Box, start: QRectF, delta: QPointF) -> QRectF:
        gx, gy = box.grid
        x, y = _snap(start.x() + delta.x(), gx), _snap(start.y() + delta.y(), gy)
        return self._clamped(box, QRectF(x, y, start.width(), start.height()))

    def _resized(self, box: Box, start: QRectF, edges: str, at: QPointF) -> QRectF:
        gx, gy = box.grid
        w_max, h_max = self.size_px.width(), self.size_px.height()
        left, top, right, bottom = start.left(), start.top(), start.right(), start.bottom()
        x, y = min(max(_snap(at.x(), gx), 0.0), w_max), min(max(_snap(at.y(), gy), 0.0), h_max)
        min_w, min_h = box.min_size
        if "l" in edges:
            left = min(x, right - min_w)
        if "r" in edges:
            right = max(x, left + min_w)
        if "t" in edges:
            top = min(y, bottom - min_h)
        if "b" in edges:
            bottom = max(y, top + min_h)
        return self._clamped(box, QRectF(QPointF(left, top), QPointF(right, bottom)))

    def _drawn(self, box: Box, a: QPointF, b: QPointF) -> QRectF | None:
        gx, gy = box.grid
        w_max, h_max = self.size_px.width(), self.size_px.height()
        x0, x1 = sorted(min(max(_snap(v, gx), 0.0), w_max) for v in (a.x(), b.x()))
        y0, y1 = sorted(min(max(_snap(v, gy), 0.0), h_max) for v in (a.y(), b.y()))
        if x1 - x0 < gx or y1 - y0 < gy:
            return None  # not yet a rectangle: a click, or a drag shorter than one grid step
        return self._clamped(box, QRectF(x0, y0, x1 - x0, y1 - y0))

    def _report(self, rect: QRectF, final: bool) -> None:
        drag = self._drag
        assert drag is not None
        if rect != drag["last"]:
            drag["last"], drag["emitted"] = QRectF(rect), True
            self.changed.emit(drag["node"], QRectF(rect), final)
        elif final and drag["emitted"]:
            self.changed.emit(drag["node"], QRectF(rect), True)

    # -- mouse ----------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus()
        pos = event.position()
        hit = self._hit(pos)
        if hit is not None:
            box, edges = hit
            self.select(box.node_id, notify=False)
            self.selected_changed.emit(box.node_id)  # picked again: the graph's selection follows too
            mode = "resize" if edges else "move"
        else:
            chosen = self.box(self.selected)
            if chosen is None:
                self.message.emit("Select a box in the list first, then drag on the canvas to draw it")
                return
            box, edges, mode = chosen, "", "draw"
        self._drag = {"node": box.node_id, "mode": mode, "edges": edges, "start": QRectF(box.rect),
                      "from": self.to_output(pos), "last": QRectF(box.rect), "emitted": False}
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._drag is None:
            hit = self._hit(pos)
            cursor = (Qt.CursorShape.CrossCursor if hit is None else
                      _EDGE_CURSORS.get(hit[1], Qt.CursorShape.SizeAllCursor))
            self.setCursor(cursor)
            return
        rect = self._drag_rect(pos)
        if rect is not None:
            self._report(rect, False)

    def _drag_rect(self, pos: QPointF) -> QRectF | None:
        drag = self._drag
        assert drag is not None
        box = self.box(drag["node"])
        if box is None:
            return None
        at = self.to_output(pos)
        if drag["mode"] == "move":
            return self._moved(box, drag["start"], at - drag["from"])
        if drag["mode"] == "resize":
            return self._resized(box, drag["start"], drag["edges"], at)
        return self._drawn(box, drag["from"], at)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return
        rect = self._drag_rect(event.position())
        if rect is not None:
            self._report(rect, True)
        elif self._drag["emitted"]:
            self.changed.emit(self._drag["node"], QRectF(self._drag["last"]), True)
        self._drag = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        hit = self._hit(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
        if hit is not None:
            self._drag = None
            self.label_edit_requested.emit(hit[0].node_id)
            event.accept()

    def label_rect(self, node_id: str) -> QRectF:
        """Where a box's label tag starts on the widget (an editor for the phrase goes there)."""
        box = self.box(node_id)
        return self.widget_rect(box.rect) if box is not None else QRectF()

    # -- keys -----------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = Qt.Key(event.key())
        if key == Qt.Key.Key_Tab and self.boxes:
            ids = [b.node_id for b in self.boxes]
            nxt = (ids.index(self.selected) + 1) % len(ids) if self.selected in ids else 0
            self.select(ids[nxt])
            return
        steps = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        box = self.box(self.selected)
        if key not in steps or box is None or box.empty or self._drag is not None:
            super().keyPressEvent(event)
            return
        dx, dy = steps[key]
        gx, gy = box.grid
        r = QRectF(box.rect)
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:  # resize from the bottom-right corner
            r.setWidth(max(box.min_size[0], r.width() + dx * gx))
            r.setHeight(max(box.min_size[1], r.height() + dy * gy))
            r = self._clamped(box, r)
        else:
            r = self._moved(box, r, QPointF(dx * gx, dy * gy))
        if r != box.rect:
            self.changed.emit(box.node_id, r, True)
        event.accept()

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 (Qt API): Tab cycles the boxes
        return False if self.boxes else super().focusNextPrevChild(next)

    # -- painting -------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(event.rect(), QColor(34, 34, 38))
        area = self.canvas_rect()
        if self.background is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(area, self.background)
        else:
            self._paint_blank(p, area)
        paint_boxes(p, area, self.size_px, self.boxes, self.selected, handles=True)
        if not self.boxes and self.empty_text:
            p.setPen(QColor(200, 200, 210))
            p.drawText(area.adjusted(16, 16, -16, -16), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.empty_text)
        p.end()

    def _paint_blank(self, p: QPainter, area: QRectF) -> None:
        p.fillRect(area, QColor(58, 58, 64))
        p.setPen(QPen(QColor(74, 74, 82), 1.0))
        step = 64.0  # output pixels: a grid line every 64 px (8 latent pixels)
        w, h = self.size_px.width(), self.size_px.height()
        x = step
        while x < w:
            p.drawLine(self.to_widget(QPointF(x, 0)), self.to_widget(QPointF(x, h)))
            x += step
        y = step
        while y < h:
            p.drawLine(self.to_widget(QPointF(0, y)), self.to_widget(QPointF(w, y)))
            y += step
        p.setPen(QColor(150, 150, 160))
        p.drawText(area.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                   f"{round(w)} × {round(h)}")
