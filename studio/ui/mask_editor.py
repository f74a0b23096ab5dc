"""Painting an inpainting mask over an image, and keeping it with a Load Image node.

The mask lives in an 8-bit grey ``QImage`` at the image's resolution (255 = repaint). Strokes are
drawn into it with ``QPainter``: the brush with the *lighten* composition and the eraser with *darken*,
so within a stroke the mask becomes the maximum (minimum) of what was there and the brush, and soft
dabs never pile up into a harder line. A red ``QImage`` overlay is refreshed only where the mask
changed, so painting stays smooth on a 2048² image.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QAction,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from nodes.image import load_mask, read_image, save_mask
from studio.core.atomic import atomic_write_bytes
from studio.core.context import NodeFailure, resolve_file
from studio.core.imaging import to_uint8

from . import theme
from .mask_canvas import MAX_BRUSH, MaskCanvas, rgb_u8

if TYPE_CHECKING:
    from .main_window import MainWindow

LOAD_IMAGE = "image.load"

__all__ = ["MaskCanvas", "MaskEditor", "edit_mask_for_node", "load_mask", "mask_folder", "safe_stem",
           "save_mask", "save_new_mask"]


class MaskEditor(QDialog):
    """Paint a mask over ``image`` (uint8, or float in [0, 1], (H, W, 3)); ``mask`` (H, W) in [0, 1]
    is where to start (1 = the area to repaint). ``mask()`` gives the result."""

    def __init__(self, image: np.ndarray, mask: np.ndarray | None = None, parent: QWidget | None = None,
                 title: str = "Edit mask") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.canvas = MaskCanvas(image, mask, self)
        size = self.canvas.image_size()
        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._build_tools()
        hint = QLabel(f"{size.width()}×{size.height()} · B brush · E eraser · [ ] size · wheel: zoom · "
                      "middle-drag or Space+drag: pan · Ctrl+0: fit · red = repaint")
        hint.setStyleSheet("color: palette(placeholder-text);")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        for b in buttons.buttons():
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space pans; it must not press a button
        bottom = QHBoxLayout()
        bottom.addWidget(hint, 1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bottom)
        self._initial_size()
        self.canvas.setFocus()

    def _initial_size(self) -> None:
        width, height = 1120, 820
        screen = self.screen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, int(area.width() * 0.92)), min(height, int(area.height() * 0.92))
        self.resize(width, height)

    def _action(self, text: str, icon: str, keys: list[str], slot: Any, tip: str = "") -> QAction:
        act = QAction(theme.icon(icon), text, self)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shown = f" ({keys[0]})" if keys else ""
        act.setToolTip(f"{tip or text}{shown}")
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_tools(self) -> None:
        c, tb = self.canvas, self.toolbar
        self.act_brush = self._action("Brush", "mdi6.brush", ["B"], lambda: c.set_tool("brush"),
                                      "Paint the area to repaint")
        self.act_eraser = self._action("Eraser", "mdi6.eraser", ["E"], lambda: c.set_tool("eraser"),
                                       "Erase the mask")
        for act in (self.act_brush, self.act_eraser):
            act.setCheckable(True)
            tb.addAction(act)
        self.act_brush.setChecked(True)
        c.tool_changed.connect(self._tool_changed)
        tb.addSeparator()
        tb.addWidget(QLabel(" Size "))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, MAX_BRUSH)
        self.size_slider.setFixedWidth(150)
        self.size_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter in image pixels ([ and ])")
        for w in (self.size_slider, self.size_spin):
            w.setValue(round(c.brush_size))
            w.valueChanged.connect(lambda v: c.set_size(v))
            tb.addWidget(w)
        self.size_spin.editingFinished.connect(c.setFocus)
        c.size_changed.connect(self._size_changed)
        tb.addWidget(QLabel("  Hardness "))
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setValue(round(c.hardness * 100))
        self.hardness_slider.setFixedWidth(100)
        self.hardness_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hardness_slider.setToolTip("0: a soft, feathered edge · 100: a hard edge")
        self.hardness_label = QLabel(f"{self.hardness_slider.value()}% ")
        self.hardness_label.setMinimumWidth(40)
        self.hardness_slider.valueChanged.connect(self._hardness_changed)
        tb.addWidget(self.hardness_slider)
        tb.addWidget(self.hardness_label)
        tb.addSeparator()
        self.act_fill = self._action("Fill", "mdi6.format-color-fill", [], c.fill, "Mask the whole image")
        self.act_invert = self._action("Invert", "mdi6.invert-colors", ["Ctrl+I"], c.invert, "Swap masked and kept")
        self.act_clear = self._action("Clear", "mdi6.eraser-variant", ["Ctrl+Backspace"], c.clear, "Clear the mask")
        for act in (self.act_fill, self.act_invert, self.act_clear):
            tb.addAction(act)
        tb.addSeparator()
        self.act_undo = self._action("Undo", "mdi6.undo", ["Ctrl+Z"], c.undo)
        self.act_redo = self._action("Redo", "mdi6.redo", ["Ctrl+Shift+Z", "Ctrl+Y"], c.redo)
        self.act_undo.setEnabled(False)
        self.act_redo.setEnabled(False)
        c.stack.canUndoChanged.connect(self.act_undo.setEnabled)
        c.stack.canRedoChanged.connect(self.act_redo.setEnabled)
        self.act_fit = self._action("Fit", "mdi6.fit-to-screen-outline", ["Ctrl+0"], c.fit, "Show the whole image")
        for act in (self.act_undo, self.act_redo, self.act_fit):
            act.setPriority(QAction.Priority.LowPriority)  # icon only: their tooltips say what they do
            tb.addAction(act)
        self._action("Smaller brush", "mdi6.minus", ["["], lambda: c.grow(-1))
        self._action("Larger brush", "mdi6.plus", ["]"], lambda: c.grow(1))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        # Shortcuts fire only in the active window; a key that reaches here unused (the window manager
        # has not activated the dialog yet) still does what its action says.
        pressed = QKeySequence(event.keyCombination())
        for act in self.actions():
            if act.isEnabled() and any(k.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch
                                       for k in act.shortcuts()):
                act.trigger()
                event.accept()
                return
        super().keyPressEvent(event)

    def _tool_changed(self, tool: str) -> None:
        self.act_brush.setChecked(tool == "brush")
        self.act_eraser.setChecked(tool == "eraser")

    def _size_changed(self, size: float) -> None:
        for w in (self.size_slider, self.size_spin):
            if w.value() != round(size):
                w.blockSignals(True)
                w.setValue(round(size))
                w.blockSignals(False)

    def _hardness_changed(self, value: int) -> None:
        self.canvas.set_hardness(value / 100)
        self.hardness_label.setText(f"{value}% ")

    def set_hardness(self, hardness: float) -> None:
        self.hardness_slider.setValue(round(hardness * 100))

    def mask(self) -> np.ndarray:  # type: ignore[override]  # QWidget.mask (a region) is not used here
        """The mask painted: (H, W) float32 in [0, 1], 1 = repaint."""
        return self.canvas.mask_array()


# --- files -----------------------------------------------------------------------------------------


_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"/\\|?*]')
_MAX_STEM_BYTES = 120


def safe_stem(name: str, fallback: str = "image") -> str:
    """A file name stem from ``name`` that cannot leave a folder: its last part only (after / or \\),
    no suffix, no characters a file name may not hold, no leading dots, not too long."""
    base = re.split(r"[/\\]", name)[-1]
    stem = PurePosixPath(base).stem if "." in base.strip(".") else base
    stem = _BAD_CHARS.sub("_", stem).strip(" .")
    stem = stem.encode("utf-8", "replace")[:_MAX_STEM_BYTES].decode("utf-8", "ignore").strip(" .")
    return stem or fallback


def mask_folder(window: MainWindow) -> Path:
    """Where masks go: next to the workflow when it has a file, else in the input folder."""
    return window.path.parent if window.path is not None else window.settings.input_path


def _numbered(stem: str, n: int) -> str:
    return stem if n == 1 else f"{stem}_{n}"


def save_new_mask(mask: np.ndarray, folder: Path, image_name: str) -> Path:
    """Save ``mask`` in ``folder`` as ``<image stem>_mask.png`` (``_2``, ``_3``… when that name is
    taken): never replacing any file, and never outside ``folder`` whatever ``image_name`` holds."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(image_name) + "_mask"
    for n in range(1, 100_000):
        path = folder / f"{_numbered(stem, n)}.png"
        if path.exists() or path.is_symlink():
            continue
        try:
            return save_mask(mask, path, exclusive=True)
        except FileExistsError:  # someone took the name meanwhile
            continue
    raise FileExistsError(f"no free mask file name for {stem} in {folder}")


