"""The dialog shown when an opened workflow names models that are not installed: pick a
same-family substitute, or download what the catalogue knows."""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import Settings

from . import theme
from .model_manager_window import DownloadPanel

LEAVE = "(leave as it is)"


class MissingModelsDialog(QDialog):
    def __init__(self, missing: list[Any], settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Missing models")
        self.resize(900, 360)
        self.missing = missing
        intro = QLabel(f"This workflow uses {len(missing)} model(s) that are not in your model folders "
                       "(nothing with the same SHA-256 was found either). Choose a substitute of the same "
                       "family, download it, or leave the node to report the problem when it runs.")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(missing), 5)
        self.table.setHorizontalHeaderLabels(["Node", "Kind", "Missing file", "Use instead", ""])
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.downloads = DownloadPanel(settings)
        self.combos: list[QComboBox] = []
        from PySide6.QtWidgets import QTableWidgetItem

        for row, m in enumerate(missing):
            for col, text in enumerate((m.node_title, m.kind, m.file)):
                item = QTableWidgetItem(text)
                item.setToolTip(m.line())
                self.table.setItem(row, col, item)
            combo = QComboBox()
            combo.addItem(LEAVE)
            combo.addItems(list(m.substitutes))
            if m.substitutes and m.family:
                # Substitutes are of the missing model's family only when that family is known:
                # otherwise nothing is chosen for the user (an SDXL file for an SD1.5 workflow).
                combo.setCurrentIndex(1)
            combo.setToolTip(f"family: {m.family}" if m.family else "the missing model's family is not known")
            self.combos.append(combo)
            self.table.setCellWidget(row, 3, combo)
            if m.download:
                button = QPushButton(theme.icon("mdi6.download"), "Download")
                button.clicked.connect(lambda _=False, name=m.download: self.downloads.download_entry(name))
                self.table.setCellWidget(row, 4, button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        # Enter must not accept substitutes the user never looked at (a button box makes QPushButtons).
        for button in cast("list[QPushButton]", buttons.buttons()):
            button.setAutoDefault(False)
            button.setDefault(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addWidget(intro)
        outer.addWidget(self.table)
        outer.addWidget(self.downloads)
        outer.addWidget(buttons)

    def choices(self) -> dict[tuple[str, str], str]:
        """(node id, parameter) → the file chosen instead of the missing one."""
        out = {}
        for m, combo in zip(self.missing, self.combos, strict=True):
            if combo.currentText() != LEAVE and m.param:
                out[(m.node_id, m.param)] = combo.currentText()
        return out

    def done(self, result: int) -> None:
        self.downloads.shutdown()
        super().done(result)
