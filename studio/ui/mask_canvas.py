"""The mask painting canvas: strokes into an 8-bit grey QImage at the image's resolution (255 =
repaint), the brush with the *lighten* composition and the eraser with *darken*, so soft dabs never
pile up; the red overlay is refreshed only where the mask changed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QRadialGradient,
    QResizeEvent,
    QUndoCommand,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QWidget,
)

from studio.core.imaging import to_uint8

if TYPE_CHECKING:
    pass


MAX_BRUSH = 1024  # px of the image
OVERLAY_RGB = (235, 35, 35)
OVERLAY_ALPHA = 128  # of 255, where the mask is 1
UNDO_LIMIT = 40  # a whole-mask step of a 2048² mask keeps 8 MB
MIN_SCALE, MAX_SCALE = 0.02, 32.0
_SOFT_SPACING = 0.1  # dab spacing of soft brushes, as a fraction of the radius


# --- pixel access --------------------------------------------------------------------------------

def _gray(img: QImage) -> np.ndarray:
    """A writable (H, W) view of a Grayscale8 image's pixels."""
    rows = np.frombuffer(img.bits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, :img.width()]


def _argb(img: QImage) -> np.ndarray:
    """A writable (H, W) uint32 view of an ARGB32 image's pixels (0xAARRGGBB)."""
    rows = np.frombuffer(img.bits(), np.uint32).reshape(img.height(), img.bytesPerLine() // 4)
    return rows[:, :img.width()]


def _slices(rect: QRect) -> tuple[slice, slice]:
    return slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)


def rgb_u8(image: np.ndarray) -> np.ndarray:
    """An image as given (uint8 or float in [0, 1]; (H, W, 3), (H, W, 4), (H, W) or a batch) → uint8 RGB."""
    arr = np.asarray(image)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or 0 in arr.shape:
        raise ValueError(f"expected an image of shape (H, W, 3), got {np.asarray(image).shape}")
    arr = arr[..., :3]
    return np.ascontiguousarray(arr if arr.dtype == np.uint8 else to_uint8(arr))


