"""Keyboard shortcuts: the catalogue of actions, the user's choices, the Help list and the Preferences editor.

How a window uses it::

    self.shortcuts = ShortcutMap(ui_settings())
    self.shortcuts.apply(self.actions_by_id)        # at start-up, {action id: QAction}
    # Edit ▸ Preferences: the dialog gets a "Shortcuts" tab and writes the choices on OK
    dlg = PreferencesDialog(self.settings, self, shortcuts=self.shortcuts)
    if dlg.exec():
        ...
    self.shortcuts.apply(self.actions_by_id)        # after the dialog closes
    # Help ▸ Keyboard Shortcuts: a searchable list; its "Change…" button asks for Preferences
    listing = ShortcutsDialog(self.shortcuts, self)
    listing.change_requested.connect(...)       # open Preferences and call its show_shortcuts()
    listing.exec()

Choices are stored under "shortcuts/<action id>" as a list of portable key strings ("Ctrl+B"). An
empty list means "no shortcut"; a missing or unreadable value means "the default". Entries marked
``informational`` are keys the canvas handles itself (Tab, Space, double-click): they are listed for
reference and cannot be changed here.

Defaults follow ComfyUI where that does not clash with desktop conventions: Ctrl+B bypass, Ctrl+M mute,
Alt+C collapse, Ctrl+G group, "." frame, Ctrl+Enter run, Ctrl+Alt+Enter cancel, Alt+M minimap (no menu
title may then use &M or &C as its mnemonic). "Run the selected outputs" has no default: ComfyUI users
press Ctrl+Alt+Enter to stop, so it must not start anything. Desktop conventions win for
zoom (Ctrl+= / Ctrl+- / Ctrl+0 instead of ComfyUI's Alt+= / Alt+-) and the Model Manager moves to
Ctrl+Shift+M so that Ctrl+M can mute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import theme

PORTABLE = QKeySequence.SequenceFormat.PortableText
NATIVE = QKeySequence.SequenceFormat.NativeText
GROUP = "shortcuts"
ID_ROLE = Qt.ItemDataRole.UserRole
CONFLICT_BG = QColor(theme.ERROR).darker(260)
READ_ONLY_TIP = "Handled by the canvas: listed for reference, it cannot be changed."


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    category: str
    defaults: tuple[str, ...] = ()
    informational: bool = False  # the canvas handles it; no QAction, not editable
    hint: str = ""  # how to use it, where the keys alone do not say (shown beside the keys)


def _a(id: str, text: str, *defaults: str, info: bool = False, hint: str = "") -> ActionSpec:
    category = {"file": "File", "edit": "Edit", "canvas": "Canvas", "view": "View", "run": "Run",
                "help": "Help"}[id.split(".", 1)[0]]
    return ActionSpec(id, text, category, tuple(defaults), info, hint)


ACTIONS: tuple[ActionSpec, ...] = (
    _a("file.new", "New", "Ctrl+N"),
    _a("file.open", "Open…", "Ctrl+O"),
    _a("file.save", "Save", "Ctrl+S"),
    _a("file.save_as", "Save As…", "Ctrl+Shift+S"),
    _a("file.model_manager", "Model Manager…", "Ctrl+Shift+M"),
    _a("file.quit", "Quit", "Ctrl+Q"),
    _a("edit.undo", "Undo", "Ctrl+Z"),
    _a("edit.redo", "Redo", "Ctrl+Shift+Z", "Ctrl+Y"),
    _a("edit.cut", "Cut", "Ctrl+X"),
    _a("edit.copy", "Copy", "Ctrl+C"),
    _a("edit.paste", "Paste", "Ctrl+V"),
    _a("edit.duplicate", "Duplicate", "Ctrl+D"),
    _a("edit.delete", "Delete", "Del", "Backspace"),
    _a("edit.select_all", "Select All", "Ctrl+A"),
    _a("edit.preferences", "Preferences…", "Ctrl+,"),
    _a("canvas.bypass", "Bypass", "Ctrl+B"),
    _a("canvas.mute", "Mute", "Ctrl+M"),
    _a("canvas.collapse", "Collapse", "Alt+C"),
    _a("canvas.group", "Group", "Ctrl+G"),
    _a("canvas.ungroup", "Ungroup", "Ctrl+Shift+G"),
    _a("canvas.add_node", "Add node (search)", "Tab", info=True, hint="on the canvas"),
    _a("canvas.quick_add_double_click", "Add node: double-click the canvas", info=True, hint="Double-click"),
    _a("canvas.reroute", "Add reroute"),
    _a("canvas.note", "Add note"),
    _a("canvas.align_left", "Align left"),
    _a("canvas.align_right", "Align right"),
    _a("canvas.align_top", "Align top"),
    _a("canvas.align_bottom", "Align bottom"),
    _a("canvas.distribute_h", "Distribute horizontally"),
    _a("canvas.distribute_v", "Distribute vertically"),
    _a("canvas.auto_layout", "Arrange automatically", "Ctrl+Shift+L"),
    _a("canvas.frame", "Frame all / selection", "F", "."),
    _a("canvas.pan", "Pan the canvas", "Space", info=True, hint="hold and drag"),
    _a("view.zoom_in", "Zoom in", "Ctrl+=", "Ctrl++"),
    _a("view.zoom_out", "Zoom out", "Ctrl+-"),
    _a("view.zoom_reset", "Actual size", "Ctrl+0"),
    _a("view.minimap", "Minimap", "Alt+M"),  # ComfyUI's key; no menu uses &M
    _a("view.box_editor", "Box Editor", "Ctrl+Shift+B"),  # Ctrl+B bypasses (ComfyUI's key)
    _a("view.thumbnails", "Images on every node"),
    _a("run.run", "Run", "Ctrl+Return", "Ctrl+Enter"),
    _a("run.run_to_node", "Run up to the selected node", "Ctrl+Shift+Return", "Ctrl+Shift+Enter"),
    _a("run.run_selected_outputs", "Run the selected outputs"),
    _a("run.cancel", "Cancel", "Esc", "Ctrl+Alt+Return"),  # the second is ComfyUI's interrupt
    _a("help.shortcuts", "Keyboard Shortcuts", "Ctrl+/"),
    _a("help.node_help", "Help for the selected node", "F1"),
    _a("help.documentation", "Documentation"),
    _a("help.logs_folder", "Open Logs Folder"),
    _a("help.about", "About Latent Studio"),
)
_BY_ID = {a.id: a for a in ACTIONS}


def spec(action_id: str) -> ActionSpec:
    """The catalogue entry for ``action_id``; KeyError for an unknown id."""
    return _BY_ID[action_id]


def parse_key(text: str) -> QKeySequence | None:
    """A key sequence from portable text, or None when the text names no real key."""
    seq = QKeySequence.fromString(text, PORTABLE)
    if seq.isEmpty() or not seq.toString(PORTABLE):
        return None
    # The stubs lack QKeySequence.__getitem__; each item is a QKeyCombination.
    if any(seq[i].key() == Qt.Key.Key_unknown for i in range(seq.count())):  # type: ignore[index]
        return None
    return seq


def key_texts(keys: Iterable[QKeySequence]) -> list[str]:
    """Portable texts of the non-empty sequences, duplicates dropped, order kept."""
    out: list[str] = []
    for k in keys:
        text = k.toString(PORTABLE)
        if text and text not in out:
            out.append(text)
    return out


def display_text(keys: Sequence[QKeySequence], hint: str = "") -> str:
    shown = " or ".join(k.toString(NATIVE) for k in keys if not k.isEmpty())
    return f"{shown} ({hint})" if shown and hint else shown or hint


def find_conflicts(keys_by_id: dict[str, list[str]]) -> dict[str, list[str]]:
    """Key text → the ids using it, only for keys used by more than one id."""
    users: dict[str, list[str]] = {}
    for action_id, texts in keys_by_id.items():
        for text in dict.fromkeys(texts):
            users.setdefault(text, []).append(action_id)
    return {text: ids for text, ids in users.items() if len(ids) > 1}


def _read_stored(value: object) -> list[str] | None:
    """Stored portable texts, or None when the value is damaged (the caller uses the defaults)."""
    if value is None or value == "":
        return []  # an INI file stores an empty list as @Invalid(), which reads back as None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        return None
    parsed = [parse_key(t) for t in items]
    if any(p is None for p in parsed):
        return None
    return key_texts(p for p in parsed if p is not None)


class ShortcutMap:
    """The user's choices on top of the defaults, kept in the QSettings given."""

    def __init__(self, store: QSettings) -> None:
        self.store = store

    @staticmethod
    def _key(action_id: str) -> str:
        return f"{GROUP}/{action_id}"

    def texts(self, action_id: str) -> list[str]:
        """Portable texts of the keys in force for ``action_id``."""
        entry = spec(action_id)
        if entry.informational or not self.store.contains(self._key(action_id)):
            return list(entry.defaults)
        try:
            stored = _read_stored(self.store.value(self._key(action_id)))
        except Exception:  # a value Qt cannot even convert
            stored = None
        return list(entry.defaults) if stored is None else stored

    def keys(self, action_id: str) -> list[QKeySequence]:
        return [QKeySequence.fromString(t, PORTABLE) for t in self.texts(action_id)]

    def is_default(self, action_id: str) -> bool:
        return self.texts(action_id) == list(spec(action_id).defaults)

    def set_keys(self, action_id: str, keys: list[QKeySequence]) -> None:
        """Store ``keys`` (an empty list: no shortcut at all) for an editable action."""
        if spec(action_id).informational:
            raise ValueError(f"{action_id} is handled by the canvas; its keys cannot be changed")
        self.store.setValue(self._key(action_id), key_texts(keys))
        self.store.sync()

    def reset(self, action_id: str | None = None) -> None:
        """Back to the default keys for one action, or for all (stale ids included)."""
        if action_id is None:
            self.store.remove(GROUP)
        else:
            spec(action_id)
            self.store.remove(self._key(action_id))
        self.store.sync()

    def conflicts(self) -> dict[str, list[str]]:
        return find_conflicts({a.id: self.texts(a.id) for a in ACTIONS})

    def apply(self, actions: dict[str, QAction]) -> None:
        """Set the keys in force on each catalogued action present in ``actions``."""
        for entry in ACTIONS:
            action = actions.get(entry.id)
            if action is not None and not entry.informational:
                action.setShortcuts(self.keys(entry.id))


