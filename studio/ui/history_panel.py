"""The history panel: thumbnails of every result of the finished jobs, newest first.

Double-click opens a result full size; the context menu opens the workflow that made it, reveals
its file, or compares it with another result (Ctrl+click two results, then Compare). Items are kept
per (job id, result index) and built once, so ``refresh`` only adds and drops what changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.app.queue import Job, JobState, Result

from . import compare_view, theme
from .compare_view import CompareView, result_image
from .preview_pane import PreviewPane, to_display_array, to_qimage

THUMB = 112
Key = tuple[int, int]  # (job id, index of the result in job.results)
KEY_ROLE = Qt.ItemDataRole.UserRole
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def open_url(url: QUrl) -> bool:
    """The desktop's file manager / viewer (a seam that tests replace)."""
    return QDesktopServices.openUrl(url)


def thumbnail_array(result: Result, size: int = THUMB) -> np.ndarray | None:
    """A small uint8 image of a result: the preview the job kept, else its file read in a bounded way."""
    if result.image is not None:
        try:
            return to_display_array(result.image)
        except ValueError:
            return None
    if not result.path:
        return None
    from PIL import Image

    try:
        with Image.open(result.path) as im:
            if im.width * im.height > compare_view.MAX_FULL_PIXELS:
                return None
            im.draft("RGB", (size, size))  # JPEGs decode at a reduced scale
            rgb = im.convert("RGB")
            rgb.thumbnail((size, size))
            return np.asarray(rgb)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def result_name(job: Job, result: Result) -> str:
    return Path(result.path).name if result.path else f"{result.title} (job {job.id})"


def result_caption(job: Job, result: Result) -> str:
    return f"{result_name(job, result)} · job {job.id}" + (f" · {job.label}" if job.label else "")


class ImageDialog(QDialog):
    """One result full size: scaled to fit, zoomable, with its file name and job label."""

    def __init__(self, image: np.ndarray, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(caption)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.pane = PreviewPane()
        self.pane.show_array(image, caption)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self.pane)
        self.resize(900, 720)


class CompareDialog(QDialog):
    def __init__(self, a: np.ndarray, b: np.ndarray, caption_a: str, caption_b: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare: {caption_a} ↔ {caption_b}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.view = CompareView()
        self.view.set_images(a, b, caption_a, caption_b)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self.view)
        self.resize(1000, 720)


