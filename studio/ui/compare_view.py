"""A/B compare: two results in one view, split by a vertical line the user drags.

Left of the line shows image A, right of it image B; both are fitted into the same widget so a
pixel of one sits over the matching pixel of the other when their sizes agree. The line follows a
mouse drag anywhere on the images, or the slider under them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from . import theme
from .preview_pane import to_display_array, to_qimage

MAX_FULL_PIXELS = 64_000_000  # larger files are shown from their thumbnail
SLIDER_STEPS = 1000


def load_image_file(path: str | Path, max_pixels: int | None = None) -> np.ndarray | None:
    """A result's file as uint8 RGB, or None when it is missing, not an image or too large.

    Pillow reads only the header on ``open``, so the size is checked before any pixel is decoded."""
    from PIL import Image

    limit = MAX_FULL_PIXELS if max_pixels is None else max_pixels
    try:
        with Image.open(path) as im:
            if im.width * im.height > limit:
                return None
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def result_image(result: Any) -> np.ndarray | None:
    """The best image of a result for a full-size view: its file when one can be read, else the
    preview the job kept. Always uint8 (H, W, 3|4) or (H, W)."""
    if getattr(result, "path", None):
        full = load_image_file(result.path)
        if full is not None:
            return full
    if getattr(result, "image", None) is not None:
        try:
            return to_display_array(result.image)
        except ValueError:
            return None
    return None


def fit_rect(size: tuple[int, int], bounds: QRectF) -> QRectF:
    """The largest rectangle of ``size``'s aspect ratio centred in ``bounds``."""
    w, h = size
    if w <= 0 or h <= 0 or bounds.isEmpty():
        return QRectF()
    scale = min(bounds.width() / w, bounds.height() / h)
    dw, dh = w * scale, h * scale
    return QRectF(bounds.center().x() - dw / 2, bounds.center().y() - dh / 2, dw, dh)


class CompareCanvas(QWidget):
    """Paints A left of the split and B right of it; a press or drag moves the split."""

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: list[QImage | None] = [None, None]
        self.labels = ("A", "B")
        self._split = 0.5
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setAutoFillBackground(False)

    @property
    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.update()
            self.split_changed.emit(fraction)

    def image_rect(self, which: int = 0) -> QRectF:
        """Where image A (0) or B (1) is drawn, in widget coordinates."""
        image = self.images[which]
        if image is None:
            return QRectF()
        return fit_rect((image.width(), image.height()), QRectF(self.rect()).adjusted(4, 4, -4, -4))

    def split_x(self) -> float:
        return self.width() * self._split

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.CANVAS_BG))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        x = self.split_x()
        clips = (QRectF(0, 0, x, self.height()), QRectF(x, 0, self.width() - x, self.height()))
        for which, clip in enumerate(clips):
            image = self.images[which]
            if image is not None and not clip.isEmpty():
                p.save()
                p.setClipRect(clip)
                p.drawImage(self.image_rect(which), image)
                p.restore()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(theme.SELECTION), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setBrush(QColor(theme.SELECTION))
        p.drawEllipse(QPointF(x, self.height() / 2), 5, 5)
        self._paint_label(p, self.labels[0], left=True)
        self._paint_label(p, self.labels[1], left=False)

    def _paint_label(self, p: QPainter, text: str, *, left: bool) -> None:
        metrics = p.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        box = QRectF(8 if left else self.width() - w - 8, 8, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(theme.TEXT))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _drag(self, event: QMouseEvent) -> None:
        if self.width() > 0:
            self.set_split(event.position().x() / self.width())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._drag(event)


class CompareView(QWidget):
    """Image A and image B with a draggable split; captions name what each one is."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = CompareCanvas()
        self.caption_a, self.caption_b = QLabel(), QLabel()
        self.caption_b.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for label in (self.caption_a, self.caption_b):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(SLIDER_STEPS // 2)
        self.slider.setToolTip("Move the split between A (left) and B (right)")
        self.slider.valueChanged.connect(lambda v: self.canvas.set_split(v / SLIDER_STEPS))
        self.canvas.split_changed.connect(self._sync_slider)
        captions = QHBoxLayout()
        captions.addWidget(self.caption_a, 1)
        captions.addWidget(self.caption_b, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.canvas, 1)
        col.addWidget(self.slider)
        col.addLayout(captions)

    def _sync_slider(self, fraction: float) -> None:
        value = round(fraction * SLIDER_STEPS)
        if value != self.slider.value():
            self.slider.blockSignals(True)
            self.slider.setValue(value)
            self.slider.blockSignals(False)

    def set_images(self, a: np.ndarray, b: np.ndarray, caption_a: str = "", caption_b: str = "") -> None:
        """Show two arrays (uint8 or float (H, W, C), or an IMAGE batch) side by side."""
        self.canvas.images = [to_qimage(to_display_array(a)), to_qimage(to_display_array(b))]
        self.caption_a.setText(f"A: {caption_a}" if caption_a else "A")
        self.caption_b.setText(f"B: {caption_b}" if caption_b else "B")
        self.caption_a.setToolTip(caption_a)
        self.caption_b.setToolTip(caption_b)
        self.canvas.update()

    @property
    def split(self) -> float:
        return self.canvas.split

    def set_split(self, fraction: float) -> None:
        self.canvas.set_split(fraction)
