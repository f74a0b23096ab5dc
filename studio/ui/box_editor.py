"""The Boxes panel: draw, move and resize the rectangles of the graph's box nodes with the mouse.

A node type that declares ``box=BoxParams(...)`` (regional prompts, GLIGEN phrases, layout guidance)
keeps its rectangle in four ordinary parameters: pixels of the output, or fractions 0–1 of it when
``relative``. The panel shows every such node of the graph as a labelled rectangle over the latest
preview image (or a blank canvas of the output size) and writes what the mouse does back through the
editor's undoable ``set_param``: one drag is one undo step (a macro of parameter changes), and the
inspector, the run and the file see the same values. Edits made elsewhere (inspector, undo) move the
drawn boxes, since the panel listens to the graph.

The nodes, labels, rectangles and output size come from ``box_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QRectF, QSize, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.graph import Graph

from . import theme
from .box_canvas import Box, BoxCanvas, box_color, paint_boxes
from .box_model import (
    DEFAULT_SIZE,
    box_label,
    box_nodes,
    grid_and_min,
    label_source,
    output_size,
    read_rect,
    rect_values,
)

if TYPE_CHECKING:
    from .editor import Editor
    from .main_window import MainWindow

BACKGROUND_DELAY_MS = 120  # new preview frames are taken at most this often (step previews stream fast)
_REFRESH_ON = {"param_changed", "node_added", "node_removed", "node_renamed", "link_added", "link_removed",
               "node_mode"}
ID_ROLE = Qt.ItemDataRole.UserRole


def _swatch(color: QColor) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(color)
    return QIcon(pix)


class _LabelEdit(QLineEdit):
    """The phrase editor over a box: Enter (or leaving it) keeps the text, Esc drops it."""

    cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class BoxEditor(QWidget):
    """The box nodes of the editor's graph on a canvas; every change is an undoable parameter edit."""

    node_selected = Signal(str)  # the user picked a box (canvas or list): select its node elsewhere
    params_edited = Signal()  # parameters changed through this panel (the inspector re-reads them)
    overlay_toggled = Signal(bool)  # "Show boxes on the result"
    boxes_changed = Signal()  # a box moved, appeared or went: an overlay repaints
    message = Signal(str)

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.image_source: Callable[[], QImage | None] = lambda: None
        self.out_size: tuple[int, int] = DEFAULT_SIZE
        self.out_size_source = "default"
        self._graph: Graph | None = None
        self._macro_open = False
        self._listed: list[tuple[str, str]] = []  # (node id, text) as the list shows them
        self._background_timer = QTimer(self, singleShot=True, interval=BACKGROUND_DELAY_MS,
                                        timeout=self.take_background)  # type: ignore[call-arg]

        self.canvas = BoxCanvas()
        self.canvas.empty_text = ("This graph has no boxes yet. Add a node that has one (Add box: a conditioning "
                                  "area, a GLIGEN text box, a layout phrase), then drag here to draw it.")
        self.canvas.changed.connect(self._on_canvas_changed)
        self.canvas.selected_changed.connect(self._on_canvas_selected)
        self.canvas.message.connect(self.message)
        self.canvas.label_edit_requested.connect(self.edit_label)
        self.label_edit = _LabelEdit(self.canvas)
        self.label_edit.hide()
        self.label_edit.editingFinished.connect(self._label_finished)
        self.label_edit.cancelled.connect(self._label_cancelled)
        self._label_node: str | None = None
        self._label_target: tuple[str, str | None] = ("", None)
        self._label_before = ""
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(18, 18))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.act_background = QAction(theme.icon("mdi6.image-outline"), "Preview image", self)
        self.act_background.setCheckable(True)
        self.act_background.setChecked(True)
        self.act_background.setToolTip("Draw over the latest preview image (off: a blank canvas of the output size)")
        self.act_background.toggled.connect(lambda _: self.take_background())
        self.act_overlay = QAction(theme.icon("mdi6.vector-rectangle"), "Show boxes on the result", self)
        self.act_overlay.setCheckable(True)
        self.act_overlay.setToolTip("Draw the boxes over the image in the preview pane")
        self.act_overlay.toggled.connect(self.overlay_toggled)
        self.add_menu = QMenu(self)
        self.add_menu.aboutToShow.connect(self._fill_add_menu)
        self.add_button = QToolButton()
        self.add_button.setIcon(theme.icon("mdi6.plus-box-outline"))
        self.add_button.setText("Add box")
        self.add_button.setToolTip("Add a node with a box (after the selected one, for another phrase)")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setMenu(self.add_menu)
        self.toolbar.addWidget(self.add_button)
        self.toolbar.addAction(self.act_background)
        self.toolbar.addAction(self.act_overlay)
        self.out_size_label = QLabel()
        self.out_size_label.setContentsMargins(6, 0, 6, 0)
        self.out_size_label.setStyleSheet("color: palette(placeholder-text);")
        self.list = QListWidget()
        self.list.setMaximumHeight(96)
        self.list.currentItemChanged.connect(self._on_list_current)
        self.hint = QLabel("Drag a box: move · its edges: resize · empty space: draw the selected box · "
                           "double-click: its phrase · arrows: nudge (Shift: resize) · Tab: next box")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        col = QVBoxLayout(self)
        col.setContentsMargins(2, 2, 2, 2)
        col.setSpacing(3)
        col.addWidget(self.toolbar)
        col.addWidget(self.out_size_label)
        col.addWidget(self.canvas, 1)
        col.addWidget(self.list)
        col.addWidget(self.hint)
        editor.stack.indexChanged.connect(self._on_index)  # a bound slot: gone with the panel
        self.sync()

    # -- following the graph --------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self.editor.graph

    def sync(self) -> None:
        """Listen to the editor's current graph (it changes when a file is opened) and redraw."""
        if self._graph is not self.editor.graph:
            if self._graph is not None and self._on_graph in self._graph.listeners:
                self._graph.listeners.remove(self._on_graph)
            self.canvas.cancel_drag()
            self._end_macro()
            self._graph = self.editor.graph
            self._graph.listeners.append(self._on_graph)
        self.refresh()

    def _on_index(self, _: int) -> None:
        self.sync()

    def detach(self) -> None:
        if self._graph is not None and self._on_graph in self._graph.listeners:
            self._graph.listeners.remove(self._on_graph)
        self._graph = None

    def _on_graph(self, what: str, info: dict[str, Any]) -> None:
        if not shiboken6.isValid(self):  # the panel was deleted before the graph
            return
        if what in _REFRESH_ON:
            self.refresh()

    def refresh(self) -> None:
        """Re-read every box, the output size and the list from the graph."""
        graph = self.graph
        nodes = box_nodes(graph)
        order = [n.id for n in nodes]
        if self.canvas.selected in order:  # the selected box's sampler decides the size first
            order.insert(0, self.canvas.selected)
        image = self.canvas.background  # the image last taken: reading the pane converts its frames
        w, h, source = output_size(graph, order, image.size() if image is not None else None)
        if (w, h) != self.out_size:
            self.out_size = (w, h)
            self.canvas.set_output_size(w, h)
        self.out_size_source = source
        self.out_size_label.setText(f"Output {w} × {h}" + ("" if source == "default" else f" · from {source}"))
        boxes = []
        for i, node in enumerate(nodes):
            nt = graph.node_type(node)
            assert nt is not None and nt.box is not None
            grid, least = grid_and_min(nt, self.out_size)
            boxes.append(Box(node.id, read_rect(nt.box, node.params, self.out_size), box_label(graph, node),
                             box_color(i), grid, least))
        self.canvas.set_boxes(boxes)
        self._refresh_list(boxes)
        self.boxes_changed.emit()

    def _refresh_list(self, boxes: list[Box]) -> None:
        listed = []
        for b in boxes:
            title = self.graph.title_of(b.node_id)
            listed.append((b.node_id, title if b.label in title else f"{b.label}  —  {title}"))
        if listed != self._listed:
            self._listed = listed
            self.list.blockSignals(True)
            self.list.clear()
            for b, (node_id, text) in zip(boxes, listed, strict=True):
                item = QListWidgetItem(_swatch(b.color), text)
                item.setData(ID_ROLE, node_id)
                self.list.addItem(item)
            self.list.blockSignals(False)
        self._select_in_list(self.canvas.selected)

    def _select_in_list(self, node_id: str | None) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == node_id:
                self.list.setCurrentItem(item)
                break
        else:
            self.list.setCurrentRow(-1)
        self.list.blockSignals(False)

    # -- selection ------------------------------------------------------------------------------------
    def select(self, node_id: str | None) -> None:
        """Select ``node_id``'s box (from outside: the graph's selection, the inspector's button)."""
        self.canvas.select(node_id, notify=False)
        self._select_in_list(self.canvas.selected)
        self.refresh()  # the selected box's sampler may give another size

    def follow_selection(self, node_ids: list[str]) -> None:
        """The graph's selection changed: preselect its box node, if it has one."""
        box_ids = {b.node_id for b in self.canvas.boxes}
        chosen = next((n for n in node_ids if n in box_ids), None)
        if chosen is not None and chosen != self.canvas.selected:
            self.select(chosen)

    def _on_canvas_selected(self, node_id: str) -> None:
        self._select_in_list(node_id or None)
        if node_id:
            self.node_selected.emit(node_id)

    def _on_list_current(self, item: QListWidgetItem | None, _: Any = None) -> None:
        if item is not None:
            self.canvas.select(str(item.data(ID_ROLE)))

    # -- editing --------------------------------------------------------------------------------------
    def _on_canvas_changed(self, node_id: str, rect: QRectF, final: bool) -> None:
        node = self.graph.nodes.get(node_id)
        nt = self.graph.node_type(node) if node is not None else None
        if node is None or nt is None or nt.box is None:
            self._end_macro()
            return
        values = rect_values(nt, rect, self.out_size)
        diff = {k: v for k, v in values.items() if node.params.get(k) != v}
        if diff and not self._macro_open:
            # Four parameters change together: a macro makes them (and the whole drag) one undo step.
            self.editor.stack.beginMacro(f"Edit box of {self.graph.title_of(node)}")
            self._macro_open = True
        for name, value in diff.items():
            self.editor.set_param(node_id, name, value, final=final)
        if final:
            self._end_macro()
        if diff:
            self.params_edited.emit()

    # -- adding box nodes -----------------------------------------------------------------------------
    def _fill_add_menu(self) -> None:
        self.add_menu.clear()
        types = sorted((nt for nt in self.graph.registry if nt.box is not None), key=lambda nt: nt.title)
        for nt in types:
            act = self.add_menu.addAction(nt.title)
            act.setToolTip(nt.id)
            act.triggered.connect(lambda _=False, type_id=nt.id: self.add_box_node(type_id))

    def add_box_node(self, type_id: str) -> str | None:
        """Add a node of ``type_id`` and select its box, ready to draw. After a selected node of the same
        type that carries its own phrase (a GLIGEN box, a layout phrase), the new one joins its chain:
        put on the selected node's output wire, with the same other inputs; one undo step. Otherwise it
        is added unwired."""
        graph = self.graph
        nt = graph.registry.get(type_id)
        if nt is None or nt.box is None:
            return None
        sel = graph.nodes.get(self.canvas.selected or "")
        pos = (sel.pos[0] + 40, sel.pos[1] + 150) if sel is not None else (0.0, 0.0)
        self.editor.stack.beginMacro(f"Add {nt.title}")
        try:
            new_id = self._chain_after(sel.id, type_id, pos) if sel is not None and sel.type_id == type_id \
                and nt.box.label else None
            if new_id is None:
                new_id = self.editor.add_node(type_id, pos)
        finally:
            self.editor.stack.endMacro()
        self.refresh()
        self.canvas.select(new_id)  # the graph and the inspector follow
        self.message.emit(f"Added {nt.title}: drag on the canvas to draw its box"
                          + ("" if graph.outgoing(new_id) else ", and wire it into the graph"))
        return new_id

    def _chain_after(self, node_id: str, type_id: str, pos: tuple[float, float]) -> str | None:
        """Insert a node of ``type_id`` on ``node_id``'s chained output wire; it gets the same other
        inputs. None when ``node_id`` feeds nothing of its own kind."""
        graph = self.graph
        nt = graph.registry[type_id]
        kinds = {i.kind for i in nt.wires}
        link = next((lk for lk in graph.outgoing(node_id)
                     if (out := nt.output(lk.src_port)) is not None and out.type.kind in kinds), None)
        if link is None:
            return None
        new_id = self.editor.insert_on_wire(link, type_id, pos)
        if new_id is None:
            return None
        taken = set(graph.incoming(new_id))
        for port, lk in graph.incoming(node_id).items():
            if port not in taken:
                self.editor.connect(lk.src, lk.src_port, new_id, port)
        return new_id

    def edit_label(self, node_id: str) -> None:
        """Type the box's phrase over it: its own, or the prompt wired into it (an area's); for a box
        with neither, its node's title."""
        node = self.graph.nodes.get(node_id)
        if node is None or node_id not in {b.node_id for b in self.canvas.boxes}:
            return
        source, name = label_source(self.graph, node)
        self._label_node = node_id
        self._label_target = (source, name)
        text = str(self.graph.nodes[source].params.get(name) or "") if name else self.graph.title_of(node)
        self._label_before = " ".join(text.split())
        where = self.canvas.label_rect(node_id)
        edit = self.label_edit
        edit.setPlaceholderText("phrase" if name else "name of this box (the node's title)")
        edit.setText(self._label_before)
        edit.setFixedWidth(int(max(180.0, min(where.width(), 360.0))))
        x = min(max(0.0, where.x()), float(self.canvas.width() - edit.width()))
        edit.move(int(x), int(max(0.0, where.y())))
        edit.show()
        edit.setFocus()
        edit.selectAll()

    def _label_finished(self) -> None:
        if self._label_node is None:
            return  # already done (hiding the field ends its editing once more)
        self._label_node = None
        self.label_edit.hide()
        source, name = self._label_target
        text = self.label_edit.text()
        if source not in self.graph.nodes or text == self._label_before:
            return  # unchanged: a prompt's line breaks stay as they were
        if name:
            self.editor.set_param(source, name, text)
        else:
            self.editor.rename(source, text.strip())
        self.params_edited.emit()
        self.canvas.setFocus()

    def _label_cancelled(self) -> None:
        self._label_node = None
        self.label_edit.hide()
        self.canvas.setFocus()

    def _end_macro(self) -> None:
        if self._macro_open:
            self._macro_open = False
            self.editor.stack.endMacro()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt API): a drag never outlives the panel
        self.canvas.cancel_drag()
        self._end_macro()
        super().hideEvent(event)

    # -- the background and the overlay -------------------------------------------------------------------
    def _background_image(self) -> QImage | None:
        if not self.act_background.isChecked():
            return None
        image = self.image_source()
        return image if image is not None and not image.isNull() else None

    def background_changed(self) -> None:
        """A new image in the preview pane: take it soon (frames that come meanwhile are skipped)."""
        if self.isVisible() and not self._background_timer.isActive():
            self._background_timer.start()

    def take_background(self) -> None:
        """Draw on the preview pane's image now (or on a blank canvas)."""
        self.canvas.set_background(self._background_image())
        self.refresh()

    def paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """Paint the boxes over an image shown at ``target`` (the preview pane's result)."""
        paint_boxes(painter, target, QSizeF(*self.out_size), self.canvas.boxes, self.canvas.selected)


