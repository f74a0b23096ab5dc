"""File actions of the main window: new, open, save, recent files, drops, autosave.

A mixin of ``MainWindow``: the document itself (graph, path, dirty state) lives in the Qt-free
``Session``; this is the dialogs and messages around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QPointF, QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.core.graph import Node, new_id
from studio.core.pngmeta import WORKFLOW_KEY, PngMetadataError, is_png, read_text_chunks
from studio.core.settings import config_dir
from studio.core.workflow import WorkflowError

from . import recovery, undo

if TYPE_CHECKING:
    from .window_host import WindowHost

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
MAX_RECENT = 10


def ui_settings() -> QSettings:
    return QSettings(str(config_dir() / "ui.ini"), QSettings.Format.IniFormat)


class DocumentActions:
    # -- asking ---------------------------------------------------------------------------------
    def confirm_discard(self: WindowHost) -> bool:
        """Ask before replacing unsaved work. Returns True when it is fine to go on."""
        if not self.modified:
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def ask_save_changes(self: WindowHost) -> str:
        name = self.path.name if self.path else "this workflow"
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes", f"Save the changes to {name}?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, cast(QWidget, self))
        result = box.exec()
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(result), "cancel")

    # -- opening ----------------------------------------------------------------------------------
    def new_workflow(self: WindowHost) -> None:
        if self.confirm_discard():
            self.session.new()
            self.set_graph(self.session.graph, None)

    def open_dialog(self: WindowHost) -> None:
        if not self.confirm_discard():
            return
        folder = cast(str, ui_settings().value("folders/open", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(
            cast(QWidget, self), "Open workflow", folder,
            "Workflows and images (*.json *.png *.webp *.jpg *.jpeg *.txt);;"
            "ComfyUI / A1111 (*.json *.png *.webp *.jpg *.jpeg *.txt);;All files (*)")
        if path:
            self.open_file(Path(path), ask=False)

    def open_file(self: WindowHost, path: Path, *, ask: bool = True) -> bool:
        if ask and not self.confirm_discard():
            return False
        try:
            report = self.session.open(path)
        except WorkflowError as exc:
            self.error_box("Cannot open workflow", str(exc))
            return False
        # A PNG, an import or a shipped example opens as a new, unsaved document.
        self.set_graph(self.session.graph, self.session.path, clean=report is None)
        if report is not None:
            self.log("info", f"imported {path.name}: {len(report.lines)} note(s)")
            for line in report.lines:
                self.log("warning" if line.startswith(("unmapped", "approximated")) else "info", line)
        self.resolve_models()
        graph = self.graph
        placeholders = [n for n in graph.nodes.values() if graph.node_type(n) is None]
        if placeholders:
            names = ", ".join(sorted({n.type_id for n in placeholders}))
            self.log("warning", f"{len(placeholders)} node(s) of unknown types kept as placeholders: {names}")
        if self.session.template is None:
            self._remember(path)
        if self.session.template is not None:
            self.show_message(f"Opened the example {path.name}: Save asks where to keep your copy")
        else:
            self.show_message(f"Opened {path.name}")
        return True

    def open_workflow_text(self: WindowHost, text: str, name: str) -> None:
        """Open a workflow given as text (from the history) as a new, unsaved document."""
        from studio.core.workflow import loads

        if not self.confirm_discard():
            return
        try:
            graph = loads(text, self.registry)
        except WorkflowError as exc:
            self.error_box("Cannot open workflow", str(exc))
            return
        self.session.set_graph(graph, None, dirty=True)
        self.set_graph(graph, None, clean=False)
        self.show_message(f"Opened the workflow of {name}")

    # -- saving -----------------------------------------------------------------------------------
    def save(self: WindowHost) -> bool:
        if self.path is None:
            return self.save_as()
        return self._save_to(self.path)

    def save_as(self: WindowHost) -> bool:
        folder = cast(str, ui_settings().value("folders/save", str(Path.home())))
        suggested = str(Path(folder) / (self.path.name if self.path else "workflow.json"))
        path, _ = QFileDialog.getSaveFileName(cast(QWidget, self), "Save workflow", suggested,
                                              "Workflows (*.json)")
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".json"
        return self._save_to(Path(path))

    def _save_to(self: WindowHost, path: Path) -> bool:
        if not self.refresh_models_table(wait=True):
            return False
        try:
            self.session.save(path)
        except (OSError, ValueError) as exc:
            self.error_box("Cannot save", f"{path}: {exc}")
            return False
        self._opened_dirty = False
        self.editor.stack.setClean()
        self._remember(path)
        ui_settings().setValue("folders/save", str(path.parent))
        self._update_title()
        self.show_message(f"Saved {path}")
        return True

    # -- recent files and drops -------------------------------------------------------------------
    def _remember(self: WindowHost, path: Path) -> None:
        s = ui_settings()
        recent = [p for p in cast("list[str] | str", s.value("recent", []) or []) if p != str(path)]
        s.setValue("recent", [str(path), *recent][:MAX_RECENT])
        s.setValue("folders/open", str(path.parent))

    def recent_files(self: WindowHost) -> list[str]:
        value = cast("list[str] | str", ui_settings().value("recent", []) or [])
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent_menu(self: WindowHost) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_file(Path(p)))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def drop_files(self: WindowHost, paths: list[str], scene_pos: QPointF) -> None:
        x, y = scene_pos.x(), scene_pos.y()
        for p in map(Path, paths):
            suffix = p.suffix.lower()
            if suffix in (".json", ".txt") or _image_has_workflow(p):
                self.open_file(p)
                return
            if suffix in IMAGE_SUFFIXES:
                nt = self.registry["image.load"]
                node = Node(new_id(), nt.id, nt.version, {**nt.default_params(), "image": str(p)}, (x, y))
                self.editor.stack.push(undo.AddNode(self.graph, node, f"Add image {p.name}"))
                y += 180
            else:
                self.show_message(f"Cannot use {p.name}: not an image or a workflow")

    # -- autosave -----------------------------------------------------------------------------------
    def autosave(self: WindowHost) -> None:
        if self._revision != self._autosaved_revision and self.modified:
            try:
                recovery.write(self.graph, str(self.path) if self.path else None)
                self._autosaved_revision = self._revision
            except OSError as exc:
                self.status_label.setText(f"Autosave failed: {exc}")


def _image_has_workflow(path: Path) -> bool:
    """A PNG, WebP or JPEG carrying ours, a ComfyUI workflow / prompt, or A1111 parameters: all open
    as workflows (other images become Load Image nodes)."""
    from studio.compat.image_meta import ImageMetadataError, image_kind, read_image_texts

    try:
        if is_png(path):
            texts = read_text_chunks(path)
        elif image_kind(path):
            texts = read_image_texts(path)
        else:
            return False
    except (PngMetadataError, ImageMetadataError):
        return False
    return any(k in texts for k in (WORKFLOW_KEY, "workflow", "prompt", "parameters"))

