"""The "Problems & Log" panel: one line per message, naming nodes by title; a click selects the node."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from . import theme

MAX_LINES = 500
_ICONS = {"error": "mdi6.alert-circle", "warning": "mdi6.alert"}
_COLOURS = {"error": theme.ERROR, "warning": "#f0b429"}


class LogPanel(QListWidget):
    node_clicked = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("problems")
        self.itemClicked.connect(self._clicked)

    def log(self, level: str, text: str, node_id: str | None = None) -> None:
        icon = theme.icon(_ICONS.get(level, "mdi6.information-outline"), _COLOURS.get(level, theme.TEXT_DIM))
        item = QListWidgetItem(icon, f"{time.strftime('%H:%M:%S')}  {text}")
        item.setData(Qt.ItemDataRole.UserRole, node_id)
        if node_id:
            item.setToolTip("Click to select the node")
        self.addItem(item)
        while self.count() > MAX_LINES:
            self.takeItem(0)
        self.scrollToBottom()

    def lines(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def _clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.node_clicked.emit(str(node_id))
