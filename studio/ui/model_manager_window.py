"""Model Manager: what is installed (per kind, with family, size and hash), which folders are
searched, and verified, resumable downloads of the standard models or of any URL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import Settings
from studio.diffusion.model_folders import KINDS, detect_tree, scan

from . import theme
from .background import BackgroundJob


def _size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


class DownloadPanel(QWidget):
    """One download at a time, with progress, speed, cancel and resume (the .part file stays)."""

    downloaded = Signal(str)  # what was installed

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.job: BackgroundJob | None = None
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton(theme.icon("mdi6.stop"), "Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.status, 2)

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def start(self, title: str, work: Any) -> bool:
        if self.busy:
            self.status.setText("A download is already running.")
            return False
        self.bar.setValue(0)
        self.status.setText(f"Downloading {title}…")
        self.cancel_button.setEnabled(True)
        job = BackgroundJob(work, self)
        job.progress.connect(self._on_progress)
        job.succeeded.connect(lambda _: self._done(title, None))
        job.failed.connect(lambda msg: self._done(title, msg))
        self.job = job.start()
        return True

    def _on_progress(self, p: Any) -> None:
        fraction = getattr(p, "fraction", None)
        if fraction is not None:
            self.bar.setValue(int(fraction * 1000))
        total = f" of {_size(p.total)}" if getattr(p, "total", None) else ""
        self.status.setText(f"{p.name}: {_size(p.done)}{total} at {_size(int(p.speed))}/s")

    def _done(self, title: str, error: str | None) -> None:
        self.cancel_button.setEnabled(False)
        if error is None:
            self.bar.setValue(1000)
            self.status.setText(f"Installed {title}.")
            self.downloaded.emit(title)
        else:
            self.status.setText(f"{title}: {error}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling… (the partial file is kept: Download again resumes)")

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10)

    # -- what can be downloaded -------------------------------------------------------------------
    def download_entry(self, name: str) -> bool:
        from studio.diffusion.catalogue import download_entry, find

        entry = find(name)
        if entry is None:
            self.status.setText(f"{name} is not in the catalogue")
            return False
        return self.start(entry.title, lambda progress, cancel: download_entry(entry, self.settings, progress, cancel))

    def download_url(self, text: str, kind: str, sha256: str | None = None) -> bool:
        """A URL, or a Hugging Face ``owner/repo/path/to/file``."""
        from studio.diffusion.downloads import DownloadError, download, hf_url, url_file_name
        from studio.diffusion.model_folders import SUBFOLDERS, model_suffixes

        text = text.strip()
        if not text:
            return False
        if "://" in text:
            url = text
        else:
            parts = text.split("/")
            if len(parts) < 3:
                self.status.setText("Give a URL or owner/repo/file")
                return False
            url = hf_url("/".join(parts[:2]), "/".join(parts[2:]))
        try:  # the same rules as the command line: a decoded, plain file name with a model suffix
            name = url_file_name(url)
        except DownloadError as exc:
            self.status.setText(str(exc))
            return False
        if not name.lower().endswith(model_suffixes(kind)):
            self.status.setText(f"{name} does not look like a {kind} file ({', '.join(model_suffixes(kind))})")
            return False
        dest = self.settings.models_dir / SUBFOLDERS[kind][0] / name
        return self.start(name, lambda progress, cancel: download(url, dest, sha256=sha256 or None,
                                                                  progress=progress, cancel=cancel))


class ModelManagerWindow(QDialog):
    settings_changed = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model Manager")
        self.resize(980, 620)
        self.settings = settings
        self.hash_job: BackgroundJob | None = None
        tabs = QTabWidget()
        tabs.addTab(self._installed_tab(), theme.icon("mdi6.database-outline"), "Installed")
        tabs.addTab(self._folders_tab(), theme.icon("mdi6.folder-multiple-outline"), "Folders")
        tabs.addTab(self._download_tab(), theme.icon("mdi6.download-outline"), "Download")
        self.tabs = tabs
        col = QVBoxLayout(self)
        col.addWidget(tabs)
        self.refresh()

    # -- installed --------------------------------------------------------------------------------
    def _installed_tab(self) -> QWidget:
        w = QWidget()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Family", "Size", "SHA-256", "Folder"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.hash_button = QPushButton(theme.icon("mdi6.pound"), "Compute missing hashes")
        self.hash_button.clicked.connect(self.compute_hashes)
        refresh = QPushButton(theme.icon("mdi6.refresh"), "Refresh")
        refresh.clicked.connect(self.refresh)
        self.hash_status = QLabel("")
        row = QHBoxLayout()
        row.addWidget(refresh)
        row.addWidget(self.hash_button)
        row.addWidget(self.hash_status, 1)
        col = QVBoxLayout(w)
        col.addWidget(self.tree)
        col.addLayout(row)
        return w

    def refresh(self) -> None:
        from studio.diffusion.model_hash import default_cache

        cache = default_cache()
        self.tree.clear()
        self.entries = scan(self.settings.model_roots)
        by_kind: dict[str, list[Any]] = {k: [] for k in KINDS}
        for e in self.entries:
            by_kind.setdefault(e.kind, []).append(e)
        for kind, entries in by_kind.items():
            top = QTreeWidgetItem([f"{kind} ({len(entries)})"])
            top.setFirstColumnSpanned(True)
            self.tree.addTopLevelItem(top)
            for e in entries:
                sha = cache.get(e.path) if e.format != "folder" else None
                state = sha[:12] + "…" if sha else ("folder" if e.format == "folder" else "not hashed")
                item = QTreeWidgetItem([e.name, e.family or ("?" if not e.problem else "⚠"), _size(e.size), state,
                                        str(e.path.parent)])
                if e.problem:
                    item.setToolTip(0, e.problem)
                top.addChild(item)
            top.setExpanded(bool(entries))
        self._fill_catalogue()

    def unhashed(self) -> list[Path]:
        from studio.diffusion.model_hash import default_cache

        cache = default_cache()
        return [e.path for e in self.entries if e.format not in ("folder",) and e.path.is_file()
                and cache.get(e.path) is None]

    def compute_hashes(self) -> None:
        from studio.diffusion.model_hash import file_hash

        todo = self.unhashed()
        if not todo or (self.hash_job is not None and self.hash_job.running):
            return

        def work(progress: Any, cancel: Any) -> int:
            for i, path in enumerate(todo):
                progress(f"hashing {path.name} ({i + 1}/{len(todo)})")
                file_hash(path, cancel=cancel)
            return len(todo)

        self.hash_button.setEnabled(False)
        job = BackgroundJob(work, self)
        job.progress.connect(self.hash_status.setText)

        def finished() -> None:
            self.hash_button.setEnabled(True)
            self.refresh()

        job.finished.connect(finished)
        job.failed.connect(self.hash_status.setText)
        self.hash_job = job.start()

    # -- folders ----------------------------------------------------------------------------------
    def _folders_tab(self) -> QWidget:
        w = QWidget()
        self.roots = QListWidget()
        add = QPushButton(theme.icon("mdi6.folder-plus-outline"), "Add a model folder…")
        add.clicked.connect(self._browse_root)
        remove = QPushButton(theme.icon("mdi6.folder-remove-outline"), "Remove")
        remove.clicked.connect(self._remove_root)
        hint = QLabel("Add an existing ComfyUI, A1111 or InvokeAI folder: its models are used where they are.")
        hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        col = QVBoxLayout(w)
        col.addWidget(hint)
        col.addWidget(self.roots)
        col.addLayout(row)
        self._fill_roots()
        return w

    def _fill_roots(self) -> None:
        self.roots.clear()
        self.roots.addItem(f"{self.settings.models_dir}   (main models folder)")
        for r in self.settings.extra_model_roots:
            kind = detect_tree(r) or "no model folders found"
            self.roots.addItem(f"{r}   ({kind})")

    def add_root(self, path: str) -> str | None:
        """Add an extra root; returns the kind of tree found there."""
        if path and path not in self.settings.extra_model_roots:
            self.settings = replace(self.settings, extra_model_roots=[*self.settings.extra_model_roots, path])
            self.settings_changed.emit(self.settings)
        self._fill_roots()
        self.refresh()
        return detect_tree(path)

    def _browse_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder (ComfyUI, A1111, InvokeAI or plain)")
        if path:
            self.add_root(path)

    def _remove_root(self) -> None:
        row = self.roots.currentRow()
        if row >= 1:
            roots = list(self.settings.extra_model_roots)
            del roots[row - 1]
            self.settings = replace(self.settings, extra_model_roots=roots)
            self.settings_changed.emit(self.settings)
            self._fill_roots()
            self.refresh()

    # -- downloads --------------------------------------------------------------------------------
    def _download_tab(self) -> QWidget:
        w = QWidget()
        self.catalogue = QTreeWidget()
        self.catalogue.setHeaderLabels(["Model", "Kind", "Family", "Size", "Licence", "Status"])
        self.catalogue.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.catalogue.itemDoubleClicked.connect(lambda item, _c: self._download_selected())
        get = QPushButton(theme.icon("mdi6.download"), "Download selected")
        get.clicked.connect(self._download_selected)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://… or owner/repo/file.safetensors (Hugging Face)")
        self.url_kind = QComboBox()
        self.url_kind.addItems([k for k in KINDS if k != "annotators"])
        self.url_sha = QLineEdit()
        self.url_sha.setPlaceholderText("expected SHA-256 (optional)")
        get_url = QPushButton(theme.icon("mdi6.download"), "Download")
        get_url.clicked.connect(lambda: self.downloads.download_url(self.url.text(), self.url_kind.currentText(),
                                                                    self.url_sha.text().strip() or None))
        self.downloads: DownloadPanel = DownloadPanel(self.settings)
        self.downloads.downloaded.connect(lambda _: self.refresh())
        url_row = QHBoxLayout()
        url_row.addWidget(self.url, 3)
        url_row.addWidget(self.url_kind)
        url_row.addWidget(self.url_sha, 2)
        url_row.addWidget(get_url)
        col = QVBoxLayout(w)
        col.addWidget(self.catalogue)
        col.addWidget(get, alignment=Qt.AlignmentFlag.AlignRight)
        col.addLayout(url_row)
        col.addWidget(self.downloads)
        return w

    def _fill_catalogue(self) -> None:
        from studio.diffusion.catalogue import load_catalogue

        self.catalogue.clear()
        for e in load_catalogue():
            status = "installed" if e.is_installed(self.settings) else ""
            item = QTreeWidgetItem([e.title, e.kind, e.family or "", _size(e.size), e.licence, status])
            item.setData(0, Qt.ItemDataRole.UserRole, e.name)
            item.setToolTip(0, e.url)
            self.catalogue.addTopLevelItem(item)

    def select_entry(self, name: str) -> None:
        for i in range(self.catalogue.topLevelItemCount()):
            item = self.catalogue.topLevelItem(i)
            assert item is not None  # i < topLevelItemCount()
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                self.catalogue.setCurrentItem(item)
                self.tabs.setCurrentIndex(2)

    def _download_selected(self) -> None:
        item = self.catalogue.currentItem()
        if item is not None:
            self.downloads.download_entry(item.data(0, Qt.ItemDataRole.UserRole))

    def done(self, result: int) -> None:  # closing: stop background work first
        self.downloads.shutdown()
        if self.hash_job is not None:
            self.hash_job.cancel()
            self.hash_job.wait(10)
        super().done(result)