# --- the window's entry point ------------------------------------------------------------------------------

def _alive(*objects: Any) -> bool:
    return all(shiboken6.isValid(o) for o in objects)


def _wire(window: MainWindow, panel: BoxEditor) -> None:
    """Connect the panel to the window: selection both ways, the inspector, the preview's frames and
    overlay. Slots check that both ends still exist: the scene's last selection change comes while
    the window is being torn down."""

    def pick(node_id: str) -> None:
        if _alive(window.scene) and window.selected() != [node_id]:
            window._select([node_id])

    def follow() -> None:
        if _alive(panel, window.scene):
            panel.follow_selection(window.selected())

    def set_overlay(on: bool) -> None:
        if _alive(window.preview):
            window.preview.view.overlay = panel.paint_overlay if on else None
            window.preview.view.update()

    def repaint_overlay() -> None:
        if _alive(window.preview) and panel.act_overlay.isChecked():
            window.preview.view.update()

    panel.image_source = window.preview.current_image
    window.preview.frame_changed.connect(panel.background_changed)
    panel.node_selected.connect(pick)
    window.scene.selectionChanged.connect(follow)
    panel.params_edited.connect(window.inspector.refresh_values)
    panel.overlay_toggled.connect(set_overlay)
    panel.boxes_changed.connect(repaint_overlay)
    panel.message.connect(window.show_message)


