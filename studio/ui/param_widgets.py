"""One editor widget per parameter kind, built from an ``Input`` declaration (``make_editor``).

All editors share the tiny API of ``ParamEditor``: ``value()``, ``set_value(v)`` (silent) and the
signal ``edited(value, final)``.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from studio.core.nodetype import Input
from studio.core.types import SEED_MAX, Kind

from .editor_base import EditorContext, ParamEditor, guard_wheel, hbox
from .file_editors import make_file_editor

INT32_MAX = 2**31 - 1
SLIDER_MAX_STEPS = 1000  # a bounded range with at most this many steps gets a slider


def decimals_for(step: float | None) -> int:
    """How many decimals show a value on a grid of ``step`` exactly (0.1 → 1, 0.25 → 2, 0.005 → 3)."""
    if not step or step >= 1 and float(step).is_integer():
        return 0
    text = f"{step:.10f}".rstrip("0")
    return max(1, len(text.split(".")[1]))


def wants_slider(inp: Input) -> bool:
    if inp.min is None or inp.max is None or inp.widget == "spin":
        return False
    if inp.widget == "slider":
        return True
    step = inp.step or (1 if inp.kind is Kind.INT else 0.01)
    return (inp.max - inp.min) / step <= SLIDER_MAX_STEPS


# -- numbers ---------------------------------------------------------------------------------------


class SliderEditor(ParamEditor):
    """A slider with an editable value label: live values while dragging, a final one on release."""

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self._is_int = inp.kind is Kind.INT
        self._step = inp.step or (1 if self._is_int else 0.01)
        self._decimals = decimals_for(self._step)
        self.slider = QLabeledSlider(Qt.Orientation.Horizontal) if self._is_int else \
            QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        if not self._is_int:
            self.slider.setDecimals(self._decimals)
        lo, hi = inp.min, inp.max
        assert lo is not None and hi is not None  # make_editor picks a slider only for a bounded range
        self.slider.setRange(int(lo) if self._is_int else lo, int(hi) if self._is_int else hi)
        # superqt annotates these steps as int; its double slider takes floats.
        self.slider.setSingleStep(int(self._step) if self._is_int else self._step)  # type: ignore[arg-type]
        page = max(self._step, (hi - lo) / 10) if not self._is_int else max(1, int((hi - lo) // 10))
        self.slider.setPageStep(page)  # type: ignore[arg-type]
        self.slider.valueChanged.connect(lambda _v: self._changed(final=not self.slider.isSliderDown()))
        self.slider.sliderReleased.connect(lambda: self._changed(final=True))
        guard_wheel(self.slider._slider)
        hbox(self).addWidget(self.slider)

    def value(self) -> int | float:
        lo = self.input.min or 0
        snapped = lo + round((self.slider.value() - lo) / self._step) * self._step
        snapped = min(max(snapped, self.input.min), self.input.max)
        return int(round(snapped)) if self._is_int else round(float(snapped), self._decimals)

    def _show(self, value: Any) -> None:
        value = self.input.min if value is None else value
        self.slider.setValue(int(value) if self._is_int else float(value))


class SpinEditor(ParamEditor):
    """Typed text reports live values; steps (arrows, wheel, keys) and Enter/focus-out are final."""

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self._is_int = inp.kind is Kind.INT
        self._typing = False
        if self._is_int:
            self.spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            # QSpinBox holds 32-bit ints; wider ranges are clamped to what it can show.
            lo = -INT32_MAX - 1 if inp.min is None else max(int(inp.min), -INT32_MAX - 1)
            hi = INT32_MAX if inp.max is None else min(int(inp.max), INT32_MAX)
            self.spin.setRange(lo, hi)
            self.spin.setSingleStep(int(inp.step or 1))
        else:
            self.spin = QDoubleSpinBox()
            self.spin.setDecimals(max(2, decimals_for(inp.step)))
            self.spin.setRange(-1e12 if inp.min is None else inp.min, 1e12 if inp.max is None else inp.max)
            self.spin.setSingleStep(inp.step or 0.01)
        self.spin.setKeyboardTracking(True)
        self.spin.lineEdit().textEdited.connect(self._typed)
        self.spin.valueChanged.connect(lambda _v: self._changed(final=not self._typing))
        self.spin.editingFinished.connect(self._finished)
        guard_wheel(self.spin)
        hbox(self).addWidget(self.spin)

    def _typed(self, _text: str) -> None:
        self._typing = True

    def _finished(self) -> None:
        self._typing = False
        self._changed(final=True)

    def value(self) -> int | float:
        return int(self.spin.value()) if self._is_int else float(self.spin.value())

    def _show(self, value: Any) -> None:
        value = 0 if value is None else value
        if isinstance(self.spin, QSpinBox):  # the int editor (see __init__)
            self.spin.setValue(int(value))
        else:
            self.spin.setValue(float(value))


# -- simple kinds ----------------------------------------------------------------------------------


class BoolEditor(ParamEditor):
    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.check = QCheckBox()
        self.check.toggled.connect(lambda _on: self._changed(final=True))
        hbox(self).addWidget(self.check)

    def value(self) -> bool:
        return self.check.isChecked()

    def _show(self, value: Any) -> None:
        self.check.setChecked(bool(value))


class EnumEditor(ParamEditor):
    """A combo box of the declared choices; a value outside them (from a newer file) is kept."""

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.combo = QComboBox()
        for choice in inp.choices or ():
            self.combo.addItem(choice, choice)
        self.combo.currentIndexChanged.connect(lambda _i: self._changed(final=True))
        guard_wheel(self.combo)
        hbox(self).addWidget(self.combo)

    def value(self) -> str:
        data = self.combo.currentData()
        return data if isinstance(data, str) else self.combo.currentText()

    def _show(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0:
            self.combo.addItem(qta.icon("mdi6.alert-outline"), f"{value} (unknown)", value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)


class LineEditor(ParamEditor):
    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.line = QLineEdit()
        self.line.setClearButtonEnabled(True)
        self.line.textEdited.connect(lambda _t: self._changed(final=False))
        self.line.editingFinished.connect(lambda: self._changed(final=True))
        hbox(self).addWidget(self.line)

    def value(self) -> str:
        return self.line.text()

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text != self.line.text():  # setText moves the cursor: skip echoes of what was typed
            self.line.setText(text)


class PromptEdit(QPlainTextEdit):
    """A multi-line text box that says when editing is finished (focus out or Ctrl+Enter)."""

    editingFinished = Signal()

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.editingFinished.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.editingFinished.emit()
            return
        super().keyPressEvent(event)


class PromptEditor(ParamEditor):
    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.text = PromptEdit()
        self.text.setTabChangesFocus(True)
        self.text.setPlaceholderText(inp.tooltip or "Describe what you want to see…")
        line = self.text.fontMetrics().lineSpacing()
        self.text.setMinimumHeight(line * 4 + 12)
        self.text.setMaximumHeight(line * 12)
        self.text.textChanged.connect(lambda: self._changed(final=False))
        self.text.editingFinished.connect(lambda: self._changed(final=True))
        hbox(self).addWidget(self.text)

    def value(self) -> str:
        return self.text.toPlainText()

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text != self.text.toPlainText():  # setPlainText resets the cursor and the undo history
            self.text.setPlainText(text)


# -- seeds -----------------------------------------------------------------------------------------

SEED_MODES = ("fixed", "randomize")


def random_seed() -> int:
    # 32-bit random seeds: short enough to read aloud, and valid in every other tool too.
    return random.getrandbits(32)


class SeedEditor(ParamEditor):
    """An exact 64-bit seed (a validated line edit: spin boxes are 32-bit or floating point) and a dice
    button. What happens to it after each run is the node's own ``seed_control`` parameter."""

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.line = QLineEdit("0")
        self.line.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{1,20}"), self.line))
        self.line.textEdited.connect(lambda _t: self._changed(final=False))
        self.line.editingFinished.connect(self._finish_typing)
        self.dice = QToolButton()
        self.dice.setIcon(qta.icon("mdi6.dice-5"))
        self.dice.setToolTip("New random seed")
        self.dice.setAutoRaise(True)
        self.dice.clicked.connect(self.randomize)
        row = hbox(self)
        row.addWidget(self.line, 1)
        row.addWidget(self.dice)

    def value(self) -> int:
        text = self.line.text().strip()
        return min(int(text), SEED_MAX) if text.isdigit() else 0

    def _show(self, value: Any) -> None:
        text = str(min(max(int(value or 0), 0), SEED_MAX))
        if text != self.line.text():
            self.line.setText(text)

    def _finish_typing(self) -> None:
        if self.line.text() != str(self.value()):  # over the maximum or empty: show what counts
            self.line.setText(str(self.value()))
        self._changed(final=True)

    def randomize(self) -> None:
        self.line.setText(str(random_seed()))
        self._changed(final=True)


