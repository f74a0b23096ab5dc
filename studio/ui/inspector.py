"""The inspector: the selected node's title, type and one editor per parameter."""

from __future__ import annotations

import html
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.graph import Graph
from studio.core.nodetype import Input
from studio.core.types import PortType

from .editor_base import EditorContext, ParamEditor
from .param_widgets import ReadOnlyEditor, make_editor

PLACEHOLDER_TEXT = (
    "This node's type is not installed, so it cannot run or be edited here. Its settings are kept "
    "and saved unchanged; install the node pack that provides <b>{type_id}</b> to use it."
)


def _dim(label: QLabel) -> QLabel:
    pal = label.palette()
    pal.setColor(label.foregroundRole(), pal.placeholderText().color())
    label.setPalette(pal)
    return label


class _EmptyState(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.addStretch(1)
        icon = QLabel()
        color = self.palette().placeholderText().color()
        icon.setPixmap(qta.icon("mdi6.cursor-default-click-outline", color=color).pixmap(QSize(40, 40)))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = _dim(QLabel("Select a node to see and edit its settings."))
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(icon)
        col.addWidget(text)
        col.addStretch(2)


class Inspector(QWidget):
    title_edited = Signal(str, str)  # node id, new title ("" = back to the type's title)
    param_edited = Signal(str, str, object, bool)  # node id, parameter name, value, final
    edit_boxes_requested = Signal(str)  # node id: open the box editor on this node's box

    def __init__(self, context: EditorContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context or EditorContext()
        self.graph: Graph | None = None
        self.node_id: str | None = None
        self.editors: dict[str, ParamEditor] = {}

        self.stack = QStackedWidget()
        self.empty = _EmptyState()
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll_area)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        self.title = QLineEdit()
        self.title.setPlaceholderText("node title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.title.setFont(font)
        self.title.editingFinished.connect(self._title_finished)
        self.type_label = _dim(QLabel())
        self.type_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice_icon = QLabel()
        self.notice_icon.setPixmap(qta.icon("mdi6.puzzle-remove-outline", color="#f0b429").pixmap(QSize(22, 22)))
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.notice_icon, 0, Qt.AlignmentFlag.AlignTop)
        notice_row.addWidget(self.notice, 1)
        self.notice_box = QFrame()
        self.notice_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.notice_box.setLayout(notice_row)

        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 4, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.no_params = _dim(QLabel("This node has no settings."))
        self.edit_boxes = QPushButton(qta.icon("mdi6.vector-rectangle"), "Edit boxes…")
        self.edit_boxes.setToolTip("Draw, move and resize this node's box over the image (Boxes panel)")
        self.edit_boxes.clicked.connect(lambda: self.node_id and self.edit_boxes_requested.emit(self.node_id))

        body = QWidget()
        col = QVBoxLayout(body)
        col.setContentsMargins(10, 10, 10, 10)
        col.addWidget(self.title)
        col.addWidget(self.type_label)
        col.addWidget(self.description)
        col.addWidget(self.notice_box)
        col.addWidget(self.form_host)
        col.addWidget(self.edit_boxes, 0, Qt.AlignmentFlag.AlignLeft)
        col.addWidget(self.no_params)
        col.addStretch(1)
        self.scroll_area.setWidget(body)
        self.show_node(None, None)

    # -- the public API -------------------------------------------------------------------------
    def show_node(self, graph: Graph | None, node_id: str | None) -> None:
        """Show ``node_id`` of ``graph`` (None: the empty state). Rebuilds the editors."""
        self._clear_form()
        self.graph, self.node_id = graph, node_id
        if graph is None or node_id is None or node_id not in graph.nodes:
            self.graph, self.node_id = graph, None
            self.stack.setCurrentWidget(self.empty)
            return
        node = graph.nodes[node_id]
        nt = graph.node_type(node)
        self.title.setText(graph.title_of(node))
        self.title.setPlaceholderText(nt.title if nt else node.type_id)
        self.title.setCursorPosition(0)
        if nt is None:
            self.type_label.setText(f"{node.type_id} · v{node.version} · not installed")
            self.description.hide()
            hint = graph.registry.unknown_type_hint(node.type_id)
            self.notice.setText(PLACEHOLDER_TEXT.format(type_id=html.escape(node.type_id))
                                + (f"<br><br>{html.escape(hint[0].upper() + hint[1:])}." if hint else ""))
            self.notice_box.show()
            for name, value in node.params.items():
                self._add_row(Input(name, PortType.parse("ANY"), value), read_only=True).set_value(value)
        else:
            self.type_label.setText(f"{nt.id} · v{nt.version} · {nt.category}")
            self.description.setText(nt.description)
            self.description.setVisible(bool(nt.description))
            self.notice_box.hide()
            for inp in nt.params:
                editor = self._add_row(inp, read_only=False)
                editor.set_value(node.params.get(inp.name, inp.default))
        self.no_params.setVisible(not self.editors)
        self.edit_boxes.setVisible(nt is not None and nt.box is not None)
        self.stack.setCurrentWidget(self.scroll_area)

    def refresh_values(self) -> None:
        """Re-read the node's title and parameters from the graph without reporting edits."""
        if self.graph is None or self.node_id is None:
            return
        node = self.graph.nodes.get(self.node_id)
        if node is None:
            self.show_node(self.graph, None)
            return
        if not self.title.hasFocus():
            self.title.setText(self.graph.title_of(node))
        nt = self.graph.node_type(node)
        for name, editor in self.editors.items():
            inp = nt.input(name) if nt else None
            editor.set_value(node.params.get(name, inp.default if inp else None))

    def editor(self, name: str) -> ParamEditor | None:
        return self.editors.get(name)

    # -- internals ------------------------------------------------------------------------------
    def _add_row(self, inp: Input, *, read_only: bool) -> ParamEditor:
        editor = ReadOnlyEditor(inp) if read_only else make_editor(inp, self.context)
        label = QLabel(inp.display_name)
        label.setToolTip(inp.tooltip)
        editor.setToolTip(inp.tooltip)
        if not read_only:
            editor.edited.connect(lambda value, final, name=inp.name: self._param_edited(name, value, final))
        self.form.addRow(label, editor)
        self.editors[inp.name] = editor
        return editor

    def _clear_form(self) -> None:
        for editor in self.editors.values():
            editor.commit()  # typing that a selection change interrupted still counts
            editor.blockSignals(True)
        self.editors.clear()
        while self.form.rowCount():
            self.form.removeRow(0)  # deletes the row's widgets

    def _param_edited(self, name: str, value: Any, final: bool) -> None:
        if self.node_id is not None:
            self.param_edited.emit(self.node_id, name, value, final)

    def _title_finished(self) -> None:
        if self.graph is None or self.node_id is None or self.node_id not in self.graph.nodes:
            return
        node = self.graph.nodes[self.node_id]
        text = self.title.text().strip()
        nt = self.graph.node_type(node)
        default = nt.title if nt else node.type_id
        new = "" if text == default else text
        if new != (node.title or ""):
            self.title_edited.emit(self.node_id, new)
        if not text:
            self.title.setText(default)
