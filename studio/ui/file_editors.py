"""Editors for FILE parameters: an image path with a thumbnail, or a model picked from the model folders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImageReader, QPixmap
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QLineEdit, QMessageBox, QToolButton, QWidget

from studio.core.nodetype import Input
from studio.core.types import MODEL_KINDS

from .editor_base import EditorContext, ParamEditor, guard_wheel, hbox

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
MODEL_FILTER = "Model weights (*.safetensors *.ckpt *.pt *.pth *.bin);;All files (*)"
THUMB = 44  # logical pixels


def model_kinds() -> tuple[str, ...]:
    return tuple(MODEL_KINDS)


_LIST_CACHE_SECONDS = 3.0  # selecting node after node must not walk the model folders each time
_list_cache: dict[tuple[tuple[str, ...], str], tuple[float, list[str]]] = {}


def list_model_names(roots: list[Path], kind: str, *, fresh: bool = False) -> list[str]:
    """Model names of ``kind`` under ``roots``; empty when the model layer is missing or fails."""
    key = (tuple(str(r) for r in roots), kind)
    hit = _list_cache.get(key)
    if hit is not None and not fresh and time.monotonic() - hit[0] < _LIST_CACHE_SECONDS:
        return hit[1]
    try:
        from studio.diffusion.model_folders import list_models

        names = list_models(roots, kind)
    except Exception:
        names = []
    _list_cache[key] = (time.monotonic(), names)
    return names


def pick_open_file(parent: QWidget, title: str, start: str, filters: str) -> str:
    """A native open-file dialog; returns "" when cancelled (tests replace this function)."""
    path, _ = QFileDialog.getOpenFileName(parent, title, start, filters)
    return path


def _browse_button(tooltip: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(qta.icon("mdi6.folder-open-outline"))
    button.setToolTip(tooltip)
    button.setAutoRaise(True)
    return button


class PathEditor(ParamEditor):
    """A path line edit with a browse button; accepts a file dropped from the desktop."""

    file_filter = "All files (*)"

    def __init__(self, inp: Input, context: EditorContext, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.context = context
        self.line = QLineEdit()
        self.line.setClearButtonEnabled(True)
        self.line.setPlaceholderText("no file" if inp.optional else "choose a file…")
        self.line.textEdited.connect(lambda _t: self._changed(final=False))
        self.line.editingFinished.connect(lambda: self._changed(final=True))
        self.browse = _browse_button("Choose a file…")
        self.browse.clicked.connect(self._browse)
        self.row = hbox(self)
        self.row.addWidget(self.line, 1)
        self.row.addWidget(self.browse)
        self.setAcceptDrops(True)

    def value(self) -> str | None:
        text = self.line.text().strip()
        if not text and self.input.optional and self.input.default is None:
            return None
        return text

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text != self.line.text():  # setText moves the cursor: skip echoes of what was typed
            self.line.setText(text)

    def _start_dir(self) -> str:
        current = self.resolve()
        if current is not None:
            return str(current.parent)
        dirs = self.context.image_dirs()
        return str(dirs[-1]) if dirs else ""

    def resolve(self) -> Path | None:
        """The existing file the current value names (relative names: in the search folders)."""
        text = self.line.text().strip()
        if not text:
            return None
        p = Path(text).expanduser()
        candidates = [p] if p.is_absolute() else [Path(d) / p for d in self.context.image_dirs()]
        return next((c for c in candidates if c.is_file()), None)

    def _browse(self) -> None:
        path = pick_open_file(self, f"Choose {self.input.display_name}", self._start_dir(), self.file_filter)
        if path:
            self.choose(path)

    def choose(self, path: str) -> None:
        """Take ``path`` as if the user had picked it."""
        self.line.setText(path)
        self._changed(final=True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.choose(event.mimeData().urls()[0].toLocalFile())
        event.acceptProposedAction()


class ImageFileEditor(PathEditor):
    """An image path with a small thumbnail of the chosen file."""

    file_filter = IMAGE_FILTER

    def __init__(self, inp: Input, context: EditorContext, parent: QWidget | None = None) -> None:
        super().__init__(inp, context, parent)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.row.insertWidget(0, self.thumb)
        self.browse.setToolTip("Choose an image…")
        self.line.editingFinished.connect(self._update_thumb)
        self._update_thumb()

    def _show(self, value: Any) -> None:
        super()._show(value)
        self._update_thumb()

    def choose(self, path: str) -> None:
        self.line.setText(path)
        self._update_thumb()
        self._changed(final=True)

    def has_thumbnail(self) -> bool:
        return bool(self.thumb.property("has_image"))

    def _update_thumb(self) -> None:
        path = self.resolve()
        pixmap = _load_thumbnail(path, self.devicePixelRatioF()) if path else None
        self.thumb.setProperty("has_image", pixmap is not None)
        if pixmap is None:
            icon = "mdi6.image-off-outline" if self.line.text().strip() else "mdi6.image-outline"
            color = self.palette().placeholderText().color()
            self.thumb.setPixmap(qta.icon(icon, color=color).pixmap(QSize(THUMB - 16, THUMB - 16)))
            self.thumb.setToolTip("file not found" if self.line.text().strip() else "no image chosen")
        else:
            self.thumb.setPixmap(pixmap)
            self.thumb.setToolTip(str(path))


def _load_thumbnail(path: Path, dpr: float) -> QPixmap | None:
    # Decode at thumbnail size: a 4K image must not stall the inspector.
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        return None
    side = round(THUMB * dpr)
    reader.setScaledSize(size.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return None
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


class _RefreshingCombo(QComboBox):
    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class ModelFileEditor(ParamEditor):
    """An editable combo box of the model files of one kind, plus a browse button for any file."""

    def __init__(self, inp: Input, context: EditorContext, parent: QWidget | None = None) -> None:
        super().__init__(inp, parent)
        self.context = context
        self.kind = inp.file_kind or "checkpoints"
        self.combo = _RefreshingCombo()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        line = self.combo.lineEdit()
        assert line is not None  # the combo is editable
        line.setPlaceholderText(f"choose a {self.kind} file…")
        self.combo.about_to_show.connect(lambda: self.refresh(fresh=True))
        self.combo.activated.connect(lambda _i: self._changed(final=True))
        line.textEdited.connect(lambda _t: self._changed(final=False))
        line.editingFinished.connect(lambda: self._changed(final=True))
        guard_wheel(self.combo)
        self.browse = _browse_button(f"Choose a {self.kind} file from anywhere…")
        self.browse.clicked.connect(self._browse)
        row = hbox(self)
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)
        self.refresh()

    def names(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(self.combo.count())]

    def refresh(self, *, fresh: bool = False) -> None:
        """Re-list the model files (re-reading the folders if ``fresh``), keeping the current text."""
        text = self.combo.currentText()
        quiet, self._quiet = self._quiet, True
        try:
            self.combo.clear()
            names = list_model_names(self.context.roots(), self.kind, fresh=fresh)
            self.combo.addItems(names)
            self.combo.setToolTip(self.input.tooltip or (
                f"{len(names)} {self.kind} file(s) in the model folders" if names
                else f"No {self.kind} files found: add model folders in Preferences, or browse."))
            self.combo.setCurrentText(text)
        finally:
            self._quiet = quiet

    def value(self) -> str | None:
        text = self.combo.currentText().strip()
        if not text and self.input.optional and self.input.default is None:
            return None
        return text

    def _show(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if text == self.combo.currentText():
            return
        index = self.combo.findText(text)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        self.combo.setCurrentText(text)

    def _browse(self) -> None:
        roots = self.context.roots()
        path = pick_open_file(self, f"Choose {self.input.display_name}", str(roots[0]) if roots else "",
                              MODEL_FILTER)
        if path:
            self.choose(Path(path))

    def choose(self, path: Path) -> None:
        """Use a model file picked anywhere. Workflows name models by their place inside the model
        folders (so they travel), so a file from elsewhere is linked into the kind's folder first."""
        name = self._name_in_folders(path) or self._link_in(path)
        if name:
            self.combo.setCurrentText(name)
            self._changed(final=True)

    def _name_in_folders(self, path: Path) -> str | None:
        from studio.diffusion.model_folders import kind_dirs

        real = path.resolve()
        for folder in kind_dirs(self.context.roots(), self.kind):
            if real.is_relative_to(folder.resolve()):
                return real.relative_to(folder.resolve()).as_posix()
        return None

    def _link_in(self, path: Path) -> str | None:
        from studio.diffusion.model_folders import SUBFOLDERS

        roots = self.context.roots()
        if not roots:
            return None
        dest = Path(roots[0]) / SUBFOLDERS[self.kind][0] / path.name
        if not self.confirm_link(path, dest):
            return None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not (dest.exists() and dest.resolve() == path.resolve()):
                dest.symlink_to(path.resolve())
        except OSError as exc:
            QMessageBox.warning(self, "Cannot use this file", f"Could not link {path} into {dest.parent}: "
                                f"{exc.strerror or exc}. Move the file there, or add its models folder in "
                                "Preferences.")
            return None
        return dest.name

    def confirm_link(self, path: Path, dest: Path) -> bool:
        answer = QMessageBox.question(
            self, "Use a model from another folder",
            f"{path.name} is not in your {self.kind} folders. Workflows name models by their place in "
            f"those folders.\n\nLink it into {dest.parent}? Nothing is copied.")
        return answer == QMessageBox.StandardButton.Yes


def make_file_editor(inp: Input, context: EditorContext, parent: QWidget | None = None) -> ParamEditor:
    kind = inp.file_kind or inp.widget or ""
    if kind == "image":
        return ImageFileEditor(inp, context, parent)
    if kind in model_kinds():
        return ModelFileEditor(inp, context, parent)
    return PathEditor(inp, context, parent)
