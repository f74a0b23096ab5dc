"""The preferences dialog: model folders, output/input folders, device, precision, previews and shortcuts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import DEVICES, DTYPES, PREVIEWS, Settings, data_dir, valid_cluster

from .shortcuts import ShortcutMap, ShortcutsEditor

PATH_ROLE = Qt.ItemDataRole.UserRole
DEVICE_LABELS = {"auto": "automatic", "cuda": "NVIDIA CUDA", "mps": "Apple Metal (MPS)", "cpu": "CPU"}
DTYPE_LABELS = {"auto": "automatic", "fp16": "half (fp16)", "bf16": "bfloat16", "fp32": "full (fp32)"}
SWITCHES = ("auto", "on", "off")
SWITCH_LABELS = {"auto": "automatic", "on": "on", "off": "off"}
PREVIEW_LABELS = {"auto": "automatic (TAESD when installed)", "latent2rgb": "fast approximation",
                  "taesd": "TAESD (sharper)", "none": "no step previews"}
CLUSTER_TIP = ("Empty: queued jobs run on this machine. auto: the Ray cluster running on this machine (else a "
               "small one started here); ray://HOST:PORT: a remote Ray cluster. Needs Ray: "
               "pip install 'latent-studio[cluster]'. Step previews stay on the cluster worker; "
               "the images appear in History when a job is done.")
CKPT_WARNING = ("Legacy .ckpt / .pt files are Python pickles: loading one can run any code hidden in it. "
                "Only allow them for files from sources you trust; prefer .safetensors.")


def pick_folder(parent: QWidget, title: str, start: str) -> str:
    """A native folder dialog; returns "" when cancelled (tests replace this function)."""
    return QFileDialog.getExistingDirectory(parent, title, start)


def warn(parent: QWidget, title: str, text: str) -> None:
    """A modal warning (tests replace this function)."""
    QMessageBox.warning(parent, title, text)


def describe_models_root(path: str) -> str:
    """What kind of models tree ``path`` is (ComfyUI, A1111, ...) or at least what it holds."""
    try:
        from studio.diffusion import model_folders as mf
    except Exception:  # the model layer is optional for this dialog
        return ""
    for name in ("detect_tree", "detect_layout", "tree_kind"):
        detect = getattr(mf, name, None)
        if callable(detect):
            try:
                found = detect(path)
            except Exception:
                found = None
            if found:
                return f"{found} models tree"
    try:
        kinds = [k for k in mf.KINDS if mf.kind_dirs([path], k)]
    except Exception:
        return ""
    return f"holds {', '.join(kinds)}" if kinds else "no model folders found here"


def _combo(values: tuple[str, ...], labels: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for v in values:
        combo.addItem(labels.get(v, v), v)
    return combo


def _set_combo(combo: QComboBox, value: str) -> None:
    combo.setCurrentIndex(max(0, combo.findData(value)))


class FolderField(QWidget):
    """A folder path line edit with a browse button."""

    def __init__(self, title: str, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.line = QLineEdit()
        self.line.setPlaceholderText(placeholder)
        self.line.setClearButtonEnabled(True)
        browse = QToolButton()
        browse.setIcon(qta.icon("mdi6.folder-open-outline"))
        browse.setToolTip(f"Choose the {title.lower()}…")
        browse.setAutoRaise(True)
        browse.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.line, 1)
        row.addWidget(browse)

    def text(self) -> str:
        return self.line.text().strip()

    def set_text(self, text: str) -> None:
        self.line.setText(text)

    def browse(self) -> None:
        folder = pick_folder(self, self.title, self.text() or self.line.placeholderText())
        if folder:
            self.line.setText(folder)


class ModelRootsList(QWidget):
    """Extra model roots (e.g. an existing ComfyUI or A1111 install) with add / remove buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setMinimumHeight(70)
        self.list.setMaximumHeight(130)
        self.list.setIconSize(QSize(18, 18))
        add = QToolButton()
        add.setIcon(qta.icon("mdi6.folder-plus-outline"))
        add.setToolTip("Add a models folder (our layout, ComfyUI, A1111 or InvokeAI)…")
        add.clicked.connect(self.browse_add)
        self.remove_button = QToolButton()
        self.remove_button.setIcon(qta.icon("mdi6.minus"))
        self.remove_button.setToolTip("Remove the selected folder from the list (files stay where they are)")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        self.list.currentRowChanged.connect(lambda r: self.remove_button.setEnabled(r >= 0))
        self.remove_button.setEnabled(False)

    def roots(self) -> list[str]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count())]

    def set_roots(self, roots: list[str]) -> None:
        self.list.clear()
        for r in roots:
            self.add(r)

    def add(self, path: str) -> None:
        if not path or path in self.roots():
            return
        what = describe_models_root(path)
        item = QListWidgetItem(qta.icon("mdi6.folder-outline"), f"{path}\n    {what}" if what else path)
        item.setData(PATH_ROLE, path)
        item.setToolTip(f"{path}\n{what}" if what else path)
        self.list.addItem(item)

    def browse_add(self) -> None:
        folder = pick_folder(self, "Add a models folder", str(Path.home()))
        if folder:
            self.add(folder)

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)