class HistoryPanel(QWidget):
    open_workflow = Signal(str, str)  # the workflow text a job ran, a display name

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 16, THUMB + 28))
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu_at)
        self.list.itemDoubleClicked.connect(self.show_full)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.count_label = QLabel()
        self.count_label.setContentsMargins(4, 0, 4, 0)
        self.compare_button = QPushButton(theme.icon("mdi6.compare-horizontal"), "Compare")
        self.compare_button.setToolTip("Compare two results with a slider (Ctrl+click to select two)")
        self.compare_button.clicked.connect(self.compare_selected)
        row = QHBoxLayout()
        row.addWidget(self.count_label, 1)
        row.addWidget(self.compare_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addWidget(self.list, 1)
        col.addLayout(row)
        self._items: dict[Key, QListWidgetItem] = {}
        self._entries: dict[Key, tuple[Job, Result]] = {}
        self._order: list[Key] = []
        self._file_icon = theme.icon("mdi6.file-image-outline", theme.TEXT_DIM)
        self.dialogs: list[QDialog] = []  # open viewers, kept alive until they close
        self.refresh()

    # -- contents ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        wanted: list[Key] = []
        jobs: dict[int, Job] = {}
        for job in reversed(self.session.queue.history()):
            jobs[job.id] = job
            wanted += [(job.id, i) for i in range(len(job.results))]
        if wanted == self._order:
            return
        keep = set(wanted)
        for key in [k for k in self._items if k not in keep]:
            self.list.takeItem(self.list.row(self._items.pop(key)))
            self._entries.pop(key, None)
        for row, key in enumerate(wanted):
            item = self._items.get(key)
            if item is None:
                job = jobs[key[0]]
                item = self._new_item(job, key[1])
                self._items[key], self._entries[key] = item, (job, job.results[key[1]])
                self.list.insertItem(row, item)
            elif self.list.row(item) != row:
                self.list.insertItem(row, self.list.takeItem(self.list.row(item)))
        self._order = wanted
        n = len(wanted)
        self.count_label.setText(f"{n} result{'s' if n != 1 else ''}" if n else "No results yet.")
        self._selection_changed()

    def _new_item(self, job: Job, index: int) -> QListWidgetItem:
        result = job.results[index]
        item = QListWidgetItem(job.label or f"job {job.id}")
        thumb = thumbnail_array(result)
        if thumb is not None:
            pixmap = QPixmap.fromImage(to_qimage(thumb))
            item.setIcon(QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)))
        else:
            item.setIcon(self._file_icon)
        item.setData(KEY_ROLE, (job.id, index))
        state = "" if job.state is JobState.DONE else f" ({job.state.value})"
        tip = [f"{result.title} · job {job.id}{state}", job.label, result.path or "not saved to a file"]
        item.setToolTip("\n".join(t for t in tip if t))
        item.setSizeHint(QSize(THUMB + 12, THUMB + 24))
        return item

    def entry(self, item: QListWidgetItem) -> tuple[Job, Result]:
        job_id, index = item.data(KEY_ROLE)
        return self._entries[(job_id, index)]

    def items(self) -> list[QListWidgetItem]:
        """The thumbnails in display order (newest job first)."""
        return [self.list.item(i) for i in range(self.list.count())]

    def _selection_changed(self) -> None:
        selected = self.list.selectedItems()
        self.compare_button.setEnabled(len(selected) == 2 and all(self._has_image(i) for i in selected))

    def _has_image(self, item: QListWidgetItem) -> bool:
        job, result = self.entry(item)
        if result.image is not None:
            return True
        return bool(result.path) and Path(result.path or "").suffix.lower() in IMAGE_SUFFIXES

    # -- actions ----------------------------------------------------------------------------------
    def _keep(self, dialog: QDialog) -> QDialog:
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _=0, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        dialog.show()
        return dialog

    def show_full(self, item: QListWidgetItem) -> ImageDialog | None:
        job, result = self.entry(item)
        image = result_image(result)
        if image is None:
            return None
        dialog = ImageDialog(image, result_caption(job, result), self)
        self._keep(dialog)
        return dialog

    def compare(self, item_a: QListWidgetItem, item_b: QListWidgetItem) -> CompareDialog | None:
        (job_a, a), (job_b, b) = self.entry(item_a), self.entry(item_b)
        image_a, image_b = result_image(a), result_image(b)
        if image_a is None or image_b is None:
            return None
        dialog = CompareDialog(image_a, image_b, result_caption(job_a, a), result_caption(job_b, b), self)
        self._keep(dialog)
        return dialog

    def compare_selected(self) -> CompareDialog | None:
        """Compare the two selected results; the one shown first (newer) is B, the older one A."""
        selected = sorted(self.list.selectedItems(), key=self.list.row, reverse=True)
        if len(selected) != 2:
            return None
        return self.compare(selected[0], selected[1])

    def open_workflow_of(self, item: QListWidgetItem) -> None:
        job, result = self.entry(item)
        name = Path(result.path).stem if result.path else f"job {job.id}"
        self.open_workflow.emit(job.workflow_text, name)

    def reveal(self, item: QListWidgetItem) -> bool:
        _job, result = self.entry(item)
        if not result.path:
            return False
        return open_url(QUrl.fromLocalFile(str(Path(result.path).absolute().parent)))

    # -- the context menu -------------------------------------------------------------------------
    def context_menu(self, item: QListWidgetItem) -> QMenu:
        """The actions for one result (built without showing, so it can be inspected)."""
        _job, result = self.entry(item)
        menu = QMenu(self)
        full = menu.addAction(theme.icon("mdi6.image-outline"), "Show full size", lambda: self.show_full(item))
        full.setEnabled(self._has_image(item))
        menu.addAction(theme.icon("mdi6.graph-outline"), "Open the workflow that made this",
                       lambda: self.open_workflow_of(item))
        reveal = menu.addAction(theme.icon("mdi6.folder-open-outline"), "Reveal the file", lambda: self.reveal(item))
        reveal.setEnabled(bool(result.path))
        if not result.path:
            reveal.setToolTip("This result was not saved to a file")
        others = [i for i in self.list.selectedItems() if i is not item]
        if len(others) == 1:
            other_job, other = self.entry(others[0])
            compare = menu.addAction(theme.icon("mdi6.compare-horizontal"),
                                     f"Compare with {result_name(other_job, other)}",
                                     lambda: self.compare(others[0], item))
            compare.setEnabled(self._has_image(item) and self._has_image(others[0]))
        else:
            compare = menu.addAction(theme.icon("mdi6.compare-horizontal"), "Compare with… (Ctrl+click another)")
            compare.setEnabled(False)
        menu.setToolTipsVisible(True)
        return menu

    def _context_menu_at(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = self.context_menu(item)
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()