class _CloseWithWindow(QObject):
    """Hides the floating panel when its window is closed or hidden (it is a window of its own)."""

    def __init__(self, dock: QDockWidget) -> None:
        super().__init__(dock)
        self.dock = dock

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Hide and self.dock.isFloating():
            self.dock.hide()
        return False


def _float_over_canvas(window: MainWindow, dock: QDockWidget) -> None:
    """First shown floating over the right part of the graph canvas, large enough to draw on; its
    title bar docks it (double-click) like any panel."""
    dock.setFloating(True)
    area = window.view.viewport()
    top_left = area.mapToGlobal(area.rect().topLeft())
    width = max(420, min(720, area.width() - 40))
    height = max(420, min(720, area.height() - 20))
    dock.resize(width, height)
    dock.move(top_left.x() + area.width() - width - 10, top_left.y() + 10)


def open_box_editor(window: MainWindow, node_id: str | None = None) -> BoxEditor:
    """Show the Boxes panel (made on first use, as a tab beside the preview), with ``node_id`` or the
    graph's selected box node selected."""
    panel: BoxEditor | None = window.box_editor
    if panel is None:
        panel = BoxEditor(window.editor)
        dock = QDockWidget("Boxes", window)
        dock.setObjectName("boxesDock")
        dock.setWidget(panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        window.box_editor, window.box_editor_dock = panel, dock
        _wire(window, panel)
        _float_over_canvas(window, dock)
        window.installEventFilter(_CloseWithWindow(dock))
    dock = window.box_editor_dock
    dock.show()
    dock.raise_()
    panel.sync()
    panel.take_background()
    if node_id is not None:
        panel.select(node_id)
    else:
        panel.follow_selection(window.selected())
    panel.canvas.setFocus()
    return panel
