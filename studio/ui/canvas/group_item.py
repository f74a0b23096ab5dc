"""Groups on the canvas: move with their contents, resize, rename in place, nest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from studio.core.graph import Group
from studio.ui import theme

from .inline_edit import InlineLineEdit, view_for
from .items import (
    GROUP_GRIP,
    GROUP_MIN_SIZE,
    GROUP_TITLE,
    GROUP_TITLE_PX,
    font,
    title_px,
    valid_color,
)

if TYPE_CHECKING:
    from .scene import GraphScene


class _GroupDrag:
    """A press on a group's title bar (move) or grip (resize), with what it started from."""

    def __init__(self, press: QPointF, rect: tuple[float, float, float, float], resize: bool) -> None:
        self.press, self.rect, self.resize = press, rect, resize
        self.nodes: dict[str, tuple[float, float]] = {}
        self.groups: dict[str, tuple[float, float, float, float]] = {}


class GroupItem(QGraphicsItem):
    """A group: its title bar moves it with what lies inside; the grip resizes it; double-click on the
    title renames it. Only the title bar and grip take the mouse, so a rubber band can start inside."""

    def __init__(self, scene: GraphScene, group: Group):
        super().__init__()
        self.gscene = scene
        self.graph_group = group
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self._size = (1.0, 1.0)
        self._drag: _GroupDrag | None = None
        self.inline_editor: InlineLineEdit | None = None
        self.sync()

    @property
    def group_id(self) -> str:
        return self.graph_group.id

    def sync(self, group: Group | None = None) -> None:
        """Take title, colour, position and size from the model."""
        if group is not None:
            self.graph_group = group
        x, y, w, h = self.graph_group.rect
        self.prepareGeometryChange()
        self._size = (w, h)
        self.setPos(x, y)
        self.setZValue(-2 - w * h * 1e-6)  # nested (smaller) groups above their parents, all under wires
        self.update()

    def title_rect(self) -> QRectF:
        return QRectF(0, 0, self._size[0], GROUP_TITLE)

    def grip_rect(self) -> QRectF:
        w, h = self._size
        return QRectF(w - GROUP_GRIP, h - GROUP_GRIP, GROUP_GRIP, GROUP_GRIP)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-1, -1, self._size[0] + 2, self._size[1] + 2)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.title_rect())
        path.addRect(self.grip_rect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        color = valid_color(self.graph_group.color) or QColor(theme.GROUP_DEFAULT)
        rect = QRectF(0, 0, *self._size)
        fill = QColor(color)
        fill.setAlpha(55)
        selected = self.isSelected()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod > 0.4)
        painter.setPen(QPen(QColor(theme.SELECTION), 2) if selected else QPen(color, 1))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(rect, 8, 8)
        bar = QColor(color)
        bar.setAlpha(150)
        painter.fillRect(self.title_rect().adjusted(1, 1, -1, 0), bar)
        if selected:
            painter.fillRect(QRectF(1, GROUP_TITLE - 3, self._size[0] - 2, 3), QColor(theme.SELECTION))
        painter.setPen(QPen(color.lighter(150), 1.2))
        x, y = self._size[0] - 4, self._size[1] - 4
        for d in (4.0, 8.0, 12.0):
            painter.drawLine(QPointF(x - d, y), QPointF(x, y - d))
        if self.inline_editor is not None:
            return
        px = title_px(lod, GROUP_TITLE_PX)
        painter.setPen(QColor(theme.TEXT))
        painter.setFont(font(px, True))
        painter.drawText(QRectF(10, 0, self._size[0] - 20, min(self._size[1], max(GROUP_TITLE, px * 1.3))),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self.graph_group.title)

    # -- mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        scene = self.gscene
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            for item in scene.selectedItems():  # add to (or take from) the selected groups only
                if not isinstance(item, GroupItem):
                    item.setSelected(False)
            self.setSelected(not self.isSelected())
        else:
            scene.clearSelection()
            self.setSelected(True)
        resize = self.grip_rect().contains(event.pos())
        drag = _GroupDrag(event.scenePos(), self.graph_group.rect, resize)
        if not resize:  # what lies inside now moves with it: nodes, and nested groups
            for nid in scene.nodes_in_group(self.group_id):
                pos = scene.node_items[nid].pos()
                drag.nodes[nid] = (pos.x(), pos.y())
            for gid in [self.group_id, *scene.groups_in_group(self.group_id)]:
                drag.groups[gid] = scene.group_items[gid].graph_group.rect
        self._drag = drag
        event.accept()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        drag = self._drag
        if drag is None:
            return
        delta = event.scenePos() - drag.press
        dx, dy = delta.x(), delta.y()
        if drag.resize:
            x, y, w, h = drag.rect
            self.prepareGeometryChange()
            self._size = (max(GROUP_MIN_SIZE[0], w + dx), max(GROUP_MIN_SIZE[1], h + dy))
            self.update()
            return
        for nid, (x, y) in drag.nodes.items():
            item = self.gscene.node_items.get(nid)
            if item is not None:
                item.setPos(x + dx, y + dy)
        for gid, (x, y, _, _) in drag.groups.items():
            group_item = self.gscene.group_items.get(gid)
            if group_item is not None:
                group_item.setPos(x + dx, y + dy)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        scene = self.gscene
        if drag.resize:
            x, y, _, _ = drag.rect
            new = (x, y, *self._size)
            if new != drag.rect:
                self._edit_group(rect=new)
            return
        moves = {}
        for nid, old in drag.nodes.items():
            item = scene.node_items.get(nid)
            if item is not None:
                moves[nid] = (old, (item.pos().x(), item.pos().y()))
        groups = {}
        for gid, old_rect in drag.groups.items():
            group_item = scene.group_items.get(gid)
            if group_item is not None:
                groups[gid] = (old_rect, (group_item.pos().x(), group_item.pos().y(), *old_rect[2:]))
        if scene.editor is not None:
            scene.editor.move(moves, groups)
        else:
            for nid, (_, new_pos) in moves.items():
                scene.graph.set_pos(nid, new_pos)
            for gid, (_, new_rect) in groups.items():
                scene.graph.set_group(gid, rect=new_rect)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.title_rect().contains(event.pos()):
            self.start_rename(event.widget())
        event.accept()

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:  # noqa: N802
        if self.grip_rect().contains(event.pos()):
            self.setCursor(Qt.CursorShape.SizeFDiagCursor)
        else:
            self.unsetCursor()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:  # noqa: N802
        self.unsetCursor()

    # -- rename ---------------------------------------------------------------------------------
    def start_rename(self, widget: QWidget | None = None) -> InlineLineEdit | None:
        """Rename in place: Enter or focus-out commits (one undo step), Escape cancels."""
        view = view_for(self, widget)
        if view is None or self.inline_editor is not None:
            return self.inline_editor
        editor = InlineLineEdit(view, self.graph_group.title, self._finish_rename)
        editor.place(view, self.mapRectToScene(self.title_rect()), GROUP_TITLE_PX)
        self.inline_editor = editor
        self.update()
        return editor

    def _finish_rename(self, text: str | None) -> None:
        self.inline_editor = None
        self.update()
        if text is not None and text.strip() and text != self.graph_group.title:
            self._edit_group(title=text.strip())

    def _edit_group(self, **changes: Any) -> None:
        scene = self.gscene
        if not any(g.id == self.group_id for g in scene.graph.groups):
            return
        if scene.editor is not None:
            scene.editor.edit_group(self.group_id, **changes)
        else:
            scene.graph.set_group(self.group_id, **changes)


# -- editing in place ------------------------------------------------------------------------------
