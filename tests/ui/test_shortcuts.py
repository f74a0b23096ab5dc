"""Keyboard shortcuts: catalogue, stored choices, QActions, the Help list and the Preferences editor."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QWidget

from studio.core.settings import Settings
from studio.ui import preferences
from studio.ui.preferences import PreferencesDialog
from studio.ui.shortcuts import (
    ACTIONS,
    CONFLICT_BG,
    ShortcutMap,
    ShortcutsDialog,
    ShortcutsEditor,
    parse_key,
    spec,
)

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
INFORMATIONAL = {"canvas.add_node", "canvas.quick_add_double_click", "canvas.pan"}


@pytest.fixture(autouse=True)
def no_windows_left(qapp):
    yield
    for w in QApplication.topLevelWidgets():
        if w.isVisible():
            w.close()
    QApplication.processEvents()
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]


def ini(path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


@pytest.fixture
def shortcuts(tmp_path) -> ShortcutMap:
    return ShortcutMap(ini(tmp_path / "ui.ini"))


def keys(*texts: str) -> list[QKeySequence]:
    return [QKeySequence(t) for t in texts]


def row_of(action_id: str) -> int:
    return [a.id for a in ACTIONS].index(action_id)


def cell(table: QTableWidget, action_id: str, column: int) -> QTableWidgetItem:
    item = table.item(row_of(action_id), column)
    assert item is not None
    return item


# -- the catalogue and the map ---------------------------------------------------------------------


def test_catalogue_defaults(shortcuts):
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    assert {a.category for a in ACTIONS} == {"File", "Edit", "Canvas", "View", "Run", "Help"}
    assert all("&" not in a.text and a.text for a in ACTIONS)
    for entry in ACTIONS:  # every default is a real key whose portable text reads back the same
        for text in entry.defaults:
            parsed = parse_key(text)
            assert parsed is not None and parsed.toString(QKeySequence.SequenceFormat.PortableText) == text
    assert {a.id for a in ACTIONS if a.informational} == INFORMATIONAL
    assert spec("canvas.bypass").defaults == ("Ctrl+B",)
    assert spec("canvas.mute").defaults == ("Ctrl+M",)
    assert spec("file.model_manager").defaults == ("Ctrl+Shift+M",)
    assert spec("canvas.frame").defaults == ("F", ".")
    assert spec("canvas.quick_add_double_click").text == "Add node: double-click the canvas"
    assert spec("canvas.reroute").defaults == ()
    assert spec("view.minimap").defaults == ("Alt+M",)
    assert spec("run.cancel").defaults == ("Esc", "Ctrl+Alt+Return")  # ComfyUI's interrupt key too
    assert shortcuts.texts("edit.redo") == ["Ctrl+Shift+Z", "Ctrl+Y"]
    assert [k.toString() for k in shortcuts.keys("run.run")] == ["Ctrl+Return", "Ctrl+Enter"]
    assert shortcuts.keys("edit.delete") == [QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")]
    assert shortcuts.conflicts() == {}  # the defaults never clash
    with pytest.raises(KeyError):
        spec("edit.nothing")


def test_set_and_reset(shortcuts):
    shortcuts.set_keys("canvas.bypass", keys("Ctrl+K"))
    assert shortcuts.keys("canvas.bypass") == keys("Ctrl+K")
    shortcuts.set_keys("canvas.mute", [])  # no shortcut, which is not the same as the default
    assert shortcuts.keys("canvas.mute") == []
    assert not shortcuts.is_default("canvas.mute")
    shortcuts.reset("canvas.mute")
    assert shortcuts.keys("canvas.mute") == keys("Ctrl+M")
    assert shortcuts.keys("canvas.bypass") == keys("Ctrl+K")  # the other choice stays
    shortcuts.set_keys("run.cancel", keys("Ctrl+.", "Ctrl+."))  # duplicates are dropped
    assert shortcuts.texts("run.cancel") == ["Ctrl+."]
    shortcuts.reset()
    assert all(shortcuts.is_default(a.id) for a in ACTIONS)
    with pytest.raises(ValueError):
        shortcuts.set_keys("canvas.pan", keys("Ctrl+P"))  # the canvas handles it


def test_choices_survive_on_disk(tmp_path):
    path = tmp_path / "ui.ini"
    first = ShortcutMap(ini(path))
    first.set_keys("canvas.bypass", keys("Ctrl+K", "Ctrl+Alt+B"))
    first.set_keys("canvas.mute", [])
    first.set_keys("file.save", keys("Ctrl+,"))  # a comma inside a one-item list
    first.set_keys("view.minimap", keys("Ctrl+K, Ctrl+M"))  # a two-chord sequence
    assert "canvas.bypass" in path.read_text()
    # A copy under another name is read from disk, not from Qt's per-file cache of this process.
    copy = tmp_path / "copy.ini"
    shutil.copy(path, copy)
    second = ShortcutMap(ini(copy))
    assert second.texts("canvas.bypass") == ["Ctrl+K", "Ctrl+Alt+B"]
    assert second.texts("canvas.mute") == []
    assert second.texts("file.save") == ["Ctrl+,"]
    assert second.texts("view.minimap") == ["Ctrl+K, Ctrl+M"]
    assert second.texts("canvas.group") == ["Ctrl+G"]  # never set: the default


def test_damaged_values_fall_back_to_the_defaults(tmp_path):
    path = tmp_path / "damaged.ini"
    path.write_text(
        "[shortcuts]\n"
        "canvas.bypass=Ctrl+Banana\n"
        "canvas.group=@Rect(0 0 10 10)\n"
        "edit.copy=@ByteArray(Ctrl+K)\n"
        'file.save="Ctrl+K", garbage\n'
        "file.open=@Point(1 2)\n"
        "nothing.known=Ctrl+K\n"
        "canvas.mute=Ctrl+J\n"
    )
    store = ini(path)
    store.setValue("shortcuts/edit.cut", 5)
    store.setValue("shortcuts/edit.paste", {"a": 1})
    store.setValue("shortcuts/edit.duplicate", [1, 2])
    damaged = ShortcutMap(store)
    for action_id in ("canvas.bypass", "canvas.group", "edit.copy", "file.save", "file.open", "edit.cut",
                      "edit.paste", "edit.duplicate"):
        assert damaged.texts(action_id) == list(spec(action_id).defaults), action_id
    assert damaged.texts("canvas.mute") == ["Ctrl+J"]  # a good value beside them is still read
    assert damaged.conflicts() == {}
    action = QAction()
    damaged.apply({"canvas.bypass": action})
    assert action.shortcuts() == keys("Ctrl+B")


def test_conflicts(shortcuts):
    shortcuts.set_keys("canvas.mute", keys("Ctrl+B"))
    assert shortcuts.conflicts() == {"Ctrl+B": ["canvas.bypass", "canvas.mute"]}
    shortcuts.set_keys("file.new", keys("Tab", "Ctrl+N"))  # a key the canvas already uses
    assert shortcuts.conflicts()["Tab"] == ["file.new", "canvas.add_node"]
    shortcuts.reset("canvas.mute")
    shortcuts.reset("file.new")
    assert shortcuts.conflicts() == {}


def test_apply_changes_what_a_key_press_does(qtbot, shortcuts):
    window = QWidget()
    qtbot.addWidget(window)
    bypass, mute, extra = QAction("Bypass", window), QAction("Mute", window), QAction("Other", window)
    window.addActions([bypass, mute, extra])
    extra.setShortcut(QKeySequence("Ctrl+J"))
    fired: list[str] = []
    bypass.triggered.connect(lambda: fired.append("bypass"))
    mute.triggered.connect(lambda: fired.append("mute"))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)

    shortcuts.apply({"canvas.bypass": bypass, "canvas.mute": mute, "not.catalogued": extra})
    assert extra.shortcut() == QKeySequence("Ctrl+J")  # unknown ids are left alone
    qtbot.keyClick(window, Qt.Key.Key_B, CTRL)
    assert fired == ["bypass"]

    shortcuts.set_keys("canvas.bypass", keys("Ctrl+K"))
    shortcuts.set_keys("canvas.mute", [])
    shortcuts.apply({"canvas.bypass": bypass, "canvas.mute": mute})
    assert bypass.shortcuts() == keys("Ctrl+K") and mute.shortcuts() == []
    qtbot.keyClick(window, Qt.Key.Key_B, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_M, CTRL)
    assert fired == ["bypass"]  # the old keys do nothing now
    qtbot.keyClick(window, Qt.Key.Key_K, CTRL)
    assert fired == ["bypass", "bypass"]


# -- Help ▸ Keyboard Shortcuts --------------------------------------------------------------------------


def test_dialog_lists_every_action_and_search_filters(qtbot, shortcuts):
    shortcuts.set_keys("canvas.mute", keys("Ctrl+J"))
    dialog = ShortcutsDialog(shortcuts)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.visible_ids() == [a.id for a in ACTIONS]
    assert cell(dialog.table, "canvas.mute", 2).text() == "Ctrl+J"
    assert cell(dialog.table, "canvas.pan", 2).text() == "Space (hold and drag)"
    qtbot.keyClicks(dialog.search, "bypass")
    assert dialog.visible_ids() == ["canvas.bypass"]
    qtbot.keyClick(dialog.search, Qt.Key.Key_Return)
    assert dialog.isVisible()  # Enter in the search field presses no button
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, "ctrl+shift+m")
    assert dialog.visible_ids() == ["file.model_manager"]
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, "zoom view")
    assert dialog.visible_ids() == ["view.zoom_in", "view.zoom_out"]
    dialog.search.clear()
    assert len(dialog.visible_ids()) == len(ACTIONS)
    with qtbot.waitSignal(dialog.change_requested, timeout=1000):
        qtbot.mouseClick(dialog.change_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


# -- the Preferences editor -------------------------------------------------------------------------------


def press_into(qtbot, editor: ShortcutsEditor, action_id: str, slot: int, key: Qt.Key, mods=CTRL) -> None:
    edit = editor.edits[action_id][slot]
    editor.table.scrollToItem(cell(editor.table, action_id, 0))
    edit.setFocus()
    qtbot.keyClick(edit, key, mods)


def test_editor_records_keys_flags_conflicts_and_applies(qtbot, shortcuts):
    editor = ShortcutsEditor(shortcuts)
    qtbot.addWidget(editor)
    editor.show()
    assert not editor.has_conflicts() and editor.message.isHidden()
    assert INFORMATIONAL.isdisjoint(editor.edits)  # canvas keys are shown, not editable
    assert not cell(editor.table, "canvas.pan", 2).flags() & Qt.ItemFlag.ItemIsEditable

    press_into(qtbot, editor, "canvas.mute", 0, Qt.Key.Key_B)
    assert editor.texts("canvas.mute") == ["Ctrl+B"]
    assert editor.has_conflicts()
    assert editor.conflicting_ids() == {"canvas.bypass", "canvas.mute"}
    assert editor.message.isVisible() and "Bypass" in editor.message.text() and "Mute" in editor.message.text()
    assert cell(editor.table, "canvas.bypass", 0).background().color() == CONFLICT_BG
    assert cell(editor.table, "canvas.group", 0).background().color() != CONFLICT_BG
    assert shortcuts.texts("canvas.mute") == ["Ctrl+M"]  # nothing written before apply()

    press_into(qtbot, editor, "canvas.bypass", 0, Qt.Key.Key_K)  # moving bypass away ends the clash
    press_into(qtbot, editor, "view.minimap", 1, Qt.Key.Key_K, CTRL | SHIFT)
    assert not editor.has_conflicts() and editor.message.isHidden()
    editor.apply()
    assert shortcuts.texts("canvas.mute") == ["Ctrl+B"]
    assert shortcuts.texts("canvas.bypass") == ["Ctrl+K"]
    assert shortcuts.texts("view.minimap") == ["Alt+M", "Ctrl+Shift+K"]
    assert shortcuts.texts("canvas.group") == ["Ctrl+G"] and not shortcuts.store.contains("shortcuts/canvas.group")

    reset = editor.reset_buttons["canvas.mute"]
    assert reset.isEnabled() and not editor.reset_buttons["canvas.group"].isEnabled()
    qtbot.mouseClick(reset, Qt.MouseButton.LeftButton)
    assert editor.texts("canvas.mute") == ["Ctrl+M"]
    assert shortcuts.texts("canvas.mute") == ["Ctrl+B"]  # held until apply()
    editor.apply()
    assert not shortcuts.store.contains("shortcuts/canvas.mute")  # back at the default: nothing stored

    editor.reset_all()
    editor.apply()
    assert all(shortcuts.is_default(a.id) for a in ACTIONS)


def test_editor_search_and_clearing_a_key(qtbot, shortcuts):
    editor = ShortcutsEditor(shortcuts)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.keyClicks(editor.search, "ungroup")
    assert editor.visible_ids() == ["canvas.ungroup"]
    editor.edits["canvas.ungroup"][0].clear()
    editor.apply()
    assert shortcuts.keys("canvas.ungroup") == []  # cleared: no shortcut, stored as an empty list
    assert shortcuts.store.contains("shortcuts/canvas.ungroup")


# -- the Preferences dialog ----------------------------------------------------------------------------


def test_preferences_has_a_shortcuts_tab_and_refuses_conflicts(qtbot, shortcuts, tmp_path, monkeypatch):
    settings = Settings(path=str(tmp_path / "settings.json"))
    plain = PreferencesDialog(settings)
    qtbot.addWidget(plain)
    assert plain.tabs is None and plain.shortcuts_editor is None

    warnings: list[str] = []
    monkeypatch.setattr(preferences, "warn", lambda parent, title, text: warnings.append(text))
    dialog = PreferencesDialog(settings, shortcuts=shortcuts)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.tabs is not None and dialog.shortcuts_editor is not None
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == ["General", "Shortcuts"]
    assert dialog.tabs.currentIndex() == 0
    dialog.show_shortcuts()
    assert dialog.tabs.currentWidget() is dialog.shortcuts_editor
    assert dialog.settings() == settings

    editor = dialog.shortcuts_editor
    press_into(qtbot, editor, "canvas.mute", 0, Qt.Key.Key_B)
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    dialog.tabs.setCurrentIndex(0)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and len(warnings) == 1 and "Bypass" in warnings[0]
    assert dialog.tabs.currentWidget() is editor  # shows where the clash is
    assert shortcuts.texts("canvas.mute") == ["Ctrl+M"]

    qtbot.mouseClick(editor.reset_buttons["canvas.mute"], Qt.MouseButton.LeftButton)
    press_into(qtbot, editor, "canvas.note", 0, Qt.Key.Key_J)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and dialog.result() == QDialog.DialogCode.Accepted
    assert shortcuts.texts("canvas.note") == ["Ctrl+J"] and shortcuts.texts("canvas.mute") == ["Ctrl+M"]
