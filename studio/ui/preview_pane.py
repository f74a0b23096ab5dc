"""The preview pane: the newest image (sampler step previews, a node's output) with zoom and pan.

``show_array`` only stores the frame and schedules a repaint, so a burst of frames costs one paint:
frames that arrive before the next paint are dropped unconverted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolBar, QVBoxLayout, QWidget

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 1 / 64, 64.0


def to_display_array(array: np.ndarray) -> np.ndarray:
    """Any preview array → contiguous uint8 (H, W, 3|4) or (H, W); a batch becomes a grid."""
    arr = np.asarray(array)
    if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
        arr = _grid(arr)  # an IMAGE batch (B, H, W, C) or a MASK batch (B, H, W)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ValueError(f"cannot show an array of shape {array.shape}")
    return np.ascontiguousarray(arr)


def _grid(batch: np.ndarray) -> np.ndarray:
    if batch.shape[0] == 1:
        return batch[0]
    n = batch.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = batch.shape[1:3]
    out = np.zeros((rows * h, cols * w, *batch.shape[3:]), dtype=batch.dtype)
    for i, frame in enumerate(batch):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = frame
    return out


def to_qimage(arr: np.ndarray) -> QImage:
    """A QImage that owns a copy of ``arr`` (uint8, contiguous), so the array may change or go away."""
    h, w = arr.shape[:2]
    fmt = QImage.Format.Format_Grayscale8
    if arr.ndim == 3:
        fmt = QImage.Format.Format_RGB888 if arr.shape[2] == 3 else QImage.Format.Format_RGBA8888
    return QImage(arr.data, w, h, arr.strides[0], fmt).copy()


class ImageView(QWidget):
    """Paints one image with a scale and an offset; fit mode refits on every resize and new frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 64)
        self.setMouseTracking(False)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.image: QImage | None = None
        self.message = ""
        self.fit_mode = True
        self.scale = 1.0
        self.offset = QPointF(0, 0)  # widget position of the image's top-left corner
        self._pending: np.ndarray | None = None
        self._drag_from: QPointF | None = None
        self.frames_received = 0
        self.frames_painted = 0
        # Painted over the image, given where it lies (the box editor's "show boxes on the result").
        self.overlay: Callable[[QPainter, QRectF], None] | None = None

    # -- frames ---------------------------------------------------------------------------------
    def set_frame(self, array: np.ndarray) -> None:
        self._pending = array  # the newest wins; older unpainted frames are simply dropped
        self.frames_received += 1
        self.update()

    def clear(self, message: str) -> None:
        self._pending, self.image, self.message = None, None, message
        self.update()

    def take_pending(self) -> None:
        """Convert the newest frame now (normally done by the next paint)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        old = self.image
        try:
            self.image = to_qimage(to_display_array(pending))
            self.message = ""
            if old is not None and not self.fit_mode and old.width() != self.image.width():
                # Keep the on-screen size when a step preview (latent size) gives way to the final image.
                self.scale *= old.width() / self.image.width()
        except ValueError as exc:
            self.image, self.message = None, str(exc)
        self.frames_painted += 1

    # -- geometry -------------------------------------------------------------------------------
    def fit_scale(self) -> float:
        if self.image is None:
            return 1.0
        return min(self.width() / self.image.width(), self.height() / self.image.height())

    def _apply_fit(self) -> None:
        if self.image is None:
            return
        self.scale = max(self.fit_scale(), MIN_SCALE)
        w, h = self.image.width() * self.scale, self.image.height() * self.scale
        self.offset = QPointF((self.width() - w) / 2, (self.height() - h) / 2)

    def fit(self) -> None:
        self.fit_mode = True
        self._apply_fit()
        self.update()

    def actual_pixels(self) -> None:
        """One image pixel per device pixel, centred."""
        self.set_scale(1.0 / self.devicePixelRatioF(), QPointF(self.width() / 2, self.height() / 2))

    def zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_scale(self.scale * factor, anchor)

    def set_scale(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (default: the centre) where it is."""
        if self.image is None:
            return
        if self.fit_mode:
            self._apply_fit()
        self.fit_mode = False
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        new = min(max(scale, MIN_SCALE), MAX_SCALE)
        image_point = (anchor - self.offset) / self.scale
        self.scale = new
        self.offset = anchor - image_point * new
        self.update()

    def image_rect(self) -> QRectF:
        if self.image is None:
            return QRectF()
        return QRectF(self.offset.x(), self.offset.y(), self.image.width() * self.scale,
                      self.image.height() * self.scale)

    # -- events ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        self.take_pending()
        painter = QPainter(self)
        if self.image is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        if self.fit_mode:
            self._apply_fit()
        # Smooth when shrinking or gently enlarging; sharp pixels when zoomed in to inspect them.
        smooth = self.scale * self.devicePixelRatioF() < 3
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(self.image_rect(), self.image)
        if self.overlay is not None:
            self.overlay(painter, self.image_rect())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom(ZOOM_STEP ** steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton) and self.image is not None:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None:
            return
        if self.fit_mode:
            self._apply_fit()
            self.fit_mode = False
        self.offset += event.position() - self._drag_from
        self._drag_from = event.position()
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.fit_mode:
            self.actual_pixels()
        else:
            self.fit()


class PreviewPane(QWidget):
    frame_changed = Signal()  # a new frame was given or the pane was cleared

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView()
        self.caption = QLabel()
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(18, 18))
        self.fit_action = self.toolbar.addAction(qta.icon("mdi6.fit-to-screen-outline"), "Fit", self.view.fit)
        self.fit_action.setToolTip("Fit the image to the pane")
        self.actual_action = self.toolbar.addAction(qta.icon("mdi6.numeric-1-box-outline"), "1:1",
                                                    self.view.actual_pixels)
        self.actual_action.setToolTip("Actual pixels (1:1)")
        self.toolbar.addAction(qta.icon("mdi6.magnify-plus-outline"), "Zoom in", lambda: self.view.zoom(ZOOM_STEP))
        self.toolbar.addAction(qta.icon("mdi6.magnify-minus-outline"), "Zoom out",
                               lambda: self.view.zoom(1 / ZOOM_STEP))
        self.toolbar.addSeparator()
        self.copy_action = self.toolbar.addAction(qta.icon("mdi6.content-copy"), "Copy image", self.copy_image)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addWidget(self.toolbar)
        col.addWidget(self.view, 1)
        col.addWidget(self.caption)
        self.caption.setContentsMargins(6, 0, 6, 2)
        self.clear("No preview yet. Run the graph to see images here.")

    # -- the public API -------------------------------------------------------------------------
    def show_array(self, array: np.ndarray, caption: str = "") -> None:
        """Show a uint8/float (H, W, 3) array or an IMAGE batch; never blocks (see the module doc)."""
        self.view.set_frame(array)
        self.frame_changed.emit()
        if caption != self.caption.text():
            self.caption.setText(caption)

    def clear(self, message: str = "") -> None:
        self.view.clear(message)
        self.caption.setText("")
        self.frame_changed.emit()

    def current_image(self) -> QImage | None:
        self.view.take_pending()
        return self.view.image

    @property
    def frames_received(self) -> int:
        return self.view.frames_received

    @property
    def frames_painted(self) -> int:
        return self.view.frames_painted

    def scale(self) -> float:
        return self.view.scale

    def is_fit(self) -> bool:
        return self.view.fit_mode

    def fit(self) -> None:
        self.view.fit()

    def actual_pixels(self) -> None:
        self.view.actual_pixels()

    def copy_image(self) -> None:
        image = self.current_image()
        if image is not None:
            QGuiApplication.clipboard().setImage(image)