class PreferencesDialog(QDialog):
    """Edits a copy of the settings; with a ShortcutMap also a "Shortcuts" tab, written on OK."""

    def __init__(self, settings: Settings, parent: QWidget | None = None,
                 shortcuts: ShortcutMap | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._original = settings
        self.tabs: QTabWidget | None = None
        self.shortcuts_editor: ShortcutsEditor | None = None

        self.models_root = FolderField("Models folder", str(data_dir() / "models"))
        self.extra_roots = ModelRootsList()
        self.allow_ckpt = QCheckBox("Allow legacy .ckpt / .pt model files")
        warning_icon = QLabel()
        warning_icon.setPixmap(qta.icon("mdi6.alert-outline", color="#f0b429").pixmap(QSize(18, 18)))
        self.ckpt_warning = QLabel(CKPT_WARNING)
        self.ckpt_warning.setWordWrap(True)
        warning = QHBoxLayout()
        warning.addWidget(warning_icon, 0, Qt.AlignmentFlag.AlignTop)
        warning.addWidget(self.ckpt_warning, 1)
        models = QGroupBox("Models")
        mform = QFormLayout(models)
        mform.addRow("Models folder", self.models_root)
        mform.addRow("Also look in", self.extra_roots)
        mform.addRow(self.allow_ckpt)
        mform.addRow(warning)
        self.bare_embeddings = QCheckBox("Use embeddings named by bare words in prompts")
        self.bare_embeddings.setToolTip(
            "As in A1111: a prompt word that is exactly the name of a file in the embeddings folder (for "
            "example \"EasyNegativeV2\") uses that textual-inversion embedding. Off: only embedding:name does.")
        mform.addRow(self.bare_embeddings)

        self.output_dir = FolderField("Output folder", str(data_dir() / "output"))
        self.input_dir = FolderField("Input folder", str(data_dir() / "input"))
        files = QGroupBox("Images")
        fform = QFormLayout(files)
        fform.addRow("Save images to", self.output_dir)
        fform.addRow("Look for input images in", self.input_dir)

        self.device = _combo(DEVICES, DEVICE_LABELS)
        self.dtype = _combo(DTYPES, DTYPE_LABELS)
        self.preview = _combo(PREVIEWS, PREVIEW_LABELS)
        self.memory = QDoubleSpinBox()
        self.memory.setRange(0, 4096)
        self.memory.setDecimals(1)
        self.memory.setSingleStep(1)
        self.memory.setSuffix(" GB")
        self.memory.setSpecialValueText("automatic")
        engine = QGroupBox("Engine")
        eform = QFormLayout(engine)
        eform.addRow("Device", self.device)
        eform.addRow("Precision", self.dtype)
        eform.addRow("Step previews", self.preview)
        eform.addRow("Model memory budget", self.memory)
        self._add_speed_rows(eform)
        self.cluster = QLineEdit()
        self.cluster.setPlaceholderText("this machine (or auto, ray://host:port)")
        self.cluster.setClearButtonEnabled(True)
        self.cluster.setToolTip(CLUSTER_TIP)
        eform.addRow("Run queued jobs on", self.cluster)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        if shortcuts is None:
            for box in (models, files, engine):
                col.addWidget(box)
        else:
            self.tabs = self._tabs([models, files, engine], shortcuts)
            col.addWidget(self.tabs)
        col.addWidget(buttons)
        self.resize(620 if shortcuts is None else 720, self.sizeHint().height())
        self.set_settings(settings)

    def _add_speed_rows(self, form: QFormLayout) -> None:
        """Speed options (``studio.diffusion.speed``); they apply to models loaded from then on."""
        self.compile_models = _combo(SWITCHES, {**SWITCH_LABELS, "auto": "automatic (off)"})
        self.compile_models.setToolTip("Compile the UNet and ControlNets with torch.compile: the first run of "
                                       "each model size takes minutes, later runs reuse the compiled code")
        self.channels_last = _combo(SWITCHES, {**SWITCH_LABELS, "auto": "automatic (measured)"})
        self.fuse_qkv = QCheckBox("Fuse attention projections")
        self.fp8_weights = QCheckBox("Store UNet and ControlNet weights in fp8")
        self.fp8_weights.setToolTip("Half the memory of fp16 weights (SDXL on a small graphics card); each layer "
                                    "is widened as it runs, at a small cost in speed and quality")
        self.threads = QSpinBox()
        self.threads.setRange(0, 512)
        self.threads.setSpecialValueText("automatic (physical cores)")
        form.addRow("Compile models", self.compile_models)
        form.addRow("Channels-last layout", self.channels_last)
        form.addRow(self.fuse_qkv)
        form.addRow(self.fp8_weights)
        form.addRow("CPU threads (after restart)", self.threads)

    def _tabs(self, boxes: list[QWidget], shortcuts: ShortcutMap) -> QTabWidget:
        general = QWidget()
        page = QVBoxLayout(general)
        for box in boxes:
            page.addWidget(box)
        page.addStretch(1)
        self.shortcuts_editor = ShortcutsEditor(shortcuts)
        tabs = QTabWidget()
        tabs.addTab(general, "General")
        tabs.addTab(self.shortcuts_editor, "Shortcuts")
        return tabs

    def show_shortcuts(self) -> None:
        """Open at the Shortcuts tab (Help ▸ Keyboard Shortcuts ▸ Change…)."""
        if self.tabs is not None and self.shortcuts_editor is not None:
            self.tabs.setCurrentWidget(self.shortcuts_editor)

    def accept(self) -> None:
        """OK writes the shortcuts; refused while two actions share a key, which neither could use."""
        if not valid_cluster(self.cluster.text().strip()):
            warn(self, "Run queued jobs on", f"{self.cluster.text().strip()!r} is not a place to run jobs: "
                 "leave it empty for this machine, or write auto or ray://HOST:PORT.")
            return
        editor = self.shortcuts_editor
        if editor is not None:
            if editor.has_conflicts():
                self.show_shortcuts()
                warn(self, "Shortcuts in conflict", editor.message.text())
                return
            editor.apply()
        super().accept()

    def set_settings(self, s: Settings) -> None:
        self._original = s
        self.models_root.set_text(s.models_root)
        self.extra_roots.set_roots(list(s.extra_model_roots))
        self.allow_ckpt.setChecked(s.allow_ckpt)
        self.bare_embeddings.setChecked(s.bare_embedding_names)
        self.output_dir.set_text(s.output_dir)
        self.input_dir.set_text(s.input_dir)
        _set_combo(self.device, s.device)
        _set_combo(self.dtype, s.dtype)
        _set_combo(self.preview, s.preview)
        self.memory.setValue(s.memory_budget_gb)
        _set_combo(self.compile_models, s.compile_models)
        _set_combo(self.channels_last, s.channels_last)
        self.fuse_qkv.setChecked(s.fuse_qkv)
        self.fp8_weights.setChecked(s.fp8_weights)
        self.threads.setValue(s.torch_threads)
        self.cluster.setText(s.cluster)

    def settings(self) -> Settings:
        """The edited settings: a new object; the caller decides whether to save it."""
        return dataclasses.replace(
            self._original,
            models_root=self.models_root.text(),
            extra_model_roots=self.extra_roots.roots(),
            allow_ckpt=self.allow_ckpt.isChecked(),
            bare_embedding_names=self.bare_embeddings.isChecked(),
            output_dir=self.output_dir.text(),
            input_dir=self.input_dir.text(),
            device=self.device.currentData(),
            dtype=self.dtype.currentData(),
            preview=self.preview.currentData(),
            memory_budget_gb=float(self.memory.value()),
            compile_models=self.compile_models.currentData(),
            channels_last=self.channels_last.currentData(),
            fuse_qkv=self.fuse_qkv.isChecked(),
            fp8_weights=self.fp8_weights.isChecked(),
            torch_threads=int(self.threads.value()),
            cluster=self.cluster.text().strip(),
        )
