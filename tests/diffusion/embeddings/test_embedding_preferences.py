"""The bare-embedding-names setting: validated in the settings file, toggled in Preferences, saved."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox

from studio.core.settings import Settings


def test_setting_defaults_on_and_is_validated(tmp_path):
    path = tmp_path / "settings.json"
    assert Settings.load(path).bare_embedding_names is True
    path.write_text(json.dumps({"bare_embedding_names": "no"}))
    loaded = Settings.load(path)
    assert loaded.bare_embedding_names is True and "bare_embedding_names" in loaded.warnings[0]


def test_toggling_it_in_preferences_saves_it(qtbot, tmp_path):
    from studio.ui.preferences import PreferencesDialog

    path = tmp_path / "settings.json"
    dialog = PreferencesDialog(Settings(path=str(path)))
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.bare_embeddings
    assert box.isChecked() and "embedding" in box.toolTip()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert not box.isChecked()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    edited = dialog.settings()
    edited.save()
    assert Settings.load(path).bare_embedding_names is False
    dialog2 = PreferencesDialog(Settings.load(path))
    qtbot.addWidget(dialog2)
    assert not dialog2.bare_embeddings.isChecked()
