"""The Help menu's own entries: About Latent Studio, Documentation and Open Logs Folder.

What the About box says comes from ``studio.app.about_info``, which ``latent-studio --version`` uses
too; this module only lays it out and adds the Qt runtime version.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, qVersion
from PySide6.QtGui import QColor, QDesktopServices, QFontDatabase, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.app import about_info
from studio.core.settings import resources_dir
from studio.logs import log_file

from . import theme

if TYPE_CHECKING:
    from .main_window import MainWindow

# The About box asks torch for the GPU; torch is normally loaded by then (the evaluator warms up
# right after start-up), so this import is rarely paid. Tests turn it off to stay fast.
IMPORT_TORCH = True


class AboutDialog(QDialog):
    """Versions (with a Copy button for bug reports) and the licences of the bundled resources."""

    def __init__(self, parent: QWidget | None = None, *, import_torch: bool | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {about_info.APP_NAME}")
        self.pairs = _gather(IMPORT_TORCH if import_torch is None else import_torch)
        self.report = about_info.report_text(self.pairs)
        self.licences = about_info.resource_licences()

        layout = QVBoxLayout(self)
        layout.addLayout(self._header())
        layout.addWidget(QLabel("<b>Versions</b>"))
        self.versions_view = QPlainTextEdit(self.report)
        self.versions_view.setReadOnly(True)
        self.versions_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.versions_view.setFixedHeight(self.versions_view.fontMetrics().lineSpacing() * (len(self.pairs) + 2))
        layout.addWidget(self.versions_view)
        layout.addWidget(QLabel("<b>Bundled resources</b> (folder <code>resources/</code>)"))
        self.licence_table = self._licence_table()
        layout.addWidget(self.licence_table, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the versions as text, to paste into a bug report")
        self.copy_button.clicked.connect(self.copy_versions)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 560)

    def _header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        icon = QApplication.windowIcon()
        shipped = resources_dir() / "icons" / "latent-studio-128.png"
        if icon.isNull() and shipped.is_file():
            icon = QIcon(str(shipped))
        if not icon.isNull():  # the application icon, where one is installed
            logo = QLabel()
            logo.setPixmap(icon.pixmap(64, 64))
            row.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(f"<h2>{about_info.APP_NAME} {about_info.app_version()}</h2>"
                       "A node-graph studio for controllable Stable Diffusion.<br>"
                       f"Licence: {about_info.app_licence()}")
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(title, 1)
        return row

    def _licence_table(self) -> QTableWidget:
        table = QTableWidget(len(self.licences), 3)
        table.setHorizontalHeaderLabels(["Resource", "Licence", "Source"])
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(True)
        for row, entry in enumerate(self.licences):
            licence = entry.licence + (f" ({entry.licence_file})" if entry.licence_file else "")
            for col, text in enumerate((entry.path, licence, entry.source)):
                item = QTableWidgetItem(text)
                item.setToolTip(entry.what or text)
                if entry.licence == about_info.NOT_RECORDED and col == 1:
                    item.setForeground(QColor(theme.TEXT_DIM))
                table.setItem(row, col, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.setColumnWidth(1, 200)
        table.resizeRowsToContents()
        return table

    def copy_versions(self) -> None:
        QApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")
        # The button as context: the timer dies with the dialog instead of touching a deleted button.
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))


def _gather(import_torch: bool) -> list[tuple[str, str]]:
    slow = import_torch and "torch" not in sys.modules
    if slow:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return about_info.versions(qt_runtime=qVersion(), import_torch=import_torch)
    finally:
        if slow:
            QApplication.restoreOverrideCursor()


def show_about(window: MainWindow) -> AboutDialog:
    """Show the About box (one at a time: a second call brings it to the front)."""
    dlg: AboutDialog | None = getattr(window, "_about_dialog", None)
    if dlg is None or not dlg.isVisible():
        dlg = AboutDialog(window)
        window._about_dialog = dlg  # type: ignore[attr-defined]
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


def open_documentation(window: MainWindow) -> bool:
    """Open the documentation: its URL when the package names one, else the README of this checkout."""
    target = about_info.documentation_target()
    if target is None:
        window.show_message("No documentation is installed with this copy of Latent Studio")
        return False
    url = QUrl(target) if isinstance(target, str) else QUrl.fromLocalFile(str(target))
    if not QDesktopServices.openUrl(url):
        window.show_message(f"Could not open the documentation: {target}")
        return False
    return True


def open_logs_folder(window: MainWindow) -> bool:
    """Show the folder of the log file in the file manager (made first: it may not exist yet)."""
    folder = log_file().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        window.error_box("Cannot open the logs folder", f"Cannot create {folder}: {exc.strerror or exc}")
        return False
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        window.show_message(f"Could not open the logs folder: {folder}")
        return False
    return True
