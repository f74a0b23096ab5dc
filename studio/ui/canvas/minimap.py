"""Minimap: a small overview of the graph in the corner of the canvas; click or drag on it to go there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from studio.ui import theme

if TYPE_CHECKING:
    from .view import GraphView

SIZE = QSize(200, 140)
MARGIN = 12  # from the viewport's bottom-right corner
INSET = 8.0  # inside the minimap, around the drawing
UPDATE_MS = 100


class _Mapping:
    """Scene ↔ minimap coordinates: ``world`` (a scene rectangle) fitted into the widget."""

    def __init__(self, world: QRectF, size: QSize) -> None:
        w, h = size.width() - 2 * INSET, size.height() - 2 * INSET
        self.scale = min(w / max(world.width(), 1.0), h / max(world.height(), 1.0))
        self.world = world
        self.offset = QPointF(INSET + (w - world.width() * self.scale) / 2,
                              INSET + (h - world.height() * self.scale) / 2)

    def to_map(self, rect: QRectF) -> QRectF:
        return QRectF(self.offset.x() + (rect.x() - self.world.x()) * self.scale,
                      self.offset.y() + (rect.y() - self.world.y()) * self.scale,
                      rect.width() * self.scale, rect.height() * self.scale)

    def to_scene(self, p: QPointF) -> QPointF:
        return QPointF(self.world.x() + (p.x() - self.offset.x()) / self.scale,
                       self.world.y() + (p.y() - self.offset.y()) / self.scale)


class Minimap(QWidget):
    """An overlay in the bottom-right corner of the view's viewport. It is the view's child, not the
    viewport's: scrolling the viewport moves the viewport's children. It repositions itself through
    an event filter on the viewport (resizes), and redraws at most every 100 ms when the scene
    changes, or the view pans or zooms. It takes only the mouse events inside its own rectangle."""

    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.view = view
        self.resize(SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Minimap: click or drag to move the view")
        self._mapping: _Mapping | None = None
        self._drag_mapping: _Mapping | None = None  # frozen while dragging, so the map holds still
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_MS)
        self._timer.timeout.connect(self.update)
        view.viewport().installEventFilter(self)
        scene = view.scene()
        scene.changed.connect(self.schedule)
        zoom_changed = getattr(scene, "zoom_changed", None)
        if zoom_changed is not None:
            zoom_changed.connect(self.schedule)
        view.horizontalScrollBar().valueChanged.connect(self.schedule)
        view.verticalScrollBar().valueChanged.connect(self.schedule)
        self.reposition()

    def schedule(self, *_: object) -> None:
        """Redraw soon; many changes in a burst make one redraw."""
        if self.isVisible() and not self._timer.isActive():
            self._timer.start()

    def reposition(self) -> None:
        vp = self.view.viewport().geometry()  # in the view's coordinates
        self.move(vp.x() + max(0, vp.width() - SIZE.width() - MARGIN),
                  vp.y() + max(0, vp.height() - SIZE.height() - MARGIN))
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Resize:
            self.reposition()
            self.schedule()
        return False

    def showEvent(self, event: object) -> None:  # noqa: N802
        self.reposition()
        self.update()

    # -- geometry -------------------------------------------------------------------------------
    def visible_scene_rect(self) -> QRectF:
        return self.view.mapToScene(self.view.viewport().rect()).boundingRect()

    def _world(self) -> QRectF:
        scene = self.view.gscene
        rect = QRectF()
        for item in scene.node_items.values():
            rect = rect.united(item.scene_node_rect())
        for group in scene.graph.groups:
            rect = rect.united(QRectF(*group.rect))
        visible = self.visible_scene_rect()
        if rect.isNull() or not visible.contains(rect):  # zoomed out over it all: the graph fills the map
            rect = rect.united(visible) if not rect.isNull() else visible
        pad = max(rect.width(), rect.height()) * 0.05
        return rect.adjusted(-pad, -pad, pad, pad)

    def mapping(self) -> _Mapping:
        return self._drag_mapping or _Mapping(self._world(), self.size())

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        m = self.mapping()
        self._mapping = m
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(theme.NODE_BORDER), 1))
        p.setBrush(QColor(theme.MINIMAP_BG))
        p.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 6, 6)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(Qt.PenStyle.NoPen)
        for group in self.view.gscene.graph.groups:
            color = QColor(group.color or theme.GROUP_DEFAULT)
            color.setAlpha(90)
            p.fillRect(m.to_map(QRectF(*group.rect)), color)
        for item in self.view.gscene.node_items.values():
            r = m.to_map(item.scene_node_rect())
            if r.width() < 2:
                r.setWidth(2)
            if r.height() < 2:
                r.setHeight(2)
            p.fillRect(r, item.header_color)
        p.setPen(QPen(QColor(theme.MINIMAP_VIEW), 1))
        p.setBrush(QColor(255, 255, 255, 28))
        p.drawRect(m.to_map(self.visible_scene_rect()).intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1)))
        p.end()

    # -- mouse ----------------------------------------------------------------------------------
    def _go(self, pos: QPointF) -> None:
        m = self._drag_mapping or self.mapping()
        self.view.centerOn(m.to_scene(pos))
        self.schedule()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_mapping = self.mapping()
            self._go(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_mapping is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event.position())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_mapping = None
            self.schedule()
        event.accept()