# -- anything else ---------------------------------------------------------------------------------


class ReadOnlyEditor(ParamEditor):
    """Shows a value it cannot edit (a placeholder node's data, an unknown kind)."""

    def __init__(self, inp: Input, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self._value: Any = None
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        hbox(self).addWidget(self.line)

    def value(self) -> Any:
        return self._value

    def _show(self, value: Any) -> None:
        self._value = value
        try:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
        self.line.setText(text)
        self.line.setCursorPosition(0)


def make_editor(inp: Input, context: EditorContext | None = None, parent: QWidget | None = None) -> ParamEditor:
    """The editor for one parameter, showing its default value."""
    kind = inp.kind
    editor: ParamEditor
    if kind in (Kind.INT, Kind.FLOAT):
        bounded = all(v is not None and math.isfinite(v) for v in (inp.min, inp.max))
        editor = SliderEditor(inp, parent) if bounded and wants_slider(inp) else SpinEditor(inp, parent)
    elif kind is Kind.BOOL:
        editor = BoolEditor(inp, parent)
    elif kind is Kind.ENUM:
        editor = EnumEditor(inp, parent)
    elif kind is Kind.STRING:
        editor = PromptEditor(inp, parent) if inp.widget == "prompt" else LineEditor(inp, parent)
    elif kind is Kind.SEED:
        editor = SeedEditor(inp, parent)
    elif kind is Kind.FILE:
        editor = make_file_editor(inp, context or EditorContext(), parent)
    else:
        editor = ReadOnlyEditor(inp, parent)
    editor.set_value(inp.default)
    return editor


__all__ = [
    "BoolEditor", "EditorContext", "EnumEditor", "LineEditor", "ParamEditor", "PromptEditor",
    "ReadOnlyEditor", "SeedEditor", "SliderEditor", "SpinEditor", "make_editor", "random_seed",
]