def _save_pair(image: np.ndarray, mask: np.ndarray, folder: Path, name: str) -> tuple[Path, Path]:
    """Save ``image`` as ``<name>.png`` and ``mask`` as ``<name>_mask.png`` side by side, numbered
    together, never replacing a file."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb_u8(image)).save(buf, format="PNG", compress_level=4)
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(name)
    for n in range(1, 100_000):
        image_path = folder / f"{_numbered(stem, n)}.png"
        mask_path = folder / f"{_numbered(stem, n)}_mask.png"
        if any(p.exists() or p.is_symlink() for p in (image_path, mask_path)):
            continue
        try:
            atomic_write_bytes(image_path, buf.getvalue(), exclusive=True)
        except FileExistsError:
            continue
        try:
            save_mask(mask, mask_path, exclusive=True)
        except FileExistsError:
            image_path.unlink(missing_ok=True)
            continue
        return image_path, mask_path
    raise FileExistsError(f"no free file names for {stem} in {folder}")


def _param_value(path: Path, search_dirs: Any) -> str:
    """The name a node should hold for ``path``: just the file name when the node's lookup finds
    this very file by it (the workflow then travels with its mask), else the full path."""
    try:
        if os.path.samefile(resolve_file(path.name, search_dirs, "mask"), path):
            return path.name
    except (NodeFailure, OSError):
        pass
    return str(path)


# --- the window's entry point ------------------------------------------------------------------------

def _node_picture(window: MainWindow, node_id: str) -> tuple[np.ndarray, np.ndarray | None, str] | None:
    """The image to paint on, the mask to start from and a name for the files; None (with a message)
    when there is none."""
    node = window.graph.nodes[node_id]
    if node.type_id != LOAD_IMAGE:
        image = window.node_image(node_id)
        if image is None:
            window.show_message(f"{window.graph.title_of(node_id)} has no image yet: run it first")
            return None
        return np.asarray(image), None, window.graph.title_of(node_id)
    services = window.session.lookup_services()
    name = str(node.params.get("image") or "")
    try:
        rgb, alpha = read_image(resolve_file(name, services.search_dirs, "image"))
    except NodeFailure as exc:
        window.show_message(f"Cannot edit the mask: {exc}")
        return None
    h, w = rgb.shape[:2]
    mask = (1.0 - alpha) if alpha is not None else None  # what the node gives without a mask file
    mask_name = str(node.params.get("mask") or "")
    if mask_name:
        try:
            mask = load_mask(resolve_file(mask_name, services.search_dirs, "mask"), (w, h),
                             note=window.show_message)
        except NodeFailure as exc:
            window.show_message(f"{exc}; starting from an empty mask")
            mask = None
    return rgb, mask, name


def edit_mask_for_node(window: MainWindow, node_id: str) -> bool:
    """Paint the mask of a node's picture. For a Load Image node: its image file, starting from its
    mask; the new mask is saved as a new file and set as the node's ``mask`` (one undo step). For
    another node: its last image; the image and the mask are saved side by side and a Load Image
    node holding both is added beside it (one undo step). True when something changed."""
    from studio.core.graph import Node, new_id

    from . import undo

    if node_id not in window.graph.nodes:
        return False
    found = _node_picture(window, node_id)
    if found is None:
        return False
    image, start, name = found
    dlg = MaskEditor(image, start, window, title=f"Edit mask — {window.graph.title_of(node_id)}")
    try:
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return False
        painted = dlg.mask()
    finally:
        dlg.deleteLater()
    before = to_uint8(start) if start is not None else np.zeros(painted.shape, np.uint8)
    if np.array_equal(to_uint8(painted), before):
        window.show_message("The mask is unchanged")
        return False
    folder = mask_folder(window)
    node = window.graph.nodes.get(node_id)
    if node is None:  # removed while the editor was open
        return False
    services = window.session.lookup_services()
    try:
        if node.type_id == LOAD_IMAGE:
            path = save_new_mask(painted, folder, name)
            window.editor.set_param(node_id, "mask", _param_value(path, services.search_dirs))
            window.show_message(f"Saved the mask as {path}")
            return True
        image_path, mask_path = _save_pair(image, painted, folder, name)
    except OSError as exc:
        window.error_box("Cannot save the mask", f"Could not write into {folder}: {exc.strerror or exc}")
        return False
    nt = window.registry[LOAD_IMAGE]
    item = window.scene.node_items.get(node_id)
    width = item.boundingRect().width() if item is not None else 230.0
    params = {**nt.default_params(), "image": _param_value(image_path, services.search_dirs),
              "mask": _param_value(mask_path, services.search_dirs)}
    new = Node(new_id(), nt.id, nt.version, params, (node.pos[0] + width + 60, node.pos[1]))
    window.editor.stack.push(undo.AddNode(window.graph, new, f"Add masked image {image_path.name}"))
    window.show_message(f"Saved {image_path.name} and {mask_path.name} in {folder}")
    return True