def _tint_table() -> np.ndarray:
    """Overlay pixel (premultiplied ARGB32) for each mask level."""
    a = (np.arange(256, dtype=np.uint32) * OVERLAY_ALPHA + 127) // 255
    r, g, b = ((a * c + 127) // 255 for c in OVERLAY_RGB)
    return (a << 24) | (r << 16) | (g << 8) | b


_TINT = _tint_table()


# --- undo ----------------------------------------------------------------------------------------

class MaskEdit(QUndoCommand):
    """One stroke (or fill, invert, clear): the pixels of ``rect`` before and after."""

    def __init__(self, canvas: MaskCanvas, text: str, rect: QRect, before: np.ndarray, after: np.ndarray):
        super().__init__(text)
        self.canvas, self.rect, self.before, self.after = canvas, QRect(rect), before, after
        self._done = True  # already on the canvas when pushed

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.canvas.put(self.rect, self.after)

    def undo(self) -> None:
        self.canvas.put(self.rect, self.before)


# --- the canvas ----------------------------------------------------------------------------------

class MaskCanvas(QWidget):
    """The image with the mask over it; paint with the left button, pan with the middle one (or
    Space + left), zoom with the wheel."""

    size_changed = Signal(float)
    tool_changed = Signal(str)

    def __init__(self, image: np.ndarray, mask: np.ndarray | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        rgb = rgb_u8(image)
        h, w = rgb.shape[:2]
        self._pixmap = QPixmap.fromImage(QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy())
        self._mask = QImage(w, h, QImage.Format.Format_Grayscale8)
        self._overlay = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        self._full = QRect(0, 0, w, h)
        self.stack = QUndoStack(self)
        self.stack.setUndoLimit(UNDO_LIMIT)
        self.tool = "brush"
        self.brush_size = float(max(4, min(MAX_BRUSH, round(min(w, h) / 16))))  # diameter, image pixels
        self.hardness = 1.0
        self.scale, self.offset = 1.0, QPointF(0, 0)
        self._fitted = True
        self._stroke: dict[str, Any] | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._cursor: QPointF | None = None
        _gray(self._mask)[:] = 0 if mask is None else self._mask_u8(mask)
        self._refresh(self._full)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def _mask_u8(self, mask: np.ndarray) -> np.ndarray:
        m = np.asarray(mask, dtype=np.float32)
        if m.ndim == 3 and m.shape[0] == 1:
            m = m[0]
        if m.shape != (self._full.height(), self._full.width()):
            raise ValueError(f"the mask is {m.shape[::-1]} but the image is {self._full.width()}×{self._full.height()}")
        return to_uint8(m)

    # -- the mask -----------------------------------------------------------------------------------
    def image_size(self) -> QSize:
        return self._full.size()

    def mask_array(self) -> np.ndarray:
        """The mask: (H, W) float32 in [0, 1]."""
        return _gray(self._mask).astype(np.float32) / 255.0

    def mask_u8(self) -> np.ndarray:
        return _gray(self._mask).copy()

    def put(self, rect: QRect, pixels: np.ndarray) -> None:
        """Set the mask pixels of ``rect`` (undo and redo)."""
        ys, xs = _slices(rect)
        _gray(self._mask)[ys, xs] = pixels
        self._refresh(rect)

    def _refresh(self, rect: QRect) -> None:
        """Re-tint the overlay where the mask changed, and repaint that part of the screen."""
        rect = rect.intersected(self._full)
        if rect.isEmpty():
            return
        ys, xs = _slices(rect)
        _argb(self._overlay)[ys, xs] = _TINT[_gray(self._mask)[ys, xs]]
        self.update(self._to_widget_rect(QRectF(rect)))

    def _whole(self, text: str, new: np.ndarray) -> None:
        old = self.mask_u8()
        if np.array_equal(old, new):
            return
        self._end_stroke()
        self.put(self._full, new)
        self.stack.push(MaskEdit(self, text, self._full, old, new))

    def fill(self) -> None:
        self._whole("Fill", np.full_like(self.mask_u8(), 255))

    def clear(self) -> None:
        self._whole("Clear", np.zeros_like(self.mask_u8()))

    def invert(self) -> None:
        self._whole("Invert", 255 - self.mask_u8())

    def undo(self) -> None:
        self._end_stroke()
        self.stack.undo()

    def redo(self) -> None:
        self._end_stroke()
        self.stack.redo()

    # -- tools --------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in ("brush", "eraser"):
            raise ValueError(tool)
        if tool != self.tool:
            self.tool = tool
            self.tool_changed.emit(tool)

    def set_size(self, size: float) -> None:
        size = float(max(1.0, min(float(MAX_BRUSH), size)))
        if size != self.brush_size:
            self._update_cursor_area()
            self.brush_size = size
            self._update_cursor_area()
            self.size_changed.emit(size)

    def grow(self, steps: int) -> None:
        """``]`` and ``[``: a fifth larger or smaller per step (at least a pixel)."""
        factor = 1.2 ** steps
        new = self.brush_size * factor
        if abs(new - self.brush_size) < 1:
            new = self.brush_size + (1 if steps > 0 else -1)
        self.set_size(round(new))

    def set_hardness(self, hardness: float) -> None:
        self.hardness = float(max(0.0, min(1.0, hardness)))

    # -- view ---------------------------------------------------------------------------------------
    def to_image(self, p: QPointF) -> QPointF:
        return (p - self.offset) / self.scale

    def to_widget(self, p: QPointF) -> QPointF:
        return p * self.scale + self.offset

    def _to_widget_rect(self, r: QRectF) -> QRect:
        tl, br = self.to_widget(r.topLeft()), self.to_widget(r.bottomRight())
        return QRectF(tl, br).toAlignedRect().adjusted(-2, -2, 2, 2)

    def fit(self) -> None:
        """Show the whole image, centred (Ctrl+0)."""
        margin = 8
        w, h = self._full.width(), self._full.height()
        avail_w, avail_h = max(1, self.width() - 2 * margin), max(1, self.height() - 2 * margin)
        self.scale = max(MIN_SCALE, min(MAX_SCALE, avail_w / w, avail_h / h))
        self.offset = QPointF((self.width() - w * self.scale) / 2, (self.height() - h * self.scale) / 2)
        self._fitted = True
        self.update()

    def zoom_at(self, pos: QPointF, factor: float) -> None:
        """Zoom by ``factor`` keeping the image point under ``pos`` where it is."""
        anchor = self.to_image(pos)
        self.scale = max(MIN_SCALE, min(MAX_SCALE, self.scale * factor))
        self.offset = pos - anchor * self.scale
        self._fitted = False
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_at(event.position(), 1.2 ** (delta / 120))
        event.accept()

    # -- painting the screen --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(event.rect(), QColor(40, 40, 44))
        p.save()
        p.translate(self.offset)
        p.scale(self.scale, self.scale)
        # Zoomed in, each image pixel shows as a crisp square: the mask's pixels are what gets saved.
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale < 2)
        p.drawPixmap(0, 0, self._pixmap)
        p.drawImage(0, 0, self._overlay)
        p.restore()
        if self._cursor is not None and self._pan_from is None and not self._space:
            self._paint_cursor(p, self._cursor)
        p.end()

    def _cursor_radius(self) -> float:
        return max(1.5, self.brush_size / 2 * self.scale)

    def _paint_cursor(self, p: QPainter, at: QPointF) -> None:
        r = self._cursor_radius()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 170), 3))
        p.drawEllipse(at, r, r)
        p.setPen(QPen(QColor(255, 255, 255) if self.tool == "brush" else QColor(120, 200, 255), 1.2))
        p.drawEllipse(at, r, r)
        if self.hardness < 1 and r > 6:  # where a soft brush starts to fade
            inner = r * max(self.hardness, 0.05)
            p.setPen(QPen(QColor(255, 255, 255, 110), 1, Qt.PenStyle.DashLine))
            p.drawEllipse(at, inner, inner)

    def _update_cursor_area(self) -> None:
        if self._cursor is not None:
            r = self._cursor_radius() + 4
            self.update(QRectF(self._cursor.x() - r, self._cursor.y() - r, 2 * r, 2 * r).toAlignedRect())

    def _move_cursor(self, pos: QPointF | None) -> None:
        self._update_cursor_area()
        self._cursor = pos
        self._update_cursor_area()

    # -- painting the mask ------------------------------------------------------------------------------
    def _painter(self) -> QPainter:
        p = QPainter(self._mask)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Lighten if self.tool == "brush"
                             else QPainter.CompositionMode.CompositionMode_Darken)
        return p

    def _ink(self, value: float) -> QColor:
        """The grey that paints ``value`` of the tool's effect (the eraser paints the inverse)."""
        v = round(255 * (value if self.tool == "brush" else 1.0 - value))
        return QColor(v, v, v)

    def _soft(self) -> bool:
        return self.hardness < 0.999 and self.brush_size > 2

    def _dab_brush(self, at: QPointF, r: float) -> QBrush:
        # Full strength inside hardness × radius (at least a pixel, so the stroke's centre reaches 1),
        # then a smooth fall to nothing at the rim.
        inner = min(0.95, max(self.hardness, 1.0 / r))
        grad = QRadialGradient(at, r)
        for i in range(9):
            u = i / 8
            grad.setColorAt(inner + (1 - inner) * u, self._ink(1 - u * u * (3 - 2 * u)))
        grad.setColorAt(0.0, self._ink(1.0))
        return QBrush(grad)

    def _begin_stroke(self, at: QPointF) -> None:
        self._stroke = {"before": self.mask_u8(), "bounds": QRectF(), "last": at, "to_next": 0.0}
        r = self.brush_size / 2
        p = self._painter()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._dab_brush(at, r) if self._soft() else QBrush(self._ink(1.0)))
        p.drawEllipse(at, r, r)
        p.end()
        self._stroke["to_next"] = max(0.5, r * _SOFT_SPACING)
        self._touched(QRectF(at, at))

    def _segment(self, to: QPointF) -> None:
        """Paint from the stroke's last point to ``to``: a round-capped line for a hard brush, evenly
        spaced dabs for a soft one, so a fast stroke leaves no gaps."""
        assert self._stroke is not None
        a = self._stroke["last"]
        if to == a:
            return
        r = self.brush_size / 2
        p = self._painter()
        if self._soft():
            d = math.hypot(to.x() - a.x(), to.y() - a.y())
            spacing, t = max(0.5, r * _SOFT_SPACING), self._stroke["to_next"]
            p.setPen(Qt.PenStyle.NoPen)
            while t <= d:
                at = a + (to - a) * (t / d)
                p.setBrush(self._dab_brush(at, r))
                p.drawEllipse(at, r, r)
                t += spacing
            self._stroke["to_next"] = t - d
        else:
            p.setPen(QPen(self._ink(1.0), self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                          Qt.PenJoinStyle.RoundJoin))
            p.drawLine(a, to)
        p.end()
        self._stroke["last"] = to
        self._touched(QRectF(a, to).normalized())

    def _touched(self, area: QRectF) -> None:
        assert self._stroke is not None
        pad = self.brush_size / 2 + 2
        area = area.adjusted(-pad, -pad, pad, pad)
        self._stroke["bounds"] = self._stroke["bounds"].united(area)
        self._refresh(area.toAlignedRect())

    def _end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return
        rect = stroke["bounds"].toAlignedRect().intersected(self._full)
        if rect.isEmpty():
            return
        ys, xs = _slices(rect)
        before, after = stroke["before"][ys, xs].copy(), _gray(self._mask)[ys, xs].copy()
        if not np.array_equal(before, after):
            self.stack.push(MaskEdit(self, "Paint" if self.tool == "brush" else "Erase", rect, before, after))

    # -- mouse and keys -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._end_stroke()
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self.update()
        elif button == Qt.MouseButton.LeftButton and self._stroke is None:
            self._begin_stroke(self.to_image(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._pan_from is not None:
            self.offset += pos - self._pan_from
            self._pan_from = pos
            self._fitted = False
            self.update()
        elif self._stroke is not None:
            self._segment(self.to_image(pos))
        self._move_cursor(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor)
            self.update()
        elif event.button() == Qt.MouseButton.LeftButton and self._stroke is not None:
            self._segment(self.to_image(event.position()))
            self._end_stroke()
        event.accept()

    def leaveEvent(self, event: Any) -> None:  # noqa: N802
        self._move_cursor(None)
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = True
                self.setCursor(Qt.CursorShape.OpenHandCursor)
                self.update()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = False
                if self._pan_from is None:
                    self.setCursor(Qt.CursorShape.CrossCursor)
                self.update()
            event.accept()
            return
        super().keyReleaseEvent(event)


# --- the dialog ----------------------------------------------------------------------------------
