"""The preferences dialog shows and edits the speed settings (compile, layout, fused QKV, threads)."""

from PySide6.QtCore import QPoint, Qt

from studio.core.settings import Settings
from studio.ui.preferences import PreferencesDialog


def test_speed_settings_round_trip_through_the_dialog(qtbot):
    original = Settings(compile_models="on", channels_last="off", fuse_qkv=False, torch_threads=3)
    dialog = PreferencesDialog(original)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.settings() == original
    assert dialog.threads.value() == 3 and dialog.compile_models.currentData() == "on"
    box = dialog.fuse_qkv
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on the tick box
    dialog.compile_models.setCurrentIndex(dialog.compile_models.findData("auto"))
    dialog.threads.clear()
    qtbot.keyClicks(dialog.threads, "0")
    edited = dialog.settings()
    assert (edited.fuse_qkv, edited.compile_models, edited.channels_last, edited.torch_threads) == (
        True, "auto", "off", 0)
    assert dialog.threads.specialValueText() == "automatic (physical cores)"  # what 0 reads as
