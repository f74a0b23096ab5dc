"""Model and preference actions of the main window: missing models, hashes, the Model Manager,
Preferences and the first-run banner. A mixin of ``MainWindow``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QWidget

from studio.core.settings import Settings
from studio.core.types import DOWNLOAD_KINDS

from . import undo

if TYPE_CHECKING:
    from .window_host import WindowHost

DOWNLOADABLE: tuple[str, ...] = DOWNLOAD_KINDS


class ModelActions:
    def missing_downloads(self: WindowHost, node_id: str) -> list[tuple[str, str]]:
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
            if not file or kind not in DOWNLOADABLE:
                continue
            try:
                resolve(self.settings.model_roots, kind, str(file))
            except ModelError:
                entry = for_model(kind, str(file))
                if entry is not None:
                    out.append((entry.name, entry.title))
        return out

    def download_model(self: WindowHost, name: str) -> None:
        from .model_manager_window import ModelManagerWindow

        dlg = ModelManagerWindow(self.settings, cast(QWidget, self))
        dlg.settings_changed.connect(self.apply_settings)
        dlg.select_entry(name)
        dlg.downloads.download_entry(name)
        dlg.exec()

    # -- model references ---------------------------------------------------------------------------
    def resolve_models(self: WindowHost) -> None:
        """After opening: point nodes at renamed copies (found by SHA-256), offer substitutes or
        downloads for what is still missing."""
        from studio.diffusion.model_refs import resolve_missing

        try:
            res = resolve_missing(self.graph, self.settings, apply=False)
        except Exception as exc:  # a broken model folder must not stop a workflow from opening
            self.log("warning", f"could not check the workflow's models: {exc}")
            return
        if res.rewritten:
            group = undo.Macro("Use renamed models")
            for r in res.rewritten:
                old = self.graph.nodes[r.node_id].params.get(r.param)
                group.add(undo.SetParam(self.graph, r.node_id, r.param, old, r.new, True))
                self.log("info", r.line(), r.node_id)
            self.editor.stack.push(group)
        if res.missing:
            for m in res.missing:
                self.log("warning", m.line(), m.node_id)
            choices = self.ask_missing_models(res.missing)
            if choices:
                group = undo.Macro("Use substitute models")
                for (node_id, param), value in choices.items():
                    old = self.graph.nodes[node_id].params.get(param)
                    group.add(undo.SetParam(self.graph, node_id, param, old, value, True))
                self.editor.stack.push(group)

    def ask_missing_models(self: WindowHost, missing: list[Any]) -> dict[tuple[str, str], str]:
        from .missing_models import MissingModelsDialog

        dlg = MissingModelsDialog(missing, self.settings, cast(QWidget, self))
        return dlg.choices() if dlg.exec() else {}

    def refresh_models_table(self: WindowHost, *, wait: bool) -> bool:
        """Record the models the workflow uses (file, kind, family, size, SHA-256). Hashes are cached
        per file; hashing a new multi-GB file runs in the background (with progress when saving)."""
        from studio.diffusion.model_refs import refresh_models_table, unhashed_bytes

        try:
            pending = unhashed_bytes(self.graph, self.settings)
        except Exception as exc:
            self.log("warning", f"could not list the workflow's models: {exc}")
            return True
        if pending == 0:
            refresh_models_table(self.graph, self.settings)
            return True
        from .background import BackgroundJob

        graph, settings = self.graph, self.settings
        job = BackgroundJob(lambda progress, cancel: refresh_models_table(
            graph, settings, progress=lambda name, done, total: progress((name, done, total)), cancel=cancel),
            cast(QWidget, self))
        if not wait:
            job.succeeded.connect(lambda _: self.log("info", "model hashes recorded in the workflow"))
            job.failed.connect(lambda msg: self.log("warning", f"hashing models: {msg}"))
            self._hash_jobs.append(job.start())
            return True
        from PySide6.QtWidgets import QProgressDialog

        dlg = QProgressDialog("Recording the models this workflow uses (SHA-256, once per file)…", "Skip",
                              0, 1000, cast(QWidget, self))
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

    def show_model_manager(self: WindowHost) -> None:
        from .model_manager_window import ModelManagerWindow

        dlg = ModelManagerWindow(self.settings, cast(QWidget, self))
        dlg.settings_changed.connect(self.apply_settings)
        dlg.exec()

    # -- preferences ------------------------------------------------------------------------------
    def apply_settings(self: WindowHost, settings: Settings) -> None:
        """Saved, and used from the next queued run on (runs already queued keep theirs)."""
        try:
            settings.save()
        except OSError as exc:
            self.error_box("Cannot save preferences", str(exc))
        self.session.apply_settings(settings)

    def show_preferences(self: WindowHost, *, shortcuts_tab: bool = False) -> None:
        from .preferences import PreferencesDialog

        dlg = PreferencesDialog(self.settings, cast(QWidget, self), shortcuts=self.shortcuts)
        if shortcuts_tab:
            dlg.show_shortcuts()
        if dlg.exec():
            self.apply_settings(dlg.settings())
            self.shortcuts.apply(self.actions_by_id)
            self.show_message("Preferences saved: they apply to the next run")

    def _open_models_folder(self: WindowHost) -> None:
        folder = self.settings.models_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def show_first_run_banner(self: WindowHost) -> None:
        models = self.settings.models_dir / "checkpoints"
        self.banner_text.setText(
            "<b>Welcome to Latent Studio.</b> This example needs no downloads: press <b>Run</b> "
            "(Ctrl+Enter) to find the edges of the sample picture. To generate images, put a Stable "
            f"Diffusion checkpoint (<code>.safetensors</code>) in <code>{models}</code>, or add your "
            "ComfyUI / A1111 models folder in Preferences.")
        self.banner.show()