# -- widgets ----------------------------------------------------------------------------------------


def _item(text: str, action_id: str = "", tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if action_id:
        item.setData(ID_ROLE, action_id)
    if tip:
        item.setToolTip(tip)
    return item


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(len(ACTIONS), len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, len(headers)):
        header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    table.setMinimumHeight(280)
    return table


def _cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None, "every row is filled when the table is built"
    return item


def _search_field() -> QLineEdit:
    search = QLineEdit()
    search.setPlaceholderText("Search actions or keys…")
    search.setClearButtonEnabled(True)
    return search


def _matches(query: str, haystack: str) -> bool:
    """Every word of the query appears in the haystack (case-insensitive)."""
    lowered = haystack.lower()
    return all(word in lowered for word in query.lower().split())


class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard Shortcuts: every action with its keys, searchable, read-only."""

    change_requested = Signal()  # "Change…": the window opens Preferences at the Shortcuts tab

    def __init__(self, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.shortcuts = shortcuts
        self.search = _search_field()
        self.table = _table(["Action", "Category", "Keys"])
        self.change_button = QPushButton("Change…")
        self.change_button.setToolTip("Change the keys in Preferences")
        self.change_button.clicked.connect(self._change)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.change_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        for button in buttons.buttons():  # Enter in the search field must not press a button
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
        col = QVBoxLayout(self)
        col.addWidget(self.search)
        col.addWidget(self.table, 1)
        col.addWidget(buttons)
        self.search.textChanged.connect(self.filter)
        self.refresh()
        self.resize(560, 560)

    def refresh(self) -> None:
        for row, entry in enumerate(ACTIONS):
            keys = display_text(self.shortcuts.keys(entry.id), entry.hint)
            tip = READ_ONLY_TIP if entry.informational else ""
            self.table.setItem(row, 0, _item(entry.text, entry.id, tip))
            self.table.setItem(row, 1, _item(entry.category))
            self.table.setItem(row, 2, _item(keys))
        self.filter(self.search.text())

    def filter(self, query: str) -> None:
        for row in range(self.table.rowCount()):
            words = " ".join(_cell(self.table, row, c).text() for c in range(3))
            self.table.setRowHidden(row, not _matches(query, words))

    def visible_ids(self) -> list[str]:
        return [_cell(self.table, r, 0).data(ID_ROLE) for r in range(self.table.rowCount())
                if not self.table.isRowHidden(r)]

    def _change(self) -> None:
        self.accept()
        self.change_requested.emit()


class _KeyEdit(QKeySequenceEdit):
    """One key combination (no multi-chord sequences), with a clear button."""

    def __init__(self, key: QKeySequence | None) -> None:
        super().__init__(key or QKeySequence())
        self.setMaximumSequenceLength(1)
        self.setClearButtonEnabled(True)


class ShortcutsEditor(QWidget):
    """The Preferences page: a key editor per action (main and alternate key), held until apply()."""

    changed = Signal()

    def __init__(self, shortcuts: ShortcutMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shortcuts = shortcuts
        self.edits: dict[str, tuple[_KeyEdit, _KeyEdit]] = {}
        self.reset_buttons: dict[str, QToolButton] = {}
        self._touched: set[str] = set()
        self.search = _search_field()
        self.table = _table(["Action", "Category", "Shortcut", "Alternate", ""])
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.ERROR};")
        self.message.hide()
        reset_all = QPushButton("Reset all")
        reset_all.setToolTip("Every action back to its default keys")
        reset_all.clicked.connect(self.reset_all)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(reset_all, 0, Qt.AlignmentFlag.AlignTop)
        col = QVBoxLayout(self)
        col.addWidget(self.search)
        col.addWidget(self.table, 1)
        col.addLayout(bottom)
        for row, entry in enumerate(ACTIONS):
            self._fill_row(row, entry)
        self.search.textChanged.connect(self.filter)
        self._update()

    # -- building ---------------------------------------------------------------------------------
    def _fill_row(self, row: int, entry: ActionSpec) -> None:
        self.table.setItem(row, 0, _item(entry.text, entry.id, READ_ONLY_TIP if entry.informational else ""))
        self.table.setItem(row, 1, _item(entry.category))
        if entry.informational:
            shown = _item(display_text(self.shortcuts.keys(entry.id), entry.hint), tip=READ_ONLY_TIP)
            shown.setForeground(QBrush(QColor(theme.TEXT_DIM)))
            self.table.setItem(row, 2, shown)
            self.table.setSpan(row, 2, 1, 2)
            return
        keys = self.shortcuts.keys(entry.id)
        pair = (_KeyEdit(keys[0] if keys else None), _KeyEdit(keys[1] if len(keys) > 1 else None))
        for column, edit in enumerate(pair, start=2):
            edit.keySequenceChanged.connect(lambda _seq, aid=entry.id: self._edited(aid))
            self.table.setCellWidget(row, column, edit)
        reset = QToolButton()
        reset.setText("Reset")
        default = display_text([QKeySequence.fromString(d, PORTABLE) for d in entry.defaults])
        reset.setToolTip(f"Back to the default: {default or 'no shortcut'}")
        reset.clicked.connect(lambda _=False, aid=entry.id: self.reset(aid))
        self.table.setCellWidget(row, 4, reset)
        self.edits[entry.id] = pair
        self.reset_buttons[entry.id] = reset

    # -- state --------------------------------------------------------------------------------------
    def texts(self, action_id: str) -> list[str]:
        """The keys shown for ``action_id`` (pending, not yet applied)."""
        if action_id in self.edits:
            return key_texts(edit.keySequence() for edit in self.edits[action_id])
        return self.shortcuts.texts(action_id)

    def conflicts(self) -> dict[str, list[str]]:
        return find_conflicts({a.id: self.texts(a.id) for a in ACTIONS})

    def has_conflicts(self) -> bool:
        return bool(self.conflicts())

    def conflicting_ids(self) -> set[str]:
        return {aid for ids in self.conflicts().values() for aid in ids}

    def _edited(self, action_id: str) -> None:
        self._touched.add(action_id)
        self._update()

    def reset(self, action_id: str) -> None:
        defaults = [QKeySequence.fromString(d, PORTABLE) for d in spec(action_id).defaults]
        for i, edit in enumerate(self.edits[action_id]):
            edit.blockSignals(True)  # one update for the row, not one per editor
            edit.setKeySequence(defaults[i] if i < len(defaults) else QKeySequence())
            edit.blockSignals(False)
        self._edited(action_id)

    def reset_all(self) -> None:
        for action_id in self.edits:
            self.reset(action_id)

    def apply(self) -> None:
        """Write the changed rows to the ShortcutMap; a row back at its defaults is reset."""
        for action_id in sorted(self._touched):
            texts = self.texts(action_id)
            if texts == list(spec(action_id).defaults):
                self.shortcuts.reset(action_id)
            elif texts != self.shortcuts.texts(action_id):
                self.shortcuts.set_keys(action_id, [QKeySequence.fromString(t, PORTABLE) for t in texts])
        self._touched.clear()

    # -- showing ------------------------------------------------------------------------------------
    def _update(self) -> None:
        conflicts = self.conflicts()
        clashing = {aid for ids in conflicts.values() for aid in ids}
        for row, entry in enumerate(ACTIONS):
            brush = QBrush(CONFLICT_BG) if entry.id in clashing else QBrush()
            for column in (0, 1):
                _cell(self.table, row, column).setBackground(brush)
            if entry.id in self.reset_buttons:
                self.reset_buttons[entry.id].setEnabled(self.texts(entry.id) != list(entry.defaults))
        lines = [f"{QKeySequence.fromString(text, PORTABLE).toString(NATIVE)} is used by "
                 + " and ".join(spec(aid).text for aid in ids) for text, ids in conflicts.items()]
        if lines:
            lines.append("A key can do only one thing: change or clear one of them.")
        self.message.setText("\n".join(lines))
        self.message.setVisible(bool(lines))
        self.changed.emit()

    def filter(self, query: str) -> None:
        for row, entry in enumerate(ACTIONS):
            texts = self.texts(entry.id)
            shown = display_text([QKeySequence.fromString(t, PORTABLE) for t in texts], entry.hint)
            words = f"{entry.text} {entry.category} {' '.join(texts)} {shown}"
            self.table.setRowHidden(row, not _matches(query, words))

    def visible_ids(self) -> list[str]:
        return [a.id for row, a in enumerate(ACTIONS) if not self.table.isRowHidden(row)]
