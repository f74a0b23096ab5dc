"""The main window: canvas in the middle; library, inspector, preview, queue, history and log around it.

The document and its runs live in the Qt-free ``Session`` (``studio.app``); this window is views
and small controllers: file actions (``documents``), model and preference actions
(``model_actions``) and what runs show (``run_view``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.app import Session
from studio.app import events as sev
from studio.app.run_services import ModelManagers
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings, resources_dir

from . import about, recovery, theme
from .canvas.minimap import Minimap
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .canvas_actions import CanvasActions
from .clipboard_actions import ClipboardActions
from .documents import DocumentActions, ui_settings
from .editor import Editor
from .editor_base import EditorContext
from .history_panel import HistoryPanel
from .inspector import Inspector
from .log_panel import LogPanel
from .model_actions import ModelActions
from .node_library import NodeLibrary, QuickAddPopup
from .preview_pane import PreviewPane
from .queue_panel import QueuePanel
from .run_view import RunView
from .shortcuts import ShortcutMap
from .worker import Evaluator

FIRST_RUN = resources_dir() / "workflows" / "first_run.json"
AUTOSAVE_MS = 10_000


class MainWindow(QMainWindow, DocumentActions, ModelActions, CanvasActions, ClipboardActions):
    def __init__(self, settings: Settings | None = None, *, registry: Any = None, restore_state: bool = True,
                 session: Session | None = None) -> None:
        super().__init__()
        self.session = session or Session(registry or default_registry(), settings or Settings.load(),
                                          models=ModelManagers(convert_in_child=True))
        self.registry = self.session.registry
        self.editor = Editor(self.graph, self)
        self.scene = GraphScene(self.graph, self)
        self.view = GraphView(self.scene, self.editor)
        self.evaluator = Evaluator(self.session, self)
        self._revision = 0
        self._autosaved_revision = 0
        self._opened_dirty = False
        self._closing = False
        self._hash_jobs: list[Any] = []
        self.box_editor: Any = None  # the Boxes panel (box_editor.BoxEditor), made on first use
        self.box_editor_dock: Any = None
        self.graph.listeners.append(self._on_graph_changed)

        self.setWindowTitle("Latent Studio")
        self._fit_to_screen(1500, 920)
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_status()
        self.runs = RunView(self)
        self._connect()

        # PySide6 takes signals as keyword arguments (timeout=); its stubs list only properties.
        self._validate_timer = QTimer(self, singleShot=True, interval=250,
                                      timeout=self._refresh_problems)  # type: ignore[call-arg]
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS,
                                     timeout=self.autosave)  # type: ignore[call-arg]
        self.autosave_timer.start()
        if restore_state:
            self._restore_ui_state()
        self._update_title()
        self._report_start_problems()

    def _report_start_problems(self) -> None:
        """Node packs that failed to load and settings that were ignored, said once at start-up."""
        for failure in getattr(self.registry, "load_errors", ()):
            self.log("error", f"node pack {failure.pack!r} failed to load: {failure.error}")
        for warning in getattr(self.settings, "warnings", ()):
            self.log("warning", f"settings: {warning}")

    # -- the document, as the session has it ------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self.session.graph

    @property
    def path(self) -> Path | None:
        return self.session.path

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def modified(self) -> bool:
        return self.session.dirty

    @property
    def last_previews(self) -> dict[str, Any]:
        return self.runs.last_previews

    def node_image(self, node_id: str) -> Any:
        return self.runs.node_image(node_id)

    # -- construction -----------------------------------------------------------------------------
    def _fit_to_screen(self, width: int, height: int) -> None:
        screen = QApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, int(area.width() * 0.94)), min(height, int(area.height() * 0.94))
        self.resize(width, height)

    def _build_central(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QFrame()
        self.banner.setObjectName("welcomeBanner")
        self.banner.setStyleSheet("#welcomeBanner { background: #2d3a4f; border-bottom: 1px solid #3f5270; }")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(12, 8, 8, 8)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self.banner_text, 1)
        open_models = QPushButton(theme.icon("mdi6.folder-open"), "Open models folder")
        open_models.clicked.connect(self._open_models_folder)
        prefs = QPushButton(theme.icon("mdi6.cog"), "Preferences…")
        prefs.clicked.connect(self.show_preferences)
        close = QToolButton()
        close.setIcon(theme.icon("mdi6.close"))
        close.setAutoRaise(True)
        close.clicked.connect(self.banner.hide)
        for w in (open_models, prefs, close):
            row.addWidget(w)
        self.banner.hide()
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.minimap = Minimap(self.view)
        self.minimap.setVisible(bool(ui_settings().value("view/minimap", False, type=bool)))
        self.quick_add = QuickAddPopup(self.registry, self)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.library = NodeLibrary(self.registry)
        self.inspector = Inspector(EditorContext(lookup=lambda: self.session.graph.services))
        self.preview = PreviewPane()
        self.problems = LogPanel()
        self.queue_panel = QueuePanel(self.session)
        self.history_panel = HistoryPanel(self.session)
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.library_dock = self._dock("Nodes", self.library, Qt.DockWidgetArea.LeftDockWidgetArea, "libraryDock")
        self.inspector_dock = self._dock("Inspector", self.inspector, right, "inspectorDock")
        self.preview_dock = self._dock("Preview", self.preview, right, "previewDock")
        self.problems_dock = self._dock("Problems && Log", self.problems, bottom, "problemsDock")
        self.queue_dock = self._dock("Queue", self.queue_panel, bottom, "queueDock")
        self.history_dock = self._dock("History", self.history_panel, bottom, "historyDock")
        self.splitDockWidget(self.inspector_dock, self.preview_dock, Qt.Orientation.Vertical)
        # Log (with the queue as a tab) beside the history of results, along the bottom.
        self.splitDockWidget(self.problems_dock, self.history_dock, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.problems_dock, self.queue_dock)
        self.problems_dock.raise_()
        self.resizeDocks([self.library_dock], [240], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock], [360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [190], Qt.Orientation.Vertical)
        self.resizeDocks([self.problems_dock, self.history_dock], [600, 500], Qt.Orientation.Horizontal)

    def _action(self, action_id: str, text: str, icon: str | None, slot: Any, *,
                target: QWidget | None = None) -> QAction:
        """An action whose keys come from the user's shortcut map (Preferences ▸ Shortcuts)."""
        act = QAction(text, self)
        if icon:
            act.setIcon(theme.icon(icon))
        act.triggered.connect(slot)
        if target is not None:  # canvas-only keys must not steal Delete/Ctrl+C from text fields
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            target.addAction(act)
        else:
            self.addAction(act)
        self.actions_by_id[action_id] = act
        return act

    def _build_actions(self) -> None:
        self.actions_by_id: dict[str, QAction] = {}
        a = self._action
        self.act_new = a("file.new", "&New", "mdi6.file-outline", self.new_workflow)
        self.act_open = a("file.open", "&Open…", "mdi6.folder-open-outline", self.open_dialog)
        self.act_save = a("file.save", "&Save", "mdi6.content-save-outline", self.save)
        self.act_save_as = a("file.save_as", "Save &As…", "mdi6.content-save-edit-outline", self.save_as)
        self.act_quit = a("file.quit", "&Quit", None, self.close)
        self.act_undo = self.editor.stack.createUndoAction(self, "&Undo")
        self.act_undo.setIcon(theme.icon("mdi6.undo"))
        self.act_redo = self.editor.stack.createRedoAction(self, "&Redo")
        self.act_redo.setIcon(theme.icon("mdi6.redo"))
        self.addActions([self.act_undo, self.act_redo])
        self.actions_by_id.update({"edit.undo": self.act_undo, "edit.redo": self.act_redo})
        v = self.view
        self.act_cut = a("edit.cut", "Cu&t", "mdi6.content-cut", self.cut, target=v)
        self.act_copy = a("edit.copy", "&Copy", "mdi6.content-copy", self.copy, target=v)
        self.act_paste = a("edit.paste", "&Paste", "mdi6.content-paste", self.paste, target=v)
        self.act_duplicate = a("edit.duplicate", "&Duplicate", "mdi6.content-duplicate", self.duplicate, target=v)
        self.act_delete = a("edit.delete", "&Delete", "mdi6.delete-outline", self.delete_selected, target=v)
        self.act_select_all = a("edit.select_all", "Select &All", None, self.select_all, target=v)
        self.act_frame = a("canvas.frame", "&Frame all / selection", "mdi6.fit-to-screen-outline",
                           lambda: self.view.frame(self.scene.selected_node_ids()), target=v)
        self.act_run = a("run.run", "&Run", "mdi6.play", lambda: self.run())  # not run(checked)
        self.act_run.setToolTip("Queue the graph to run (Ctrl+Enter), as many times as the batch count says")
        self.act_cancel = a("run.cancel", "&Cancel", "mdi6.stop", self.cancel)
        self.act_cancel.setToolTip("Cancel the running job and everything queued (Esc)")
        self.act_cancel.setEnabled(False)
        self.act_prefs = a("edit.preferences", "&Preferences…", "mdi6.cog-outline", self.show_preferences)
        # Ctrl+M is ComfyUI's mute, which its users press without looking: the manager moved.
        self.act_models = a("file.model_manager", "&Model Manager…", "mdi6.database-cog-outline",
                            self.show_model_manager)
        self.act_bypass = a("canvas.bypass", "&Bypass", "mdi6.debug-step-over", self.bypass_selected, target=v)
        self.act_bypass.setToolTip("Bypass the selected nodes: each output takes the input of its type")
        self.act_mute = a("canvas.mute", "&Mute", "mdi6.volume-off", self.mute_selected, target=v)
        self.act_mute.setToolTip("Mute the selected nodes: they, and what needs them, do not run")
        self.act_collapse = a("canvas.collapse", "C&ollapse", "mdi6.arrow-collapse-vertical",
                              self.collapse_selected, target=v)
        self.act_group = a("canvas.group", "&Group Selection", "mdi6.group", self.group_selection, target=v)
        self.act_ungroup = a("canvas.ungroup", "&Ungroup", "mdi6.ungroup", self.ungroup_selected, target=v)
        self.act_auto_layout = a("canvas.auto_layout", "Auto-&layout", "mdi6.graph-outline", self.auto_layout,
                                 target=v)
        self.act_auto_layout.setToolTip("Lay out the selection (or the whole graph) left to right by dependency")
        self.arrange_actions = {
            edge: a(f"canvas.align_{edge}", text, None, lambda _=False, e=edge: self.align_selected(e), target=v)
            for text, edge in (("Left edges", "left"), ("Right edges", "right"), ("Top edges", "top"),
                               ("Bottom edges", "bottom"))}
        self.arrange_actions["horizontal"] = a("canvas.distribute_h", "Horizontally", None,
                                               lambda: self.distribute_selected("horizontal"), target=v)
        self.arrange_actions["vertical"] = a("canvas.distribute_v", "Vertically", None,
                                             lambda: self.distribute_selected("vertical"), target=v)
        self.act_add_note = a("canvas.note", "Add &Note", "mdi6.note-text-outline",
                              lambda: self.add_note(self._view_center()))
        self.act_add_reroute = a("canvas.reroute", "Add &Reroute", "mdi6.circle-small",
                                 lambda: self.add_reroute(self._view_center()))
        self.act_zoom_in = a("view.zoom_in", "Zoom &In", "mdi6.magnify-plus-outline", self.view.zoom_in)
        self.act_zoom_out = a("view.zoom_out", "Zoom &Out", "mdi6.magnify-minus-outline", self.view.zoom_out)
        self.act_zoom_reset = a("view.zoom_reset", "&Actual Size", "mdi6.magnify-scan", self.view.zoom_reset)
        self.act_minimap = a("view.minimap", "&Minimap", "mdi6.map-outline", self._set_minimap_visible)
        self.act_minimap.setCheckable(True)
        self.act_minimap.setChecked(self.minimap.isVisibleTo(self.view))
        self.act_run_to_node = a("run.run_to_node", "Run &up to Selected Node", "mdi6.play-outline",
                                 lambda: self.run_to_node())
        self.act_run_outputs = a("run.run_selected_outputs", "Run &Selected Outputs",
                                 "mdi6.play-box-multiple-outline", self.run_selected_outputs)
        self.act_node_help = a("help.node_help", "&Node Help", "mdi6.help-circle-outline",
                               lambda: self.show_node_help())
        self.act_shortcuts = a("help.shortcuts", "&Keyboard Shortcuts", "mdi6.keyboard-outline", self.show_shortcuts)
        self.act_docs = a("help.documentation", "&Documentation", "mdi6.book-open-variant",
                          lambda: about.open_documentation(self))
        self.act_logs = a("help.logs_folder", "Open &Logs Folder", "mdi6.folder-text-outline",
                          lambda: about.open_logs_folder(self))
        self.act_about = a("help.about", "&About Latent Studio", "mdi6.information-outline", lambda: about.show_about(self))
        self.act_thumbnails = a("view.thumbnails", "&Images on every node", "mdi6.image-outline",
                                self.scene.set_show_all_thumbnails)
        self.act_thumbnails.setCheckable(True)
        self.act_thumbnails.setToolTip("Show each node's last image on the node (preview and save nodes "
                                       "always show theirs); off keeps nodes from growing over their neighbours")
        self.act_box_editor = a("view.box_editor", "&Box Editor", "mdi6.vector-rectangle", lambda: self.show_box_editor())
        self.act_box_editor.setToolTip("Draw, move and resize the boxes of regional prompts, GLIGEN and "
                                       "layout guidance over the image (Ctrl+Shift+B)")
        self.shortcuts = ShortcutMap(ui_settings())
        self.shortcuts.apply(self.actions_by_id)

        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addActions([self.act_new, self.act_open])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addActions([self.act_save, self.act_save_as])
        file_menu.addSeparator()
        file_menu.addAction(self.act_models)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        edit = mb.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete,
                         self.act_select_all])
        edit.addSeparator()
        edit.addAction(self.act_prefs)
        canvas = mb.addMenu("C&anvas")  # Alt+C collapses nodes
        canvas.addActions([self.act_bypass, self.act_mute, self.act_collapse])
        self._color_menu(canvas, self.color_selected)
        canvas.addSeparator()
        canvas.addActions([self.act_group, self.act_ungroup, self.act_add_note, self.act_add_reroute])
        canvas.addSeparator()
        arrange_menu = self._arrange_menu(canvas)
        canvas.aboutToShow.connect(lambda: self._refresh_arrange(arrange_menu))
        view_menu = mb.addMenu("&View")
        view_menu.addActions([self.act_zoom_in, self.act_zoom_out, self.act_zoom_reset])
        view_menu.addAction(self.act_frame)
        view_menu.addAction(self.act_minimap)
        view_menu.addAction(self.act_thumbnails)
        view_menu.addAction(self.act_box_editor)
        view_menu.addSeparator()
        for dock in (self.library_dock, self.inspector_dock, self.preview_dock, self.problems_dock,
                     self.queue_dock, self.history_dock):
            view_menu.addAction(dock.toggleViewAction())
        run_menu = mb.addMenu("&Run")
        run_menu.addActions([self.act_run, self.act_run_to_node, self.act_run_outputs, self.act_cancel])
        help_menu = mb.addMenu("&Help")
        help_menu.addActions([self.act_docs, self.act_shortcuts, self.act_node_help])
        help_menu.addSeparator()
        help_menu.addActions([self.act_logs, self.act_about])

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.addActions([self.act_new, self.act_open, self.act_save])
        tb.addSeparator()
        tb.addActions([self.act_undo, self.act_redo])
        tb.addSeparator()
        self.batch_count = QSpinBox()
        self.batch_count.setRange(1, 100)
        self.batch_count.setPrefix("× ")
        self.batch_count.setToolTip("Batch count: how many runs each press of Run queues (seeds follow "
                                    "each sampler's \"control after generate\")")
        tb.addAction(self.act_run)
        tb.addWidget(self.batch_count)
        tb.addAction(self.act_cancel)
        tb.addSeparator()
        tb.addActions([self.act_frame, self.act_box_editor, self.act_models, self.act_prefs])

    def _build_status(self) -> None:
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.status_label = QLabel("Ready")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress_bar)

    def _connect(self) -> None:
        self.editor.message.connect(self.show_message)
        self.editor.stack.cleanChanged.connect(self._on_clean_changed)
        self.editor.stack.indexChanged.connect(lambda _: self.inspector.refresh_values())
        self.scene.selectionChanged.connect(self._on_selection)
        self.view.quick_add_requested.connect(self._on_quick_add)
        self.view.files_dropped.connect(self.drop_files)
        self.view.node_menu_requested.connect(self._node_menu)
        self.view.canvas_menu_requested.connect(self._canvas_menu)
        self.view.wire_menu_requested.connect(self._wire_menu)
        self.view.group_menu_requested.connect(self._group_menu)
        self.quick_add.chosen.connect(self._on_quick_add_chosen)
        self.library.add_requested.connect(self._add_from_library)
        self.inspector.param_edited.connect(self.editor.set_param)
        self.inspector.title_edited.connect(self.editor.rename)
        self.inspector.edit_boxes_requested.connect(self.show_box_editor)
        self.problems.node_clicked.connect(lambda nid: self._select([nid], frame=True))
        self.history_panel.open_workflow.connect(self.open_workflow_text)
        self.evaluator.event.connect(self._on_session_event)

    # -- state and title --------------------------------------------------------------------------
    def _on_session_event(self, event: Any) -> None:
        if isinstance(event, sev.DocumentChanged):
            self._update_title()

    def _on_clean_changed(self, clean: bool) -> None:
        # Undoing back to the saved state makes the document clean again (not for an import, which
        # has never been saved).
        if clean and not self._opened_dirty:
            self.session.set_dirty(False)
        self._update_title()

    def _update_title(self) -> None:
        name = self.path.name if self.path else "Untitled"
        self.setWindowTitle(f"{name}{'*' if self.modified else ''} — Latent Studio")

    def show_message(self, text: str) -> None:
        self.status_label.setText(text)
        self.log("info", text)

    def log(self, level: str, text: str, node_id: str | None = None) -> None:
        self.problems.log(level, text, node_id)

    def error_box(self, title: str, text: str) -> None:
        self.log("error", text)
        QMessageBox.warning(self, title, text)

    def _on_graph_changed(self, what: str, info: dict[str, Any]) -> None:
        self._revision += 1
        self._validate_timer.start()

    def _refresh_problems(self) -> None:
        for item in self.scene.node_items.values():
            if item.error and item.error.startswith("invalid: "):
                item.set_error(None)
        for p in self.graph.validate():
            node_item = self.scene.node_items.get(p.node_id or "")
            if node_item is not None and p.severity == "error" and not node_item.error:
                node_item.set_error(f"invalid: {p.port + ': ' if p.port else ''}{p.message}")

    # -- graph replacement ------------------------------------------------------------------------
    def set_graph(self, graph: Graph, path: Path | None, *, clean: bool = True) -> None:
        """Show ``graph`` (the session's document) in the canvas; ``clean=False`` for an import or a
        restored crash file, which count as unsaved until saved."""
        for g in {self.editor.graph, self.scene.graph}:
            if self._on_graph_changed in g.listeners:
                g.listeners.remove(self._on_graph_changed)
        if graph is not self.session.graph or path != self.session.path:
            self.session.set_graph(graph, path, dirty=not clean)
        elif not clean:
            self.session.set_dirty(True)
        self.editor.set_graph(graph)
        self.editor.stack.setClean()
        self._opened_dirty = not clean
        self.scene.set_graph(graph)
        graph.listeners.append(self._on_graph_changed)
        if self.box_editor is not None:
            self.box_editor.sync()
        self.runs.last_previews.clear()
        self.inspector.show_node(graph, None)
        self.preview.clear("Run the graph (Ctrl+Enter) to see images here")
        self._revision += 1
        self._autosaved_revision = self._revision if clean else 0
        self._refresh_problems()
        self._update_title()
        QTimer.singleShot(0, lambda: self.view.frame())

    def _view_center(self) -> Any:
        return self.view.mapToScene(self.view.viewport().rect().center())

    def _refresh_arrange(self, menu: Any) -> None:
        for act in menu.actions():
            sub = act.menu()
            if sub is not None:
                need = 3 if act.text() == "Distribute" else 2
                act.setEnabled(len(self.selected()) >= need)

    def _set_minimap_visible(self, visible: bool) -> None:
        self.minimap.setVisible(visible)
        ui_settings().setValue("view/minimap", bool(visible))

    def show_box_editor(self, node_id: str | None = None) -> None:
        from .box_editor import open_box_editor

        open_box_editor(self, node_id)

    def show_shortcuts(self) -> None:
        from .shortcuts import ShortcutsDialog

        dlg = ShortcutsDialog(self.shortcuts, self)
        dlg.change_requested.connect(lambda: self.show_preferences(shortcuts_tab=True))
        dlg.show()
        self._shortcuts_dialog = dlg

    def _add_from_library(self, type_id: str) -> None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        self._select([self.editor.add_node(type_id, (center.x() - 100, center.y() - 40))])

    def _on_quick_add(self, global_pos: Any, port: Any) -> None:
        self._quick_port = port
        if port is None:
            self.quick_add.popup(global_pos)
            return
        node_id, name, is_output, port_type = port
        allowed = {nt.id for nt in self.editor.accepting_types(port_type, from_output=is_output)}
        self.quick_add.popup(global_pos, lambda nt: nt.id in allowed)

    def _on_quick_add_chosen(self, type_id: str) -> None:
        pos = self.view.last_scene_pos
        port = getattr(self, "_quick_port", None)
        if port is None:
            nid: str | None = self.editor.add_node(type_id, (pos.x(), pos.y()))
        else:
            node_id, name, is_output, _ = port
            x = pos.x() if is_output else pos.x() - 230
            nid = self.editor.add_node_connected(type_id, (x, pos.y()), (node_id, name, is_output))
        self._quick_port = None
        if nid:
            self._select([nid])

    def _on_selection(self) -> None:
        ids = self.selected()
        node_id = ids[0] if len(ids) == 1 else None
        self.inspector.show_node(self.graph, node_id)
        if node_id is not None:
            self.runs.show_node_output(node_id)

    # -- running ----------------------------------------------------------------------------------
    def run(self, targets: list[str] | None = None) -> None:
        """Queue the graph as it is now, ``batch count`` times; seeds move on per their policy.
        With ``targets``: only those nodes and what they need."""
        self.refresh_models_table(wait=False)
        busy = self.evaluator.busy
        jobs = self.session.enqueue(self.batch_count.value(), targets)
        # The first job's snapshot carries the pre-flight's problems too (files a run cannot find).
        problems = jobs[0].snapshot.problems if jobs else self.graph.snapshot(targets).problems
        for p in problems:
            if p.severity == "error":
                where = p.node_title + (f" › {p.port}" if p.port else "")  # titles, not ids: a click selects
                self.log("error", f"{where}: {p.message}", p.node_id)
        self.inspector.refresh_values()  # seeds may have moved on
        if busy:
            self.show_message(f"Queued {len(jobs)} run(s) behind the current one (Esc cancels all)")
        else:
            self.show_message("Running…")

    def cancel(self) -> None:
        if self.evaluator.busy:
            self.evaluator.cancel()
            self.status_label.setText("Cancelling…")

    # -- window state and closing -------------------------------------------------------------------
    def _restore_ui_state(self) -> None:
        s = ui_settings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_ui_state(self) -> None:
        s = ui_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._closing and not self.confirm_discard():
            event.ignore()
            return
        self.shutdown()
        recovery.discard()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers and the evaluator thread (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.autosave_timer.stop()
        self._validate_timer.stop()
        for job in self._hash_jobs:
            job.cancel()
            job.wait(10)
        self.editor.stack.cleanChanged.disconnect()
        self.editor.stack.indexChanged.disconnect()
        self.save_ui_state()
        self.evaluator.shutdown()
        self.scene.detach()
