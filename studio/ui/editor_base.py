"""The contract every parameter editor follows, and what editors may need to know about the app.

An editor shows one parameter value. ``set_value`` never reports an edit; user changes are reported
through ``edited(value, final)``: ``final=False`` while a slider is dragged or text is typed,
``final=True`` once the change is complete, so that one gesture becomes one undo step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from studio.core.nodetype import Input
from studio.core.services import RunServices


@dataclass
class EditorContext:
    """Where file editors look for things: fixed lists, or the open document's lookup services
    (the session's current settings and the workflow's folder)."""

    model_roots: Sequence[Path] | None = None
    search_dirs: Sequence[str] | None = None
    lookup: Callable[[], RunServices] | None = None

    def roots(self) -> list[Path]:
        if self.model_roots is not None:
            return [Path(p) for p in self.model_roots]
        return list((self.lookup or RunServices)().model_roots)

    def image_dirs(self) -> list[Path]:
        if self.search_dirs is not None:
            return [Path(p) for p in self.search_dirs]
        if self.lookup is not None:
            return list(self.lookup().search_dirs)
        return [Path.cwd(), RunServices().settings.input_path]


class ParamEditor(QWidget):
    """Base class: subclasses implement ``value`` and ``_show`` and call ``_changed(final)``."""

    edited = Signal(object, bool)

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = inp
        self._quiet = False  # True while set_value writes into the child widgets
        self._committed: Any = None  # the value last set or reported as final
        self._live = False  # whether non-final edits were reported since then
        self.setToolTip(inp.tooltip)

    # -- the public API -------------------------------------------------------------------------
    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        before = self.value()
        self._quiet = True
        try:
            self._show(value)
        except (TypeError, ValueError, OverflowError):
            pass  # a damaged or foreign stored value: keep showing the previous one, never crash
        finally:
            self._quiet = False
        now = self.value()
        if self._live and now == before:
            return  # an echo of our own live edit (the graph was refreshed mid-drag): the gesture goes on
        self._committed, self._live = now, False

    def commit(self) -> None:
        """Report pending live edits (typing, a drag) as final now."""
        if self._live:
            self._changed(final=True)

    # -- for subclasses -------------------------------------------------------------------------
    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _changed(self, final: bool) -> None:
        if self._quiet:
            return
        value = self.value()
        if not final:
            self._live = True
            self.edited.emit(value, False)
        elif self._live or value != self._committed:
            # A final report even for an unchanged value after live ones: the receiver may have
            # applied the live values and needs to know the gesture ended.
            self._committed, self._live = value, False
            self.edited.emit(value, True)


class _WheelGuard(QObject):
    """Ignore wheel events on unfocused editors, so scrolling the inspector never edits values."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


_guard: _WheelGuard | None = None


def guard_wheel(widget: QWidget) -> None:
    global _guard
    if _guard is None:
        _guard = _WheelGuard()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_guard)


def hbox(widget: QWidget) -> QHBoxLayout:
    """A tight horizontal layout filling ``widget`` (editors sit in form rows that have margins)."""
    row = QHBoxLayout(widget)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    return row
