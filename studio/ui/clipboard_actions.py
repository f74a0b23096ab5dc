"""Selection and clipboard actions of the main window: select, copy, cut, paste, duplicate, delete.
A mixin of ``MainWindow``; every edit goes through the ``Editor`` (one undo step each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from .canvas.scene import GraphScene
    from .canvas.view import GraphView
    from .editor import Editor


class ClipboardActions:
    scene: GraphScene
    view: GraphView
    editor: Editor

    def selected(self) -> list[str]:
        return self.scene.selected_node_ids()

    def copy(self) -> None:
        ids = self.selected()
        if ids:
            # Plain text (the fragment JSON names its format): works between windows and processes,
            # and avoids handing a QMimeData object to the clipboard, which crashed PySide at exit.
            QApplication.clipboard().setText(self.editor.copy_text(ids))

    def cut(self) -> None:
        self.copy()
        self.delete_selected()

    def paste(self) -> None:
        text = QApplication.clipboard().text()
        pos = self.view.last_scene_pos
        self._select(self.editor.paste_text(text, (pos.x(), pos.y())))

    def duplicate(self) -> None:
        self._select(self.editor.duplicate(self.selected()))

    def delete_selected(self) -> None:
        """Delete the selected nodes, and the selected groups (their contents stay)."""
        groups = self.scene.selected_group_ids()
        if groups:
            self.editor.delete_groups(groups, self.selected())
        else:
            self.editor.delete(self.selected())

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def _select(self, ids: list[str], *, frame: bool = False) -> None:
        self.scene.clearSelection()
        for nid in ids:
            item = self.scene.node_items.get(nid)
            if item is not None:
                item.setSelected(True)
        if frame and ids:
            self.view.frame(ids)
