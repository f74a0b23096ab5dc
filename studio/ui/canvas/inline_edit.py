"""Small editors shown over the canvas to rename a group or edit a note in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRect, QRectF, Qt
from PySide6.QtGui import (
    QFocusEvent,
    QFont,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsView,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

if TYPE_CHECKING:
    pass


def view_for(item: QGraphicsItem, widget: QWidget | None = None) -> QGraphicsView | None:
    """The view whose viewport is ``widget`` (where an event came from), else the item's first view."""
    scene = item.scene()
    views = scene.views() if scene is not None else []
    for view in views:
        if widget is not None and view.viewport() is widget:
            return view
    return views[0] if views else None


class _Inline:
    """Shared behaviour of the in-place editors: a widget over the viewport (so keys reach it and not
    the canvas), finished once by Enter/focus-out (commit) or Escape (cancel)."""

    _done: bool
    _on_done: Callable[[str | None], None]
    _view: QGraphicsView

    def _setup(self, view: QGraphicsView, on_done: Callable[[str | None], None]) -> None:
        self._done, self._on_done, self._view = False, on_done, view

    def place(self, view: QGraphicsView, scene_rect: QRectF, px: float) -> None:
        widget: QWidget = self  # type: ignore[assignment]
        area: QRect = view.mapFromScene(scene_rect).boundingRect()
        zoom = view.transform().m11()
        f = QFont(widget.font())
        f.setPixelSize(max(9, min(40, round(px * zoom))))
        widget.setFont(f)
        area.setWidth(max(area.width(), 160))
        area.setHeight(max(area.height(), f.pixelSize() + 10))
        widget.setGeometry(area)
        widget.show()
        widget.setFocus(Qt.FocusReason.MouseFocusReason)

    def finish(self, commit: bool) -> None:
        if self._done:
            return
        self._done = True
        text = self._text() if commit else None
        widget: QWidget = self  # type: ignore[assignment]
        had_focus = widget.hasFocus()
        widget.hide()
        widget.deleteLater()
        if had_focus:
            self._view.setFocus(Qt.FocusReason.OtherFocusReason)
        self._on_done(text)

    def _text(self) -> str:
        raise NotImplementedError

    def _claims(self, event: QEvent) -> bool:
        """While editing, keys belong to the editor, not to the window's shortcuts (Ctrl+D would
        duplicate nodes mid-word, Esc would cancel the run). Save and Quit still work, after a commit."""
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent):
            return False
        if event.matches(QKeySequence.StandardKey.Save) or event.matches(QKeySequence.StandardKey.Quit):
            self.finish(True)
            return False
        event.accept()
        return True


class InlineLineEdit(QLineEdit, _Inline):
    """One line (a group's title): Enter or focus-out commits, Escape cancels."""

    def __init__(self, view: QGraphicsView, text: str, on_done: Callable[[str | None], None]) -> None:
        super().__init__(text, view.viewport())
        self._setup(view, on_done)
        self.selectAll()

    def _text(self) -> str:
        return self.text()

    def event(self, event: QEvent) -> bool:
        if self._claims(event):
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.finish(False)
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish(True)
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.finish(True)


class InlineTextEdit(QPlainTextEdit, _Inline):
    """Several lines (a note's Markdown): focus-out or Ctrl+Enter commits, Escape cancels."""

    def __init__(self, view: QGraphicsView, text: str, on_done: Callable[[str | None], None]) -> None:
        super().__init__(text, view.viewport())
        self._setup(view, on_done)
        self.setTabChangesFocus(True)

    def _text(self) -> str:
        return self.toPlainText()

    def event(self, event: QEvent) -> bool:
        if self._claims(event):
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.finish(False)
        elif (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
              and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.finish(True)
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.finish(True)
