"""The main window: canvas in the middle, library / inspector / preview / problems around it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QPointF, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.graph import Graph, Node, new_id
from studio.core.imaging import thumbnail
from studio.core.pngmeta import WORKFLOW_KEY, PngMetadataError, is_png, read_text_chunks
from studio.core.registry import default_registry
from studio.core.settings import Settings, config_dir, resources_dir
from studio.core.workflow import WorkflowError, save
from studio.services import make_services

from . import recovery, theme, undo
from .canvas.scene import GraphScene
from .canvas.view import GraphView
from .editor import Editor
from .inspector import Inspector
from .node_library import NodeLibrary, QuickAddPopup
from .preview_pane import PreviewPane
from .worker import Evaluator

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
FIRST_RUN = resources_dir() / "workflows" / "first_run.json"
AUTOSAVE_MS = 10_000
MAX_RECENT = 10


def ui_settings() -> QSettings:
    return QSettings(str(config_dir() / "ui.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, *, registry: Any = None, restore_state: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.registry = registry or default_registry()
        self.graph = Graph(self.registry)
        self.path: Path | None = None
        self.editor = Editor(self.graph, self)
        self.scene = GraphScene(self.graph, self)
        self.view = GraphView(self.scene, self.editor)
        self.services = make_services(self.settings)
        self.evaluator = Evaluator(self.services, self)
        self.last_previews: dict[str, np.ndarray] = {}
        self._revision = 0
        self._autosaved_revision = 0
        self._running_node: str | None = None
        self._closing = False
        self._hash_jobs: list[Any] = []
        self.graph.listeners.append(self._on_graph_changed)

        self.setWindowTitle("Latent Studio")
        self._fit_to_screen(1500, 920)
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_status()
        self._connect()

        self._validate_timer = QTimer(self, singleShot=True, interval=250, timeout=self._refresh_problems)
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS, timeout=self.autosave)
        self.autosave_timer.start()
        if restore_state:
            self._restore_ui_state()
        self._update_title()

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
        self.quick_add = QuickAddPopup(self.registry, self)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.library = NodeLibrary(self.registry)
        self.inspector = Inspector()
        self.preview = PreviewPane()
        self.problems = QListWidget()
        self.problems.setObjectName("problems")
        self.library_dock = self._dock("Nodes", self.library, Qt.DockWidgetArea.LeftDockWidgetArea, "libraryDock")
        self.inspector_dock = self._dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea,
                                         "inspectorDock")
        self.preview_dock = self._dock("Preview", self.preview, Qt.DockWidgetArea.RightDockWidgetArea, "previewDock")
        self.problems_dock = self._dock("Problems && Log", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea,
                                        "problemsDock")
        self.splitDockWidget(self.inspector_dock, self.preview_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.library_dock], [240], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock], [360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [120], Qt.Orientation.Vertical)

    def _action(self, text: str, icon: str | None, slot: Any, shortcut: Any = None, *,
                target: QWidget | None = None) -> QAction:
        act = QAction(text, self)
        if icon:
            act.setIcon(theme.icon(icon))
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(k) for k in keys])
        act.triggered.connect(slot)
        if target is not None:  # canvas-only keys must not steal Delete/Ctrl+C from text fields
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            target.addAction(act)
        else:
            self.addAction(act)
        return act

    def _build_actions(self) -> None:
        a = self._action
        self.act_new = a("&New", "mdi6.file-outline", self.new_workflow, QKeySequence.StandardKey.New)
        self.act_open = a("&Open…", "mdi6.folder-open-outline", self.open_dialog, QKeySequence.StandardKey.Open)
        self.act_save = a("&Save", "mdi6.content-save-outline", self.save, QKeySequence.StandardKey.Save)
        self.act_save_as = a("Save &As…", "mdi6.content-save-edit-outline", self.save_as, "Ctrl+Shift+S")
        self.act_quit = a("&Quit", None, self.close, QKeySequence.StandardKey.Quit)
        self.act_undo = self.editor.stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts(QKeySequence.StandardKey.Undo)
        self.act_undo.setIcon(theme.icon("mdi6.undo"))
        self.act_redo = self.editor.stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts(QKeySequence.StandardKey.Redo)
        self.act_redo.setIcon(theme.icon("mdi6.redo"))
        self.addActions([self.act_undo, self.act_redo])
        v = self.view
        self.act_cut = a("Cu&t", "mdi6.content-cut", self.cut, QKeySequence.StandardKey.Cut, target=v)
        self.act_copy = a("&Copy", "mdi6.content-copy", self.copy, QKeySequence.StandardKey.Copy, target=v)
        self.act_paste = a("&Paste", "mdi6.content-paste", self.paste, QKeySequence.StandardKey.Paste, target=v)
        self.act_duplicate = a("&Duplicate", "mdi6.content-duplicate", self.duplicate, "Ctrl+D", target=v)
        self.act_delete = a("&Delete", "mdi6.delete-outline", self.delete_selected,
                            [QKeySequence.StandardKey.Delete, "Backspace"], target=v)
        self.act_select_all = a("Select &All", None, self.select_all, QKeySequence.StandardKey.SelectAll, target=v)
        self.act_frame = a("&Frame all / selection", "mdi6.fit-to-screen-outline",
                           lambda: self.view.frame(self.scene.selected_node_ids()))
        self.act_run = a("&Run", "mdi6.play", self.run, ["Ctrl+Return", "Ctrl+Enter"])
        self.act_cancel = a("&Cancel", "mdi6.stop", self.cancel, "Esc")
        self.act_cancel.setEnabled(False)
        self.act_prefs = a("&Preferences…", "mdi6.cog-outline", self.show_preferences, "Ctrl+,")
        self.act_models = a("&Model Manager…", "mdi6.database-cog-outline", self.show_model_manager, "Ctrl+M")

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
        view_menu = mb.addMenu("&View")
        view_menu.addAction(self.act_frame)
        view_menu.addSeparator()
        for dock in (self.library_dock, self.inspector_dock, self.preview_dock, self.problems_dock):
            view_menu.addAction(dock.toggleViewAction())
        run_menu = mb.addMenu("&Run")
        run_menu.addActions([self.act_run, self.act_cancel])

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.addActions([self.act_new, self.act_open, self.act_save])
        tb.addSeparator()
        tb.addActions([self.act_undo, self.act_redo])
        tb.addSeparator()
        tb.addActions([self.act_run, self.act_cancel])
        tb.addSeparator()
        tb.addActions([self.act_frame, self.act_models, self.act_prefs])

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
        self.editor.stack.cleanChanged.connect(lambda _: self._update_title())
        self.editor.stack.indexChanged.connect(lambda _: self.inspector.refresh_values())
        self.scene.selectionChanged.connect(self._on_selection)
        self.view.quick_add_requested.connect(self._on_quick_add)
        self.view.files_dropped.connect(self.drop_files)
        self.view.node_menu_requested.connect(self._node_menu)
        self.quick_add.chosen.connect(self._on_quick_add_chosen)
        self.library.add_requested.connect(self._add_from_library)
        self.inspector.param_edited.connect(self.editor.set_param)
        self.inspector.title_edited.connect(self.editor.rename)
        w = self.evaluator.worker
        w.run_started.connect(self._on_run_started)
        w.node_started.connect(self._on_node_started)
        w.progress.connect(self._on_progress)
        w.node_finished.connect(self._on_node_finished)
        w.node_error.connect(self._on_node_error)
        w.node_log.connect(self._on_node_log)
        w.cancelled.connect(lambda: self.show_message("Cancelled"))
        w.run_finished.connect(self._on_run_finished)
        w.preview_ready.connect(self._on_preview_ready)
        self.evaluator.queued.connect(lambda: self.show_message("A run is in progress: this one will start when "
                                                                "it finishes (Esc cancels)"))

    # -- state and title --------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        return not self.editor.stack.isClean()

    def _update_title(self) -> None:
        name = self.path.name if self.path else "Untitled"
        self.setWindowTitle(f"{name}{'*' if self.modified else ''} — Latent Studio")

    def show_message(self, text: str) -> None:
        self.status_label.setText(text)
        self._log("info", text)

    def _log(self, level: str, text: str, node_id: str | None = None) -> None:
        item = QListWidgetItem(theme.icon({"error": "mdi6.alert-circle", "warning": "mdi6.alert"}.get(
            level, "mdi6.information-outline"), {"error": theme.ERROR, "warning": "#f0b429"}.get(level, theme.TEXT_DIM)),
            f"{time.strftime('%H:%M:%S')}  {text}")
        item.setData(Qt.ItemDataRole.UserRole, node_id)
        self.problems.addItem(item)
        while self.problems.count() > 500:
            self.problems.takeItem(0)
        self.problems.scrollToBottom()

    def _on_graph_changed(self, what: str, info: dict[str, Any]) -> None:
        self._revision += 1
        self._validate_timer.start()

    def _refresh_problems(self) -> None:
        for item in self.scene.node_items.values():
            if item.error and item.error.startswith("invalid: "):
                item.set_error(None)
        for p in self.graph.validate():
            item = self.scene.node_items.get(p.node_id or "")
            if item is not None and p.severity == "error" and not item.error:
                item.set_error(f"invalid: {p.port + ': ' if p.port else ''}{p.message}")

    # -- graph replacement ------------------------------------------------------------------------
    def set_graph(self, graph: Graph, path: Path | None, *, clean: bool = True) -> None:
        if self._on_graph_changed in self.graph.listeners:
            self.graph.listeners.remove(self._on_graph_changed)
        self.graph = graph
        self.path = path
        self.editor.set_graph(graph)
        self.scene.set_graph(graph)
        graph.listeners.append(self._on_graph_changed)
        self.last_previews.clear()
        self.inspector.show_node(graph, None)
        self.preview.clear("Run the graph (Ctrl+Enter) to see images here")
        self.services.set_workflow_path(path)
        if not clean:
            self.editor.stack.resetClean()
        self._revision += 1
        self._autosaved_revision = self._revision if clean else 0
        self._refresh_problems()
        self._update_title()
        QTimer.singleShot(0, lambda: self.view.frame())

    def confirm_discard(self) -> bool:
        """Ask before replacing unsaved work. Returns True when it is fine to go on."""
        if not self.modified:
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def ask_save_changes(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          f"Save the changes to {self.path.name if self.path else 'this workflow'}?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        result = box.exec()
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(result), "cancel")

    # -- files ------------------------------------------------------------------------------------
    def new_workflow(self) -> None:
        if self.confirm_discard():
            self.set_graph(Graph(self.registry), None)

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        folder = ui_settings().value("folders/open", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open workflow", folder,
            "Workflows and images (*.json *.png *.txt);;ComfyUI / A1111 (*.json *.png *.txt);;All files (*)")
        if path:
            self.open_file(Path(path), ask=False)

    def open_file(self, path: Path, *, ask: bool = True) -> bool:
        if ask and not self.confirm_discard():
            return False
        from studio.compat import load_any

        try:
            graph, report = load_any(path, self.registry)
        except WorkflowError as exc:
            self.error_box("Cannot open workflow", str(exc))
            return False
        # A PNG or an imported ComfyUI / A1111 file opens as a new, unsaved workflow.
        as_workflow = path if path.suffix.lower() == ".json" and report is None else None
        self.set_graph(graph, as_workflow, clean=report is None)
        if report is not None:
            self._log("info", f"imported {path.name}: {len(report.lines)} note(s)")
            for line in report.lines:
                self._log("warning" if line.startswith(("unmapped", "approximated")) else "info", line)
        self.resolve_models()
        placeholders = [n for n in graph.nodes.values() if graph.node_type(n) is None]
        if placeholders:
            names = ", ".join(sorted({n.type_id for n in placeholders}))
            self._log("warning", f"{len(placeholders)} node(s) of unknown types kept as placeholders: {names}")
        self._remember(path)
        self.show_message(f"Opened {path.name}")
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._save_to(self.path)

    def save_as(self) -> bool:
        folder = ui_settings().value("folders/save", str(Path.home()))
        suggested = str(Path(folder) / (self.path.name if self.path else "workflow.json"))
        path, _ = QFileDialog.getSaveFileName(self, "Save workflow", suggested, "Workflows (*.json)")
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".json"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        if not self.refresh_models_table(wait=True):
            return False
        try:
            save(self.graph, path)
        except (OSError, ValueError) as exc:
            self.error_box("Cannot save", f"{path}: {exc}")
            return False
        self.path = path
        self.services.set_workflow_path(path)
        self.editor.stack.setClean()
        self._remember(path)
        ui_settings().setValue("folders/save", str(path.parent))
        self._update_title()
        self.show_message(f"Saved {path}")
        return True

    def _remember(self, path: Path) -> None:
        s = ui_settings()
        recent = [p for p in (s.value("recent", []) or []) if p != str(path)]
        s.setValue("recent", [str(path), *recent][:MAX_RECENT])
        s.setValue("folders/open", str(path.parent))

    def recent_files(self) -> list[str]:
        value = ui_settings().value("recent", []) or []
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_file(Path(p)))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def drop_files(self, paths: list[str], scene_pos: QPointF) -> None:
        x, y = scene_pos.x(), scene_pos.y()
        for p in map(Path, paths):
            suffix = p.suffix.lower()
            if suffix in (".json", ".txt") or (is_png(p) and self._png_has_workflow(p)):
                self.open_file(p)
                return
            if suffix in IMAGE_SUFFIXES:
                nt = self.registry["image.load"]
                node = Node(new_id(), nt.id, nt.version, {**nt.default_params(), "image": str(p)}, (x, y))
                self.editor.stack.push(undo.AddNode(self.graph, node, f"Add image {p.name}"))
                y += 180
            else:
                self.show_message(f"Cannot use {p.name}: not an image or a workflow")

    @staticmethod
    def _png_has_workflow(path: Path) -> bool:
        """Ours, or a ComfyUI workflow / prompt, or A1111 parameters: all open as workflows."""
        try:
            texts = read_text_chunks(path)
        except PngMetadataError:
            return False
        return any(k in texts for k in (WORKFLOW_KEY, "workflow", "prompt", "parameters"))

    def error_box(self, title: str, text: str) -> None:
        self._log("error", text)
        QMessageBox.warning(self, title, text)

    # -- editing ----------------------------------------------------------------------------------
    def selected(self) -> list[str]:
        return self.scene.selected_node_ids()

    def copy(self) -> None:
        ids = self.selected()
        if ids:
            # Plain text (the fragment JSON names its format): works between windows and processes,
            # and avoids handing a QMimeData object to the clipboard, which crashed PySide at exit.
            QApplication.clipboard().setText(self.editor.copy_text(ids))

    def cut(self) -> None:
        self.copy()
        self.delete_selected()

    def paste(self) -> None:
        text = QApplication.clipboard().text()
        pos = self.view.last_scene_pos
        ids = self.editor.paste_text(text, (pos.x(), pos.y()))
        self._select(ids)

    def duplicate(self) -> None:
        self._select(self.editor.duplicate(self.selected()))

    def delete_selected(self) -> None:
        self.editor.delete(self.selected())

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def _select(self, ids: list[str]) -> None:
        self.scene.clearSelection()
        for nid in ids:
            item = self.scene.node_items.get(nid)
            if item is not None:
                item.setSelected(True)

    def _add_from_library(self, type_id: str) -> None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        nid = self.editor.add_node(type_id, (center.x() - 100, center.y() - 40))
        self._select([nid])

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
            nid = self.editor.add_node(type_id, (pos.x(), pos.y()))
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
            self._bind_seed_modes(node_id)
            self._show_node_output(node_id)

    def _bind_seed_modes(self, node_id: str) -> None:
        """Seed editors' fixed/randomize choice lives in the node (saved with the workflow)."""
        node = self.graph.nodes[node_id]
        nt = self.graph.node_type(node)
        for decl in (nt.params if nt else ()):
            if decl.kind.value != "SEED":
                continue
            editor = self.inspector.editor(decl.name)
            if editor is None or not hasattr(editor, "set_mode"):
                continue
            editor.set_mode(node.extra.get("seed_control", {}).get(decl.name, "fixed"))

            def store(mode: str, node=node, name=decl.name) -> None:
                node.extra.setdefault("seed_control", {})[name] = mode
                if mode == "fixed":
                    node.extra["seed_control"].pop(name, None)
                    if not node.extra["seed_control"]:
                        node.extra.pop("seed_control")

            editor.mode_changed.connect(store)

    def _randomize_seeds(self) -> None:
        """After queueing a run, seeds set to "randomize" get a new value for the next one."""
        import random

        for node in self.graph.nodes.values():
            for name, mode in dict(node.extra.get("seed_control", {})).items():
                if mode == "randomize":
                    self.editor.set_param(node.id, name, random.randrange(2**32), final=True)

    def _show_node_output(self, node_id: str) -> None:
        image = self.node_image(node_id)
        title = self.graph.title_of(node_id) if node_id in self.graph.nodes else ""
        if image is not None:
            h, w = image.shape[-3:-1]
            self.preview.show_array(image, f"{title} · {w}×{h}")

    def node_image(self, node_id: str) -> np.ndarray | None:
        """The node's last IMAGE output, or its last preview frame."""
        outputs = self.evaluator.executor.outputs_of(node_id)
        node = self.graph.nodes.get(node_id)
        nt = self.graph.node_type(node) if node else None
        if outputs and nt is not None:
            for out, value in zip(nt.outputs, outputs, strict=False):
                if out.type.kind.value == "IMAGE" and isinstance(value, np.ndarray):
                    return value
        return self.last_previews.get(node_id)

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> None:
        self.refresh_models_table(wait=False)
        snap = self.graph.snapshot()
        errors = [p for p in snap.problems if p.severity == "error"]
        for p in errors:
            self._log("error", str(p), p.node_id)
        started = self.evaluator.submit(snap)
        self._randomize_seeds()
        self.act_cancel.setEnabled(True)
        if started:
            self.show_message("Running…")

    def cancel(self) -> None:
        if self.evaluator.busy:
            self.evaluator.cancel()
            self.show_message("Cancelling…")

    @Slot(int, list)
    def _on_run_started(self, run_id: int, to_execute: list) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self._to_execute = list(to_execute)
        self._done = 0
        for nid in to_execute:
            item = self.scene.node_items.get(nid)
            if item is not None:
                item.set_error(None)
                item.state = ""

    def _overall(self, node_fraction: float) -> None:
        total = max(1, len(getattr(self, "_to_execute", [])))
        self.progress_bar.setValue(int(1000 * (self._done + node_fraction) / total))

    @Slot(str)
    def _on_node_started(self, node_id: str) -> None:
        self._running_node = node_id
        item = self.scene.node_items.get(node_id)
        if item is not None:
            item.state = "running"
            item.set_progress(0.0)
        if node_id in self.graph.nodes:
            self.status_label.setText(f"Running {self.graph.title_of(node_id)}…")

    @Slot(str, float, str)
    def _on_progress(self, node_id: str, fraction: float, text: str) -> None:
        item = self.scene.node_items.get(node_id)
        if item is not None:
            item.set_progress(fraction)
        self._overall(fraction)
        if text and node_id in self.graph.nodes:
            self.status_label.setText(f"{self.graph.title_of(node_id)}: {text}")

    @Slot(str, bool)
    def _on_node_finished(self, node_id: str, cached: bool) -> None:
        item = self.scene.node_items.get(node_id)
        if not cached:
            self._done += 1
            self._overall(0.0)
        if item is None:
            return
        item.set_progress(None)
        item.state = "done"
        image = self.node_image(node_id)
        if image is not None:
            item.set_thumbnail(thumbnail(image, 160) if image.dtype != np.uint8 else image)
        if node_id in self.selected():
            self._show_node_output(node_id)

    @Slot(str, str)
    def _on_node_error(self, node_id: str, message: str) -> None:
        item = self.scene.node_items.get(node_id)
        if item is not None:
            item.set_progress(None)
            item.set_error(message)
        title = self.graph.title_of(node_id) if node_id in self.graph.nodes else node_id
        self._log("error", f"{title}: {message}", node_id)

    @Slot(str, str, str)
    def _on_node_log(self, node_id: str, level: str, message: str) -> None:
        title = self.graph.title_of(node_id) if node_id in self.graph.nodes else node_id
        self._log(level, f"{title}: {message}", node_id)

    @Slot()
    def _on_preview_ready(self) -> None:
        frame = self.evaluator.worker.take_preview()
        if frame is None or frame.image is None:
            return
        self.last_previews[frame.node] = frame.image
        title = self.graph.title_of(frame.node) if frame.node in self.graph.nodes else ""
        step = f"step {frame.step + 1} · " if frame.step >= 0 else ""
        self.preview.show_array(frame.image, f"{step}{title}")
        item = self.scene.node_items.get(frame.node)
        if item is not None and self.graph.node_type(item.node) and not self.graph.node_type(item.node).outputs:
            item.set_thumbnail(frame.image)  # output-less nodes (preview, save) show what they showed

    @Slot(object)
    def _on_run_finished(self, summary: Any) -> None:
        for item in self.scene.node_items.values():
            if item.progress is not None:
                item.set_progress(None)
        self.progress_bar.hide()
        self.act_cancel.setEnabled(self.evaluator.busy)
        if summary.cancelled:
            text = "Cancelled"
        elif summary.failed:
            text = f"Finished with {len(summary.failed)} error(s) in {summary.seconds:.1f} s"
        else:
            text = (f"Done in {summary.seconds:.2f} s: {len(summary.executed)} executed, "
                    f"{len(summary.cached)} cached")
        for path in summary.outputs:
            self._log("info", f"wrote {path}")
        self.show_message(text)

    def _node_menu(self, node_id: str, global_pos: Any) -> None:
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        for name, title in self.missing_downloads(node_id):
            menu.addAction(theme.icon("mdi6.download"), f"Download {title}…",
                           lambda name=name: self.download_model(name))
        if menu.actions():
            menu.addSeparator()
        menu.addActions([self.act_duplicate, self.act_copy, self.act_delete])
        menu.popup(global_pos)

    def missing_downloads(self, node_id: str) -> list[tuple[str, str]]:
        """(catalogue name, title) for each model this node names that is not installed but can be
        downloaded."""
        from studio.diffusion.catalogue import for_model
        from studio.diffusion.errors import ModelError
        from studio.diffusion.model_folders import resolve

        node = self.graph.nodes[node_id]
        nt = self.graph.node_type(node)
        out = []
        for decl in (nt.params if nt else ()):
            file, kind = node.params.get(decl.name), decl.file_kind
            if not file or kind not in ("checkpoints", "controlnet", "vae", "loras", "embeddings", "taesd"):
                continue
            try:
                resolve(self.settings.model_roots, kind, str(file))
            except ModelError:
                entry = for_model(kind, str(file))
                if entry is not None:
                    out.append((entry.name, entry.title))
        return out

    def download_model(self, name: str) -> None:
        from .model_manager_window import ModelManagerWindow

        dlg = ModelManagerWindow(self.settings, self)
        dlg.settings_changed.connect(self._apply_settings)
        dlg.select_entry(name)
        dlg.downloads.download_entry(name)
        dlg.exec()

    # -- model references ---------------------------------------------------------------------------
    def resolve_models(self) -> None:
        """After opening: point nodes at renamed copies (found by SHA-256), offer substitutes or
        downloads for what is still missing."""
        from studio.diffusion.model_refs import resolve_missing

        try:
            res = resolve_missing(self.graph, self.settings, apply=False)
        except Exception as exc:  # a broken model folder must not stop a workflow from opening
            self._log("warning", f"could not check the workflow's models: {exc}")
            return
        if res.rewritten:
            group = undo.Macro("Use renamed models")
            for r in res.rewritten:
                old = self.graph.nodes[r.node_id].params.get(r.param)
                group.add(undo.SetParam(self.graph, r.node_id, r.param, old, r.new, True))
                self._log("info", r.line(), r.node_id)
            self.editor.stack.push(group)
        if res.missing:
            for m in res.missing:
                self._log("warning", m.line(), m.node_id)
            choices = self.ask_missing_models(res.missing)
            if choices:
                group = undo.Macro("Use substitute models")
                for (node_id, param), value in choices.items():
                    old = self.graph.nodes[node_id].params.get(param)
                    group.add(undo.SetParam(self.graph, node_id, param, old, value, True))
                self.editor.stack.push(group)

    def ask_missing_models(self, missing: list[Any]) -> dict[tuple[str, str], str]:
        from .missing_models import MissingModelsDialog

        dlg = MissingModelsDialog(missing, self.settings, self)
        return dlg.choices() if dlg.exec() else {}

    def refresh_models_table(self, *, wait: bool) -> bool:
        """Record the models the workflow uses (file, kind, family, size, SHA-256). Hashes are cached
        per file; hashing a new multi-GB file runs in the background (with progress when saving)."""
        from studio.diffusion.model_refs import refresh_models_table, unhashed_bytes

        try:
            pending = unhashed_bytes(self.graph, self.settings)
        except Exception as exc:
            self._log("warning", f"could not list the workflow's models: {exc}")
            return True
        if pending == 0:
            refresh_models_table(self.graph, self.settings)
            return True
        from .background import BackgroundJob

        graph, settings = self.graph, self.settings
        job = BackgroundJob(lambda progress, cancel: refresh_models_table(
            graph, settings, progress=lambda name, done, total: progress((name, done, total)), cancel=cancel), self)
        if not wait:
            job.succeeded.connect(lambda _: self._log("info", "model hashes recorded in the workflow"))
            job.failed.connect(lambda msg: self._log("warning", f"hashing models: {msg}"))
            self._hash_jobs.append(job.start())
            return True
        from PySide6.QtWidgets import QProgressDialog

        dlg = QProgressDialog("Recording the models this workflow uses (SHA-256, once per file)…", "Skip",
                              0, 1000, self)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(300)
        job.progress.connect(lambda p: dlg.setValue(int(1000 * p[1] / max(1, p[2]))))
        dlg.canceled.connect(job.cancel)
        job.start()
        while not job.wait(0.02):  # a local loop: the dialog paints and Skip works
            QApplication.processEvents()
        QApplication.processEvents()
        dlg.close()
        dlg.deleteLater()
        return True  # skipping only leaves the table without those hashes

    def show_model_manager(self) -> None:
        from .model_manager_window import ModelManagerWindow

        dlg = ModelManagerWindow(self.settings, self)
        dlg.settings_changed.connect(self._apply_settings)
        dlg.exec()

    def _apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.settings.save()
        self.services["settings"] = settings
        self.services["output_dir"] = str(settings.output_path)
        self.services.pop("models", None)  # the next run builds a model manager with the new choices

    # -- preferences ------------------------------------------------------------------------------
    def show_preferences(self) -> None:
        from .preferences import PreferencesDialog

        dlg = PreferencesDialog(self.settings, self)
        if dlg.exec():
            self._apply_settings(dlg.settings())
            self.show_message("Preferences saved")

    def _open_models_folder(self) -> None:
        from PySide6.QtCore import QUrl

        folder = self.settings.models_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def show_first_run_banner(self) -> None:
        models = self.settings.models_dir / "checkpoints"
        self.banner_text.setText(
            "<b>Welcome to Latent Studio.</b> This example needs no downloads: press <b>Run</b> "
            "(Ctrl+Enter) to find the edges of the sample picture. To generate images, put a Stable "
            f"Diffusion checkpoint (<code>.safetensors</code>) in <code>{models}</code>, or add your "
            "ComfyUI / A1111 models folder in Preferences.")
        self.banner.show()

    # -- autosave and closing -----------------------------------------------------------------------
    def autosave(self) -> None:
        if self._revision != self._autosaved_revision and self.modified:
            try:
                recovery.write(self.graph, str(self.path) if self.path else None)
                self._autosaved_revision = self._revision
            except OSError as exc:
                self.status_label.setText(f"Autosave failed: {exc}")

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
