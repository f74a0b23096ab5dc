"""The self-contained widgets: parameter editors, inspector, node library, preview pane, preferences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from studio.core.graph import Graph, Node
from studio.core.nodetype import Bool, Choice, File, Float, Input, Int, Seed, String
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.types import SEED_MAX
from studio.ui import file_editors, preferences
from studio.ui.editor_base import EditorContext
from studio.ui.file_editors import ImageFileEditor, ModelFileEditor
from studio.ui.inspector import Inspector
from studio.ui.node_library import MIME_NODE_TYPE, NodeLibrary, QuickAddPopup, type_id_from_mime
from studio.ui.param_widgets import (
    BoolEditor,
    EnumEditor,
    LineEditor,
    PromptEditor,
    SeedEditor,
    SliderEditor,
    SpinEditor,
    make_editor,
)
from studio.ui.preferences import PreferencesDialog
from studio.ui.preview_pane import PreviewPane


@pytest.fixture(autouse=True)
def no_windows_left(qapp):
    yield
    for w in QApplication.topLevelWidgets():
        if w.isVisible():
            w.close()
    QApplication.processEvents()
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]


@pytest.fixture
def registry():
    return default_registry()


def record(editor):
    seen: list[tuple[object, bool]] = []
    editor.edited.connect(lambda v, final: seen.append((v, final)))
    return seen


def editor_for(qtbot, inp: Input, context: EditorContext | None = None):
    editor = make_editor(inp, context or EditorContext(model_roots=[], search_dirs=[]))
    qtbot.addWidget(editor)
    return editor


CASES = [
    (Int("steps", 20, min=1, max=150), SliderEditor, 37),
    (Int("width", 512, min=64, max=8192, step=8, widget="spin"), SpinEditor, 768),
    (Int("big", 0), SpinEditor, -12345),
    (Float("cfg", 7.0, min=1.0, max=30.0, step=0.5), SliderEditor, 12.5),
    (Float("denoise", 0.75, min=0.0, max=1.0, step=0.01), SliderEditor, 0.33),
    (Float("scale", 1.0), SpinEditor, 2.25),
    (Bool("tiled", False), BoolEditor, True),
    (Choice("sampler", ["euler", "dpm++ 2m", "ddim"], "euler"), EnumEditor, "ddim"),
    (String("prefix", "ls"), LineEditor, "my images"),
    (String("prompt", "", multiline=True), PromptEditor, "a cat\nin a hat"),
    (Seed(), SeedEditor, 123456789012345),
    (File("image", "", file_kind="image"), ImageFileEditor, "/nowhere/x.png"),
    (File("ckpt", "", file_kind="checkpoints"), ModelFileEditor, "sd15/model.safetensors"),
]


@pytest.mark.parametrize("inp,cls,value", CASES, ids=[c[0].name for c in CASES])
def test_each_kind_round_trips_without_emitting(qtbot, inp, cls, value):
    editor = editor_for(qtbot, inp)
    assert type(editor) is cls
    seen = record(editor)
    assert editor.value() == inp.default
    editor.set_value(value)
    assert editor.value() == value
    assert type(editor.value()) is type(value)
    editor.set_value(inp.default)
    assert editor.value() == inp.default
    assert seen == []


def test_a_damaged_stored_value_does_not_break_an_editor(qtbot):
    editor = editor_for(qtbot, Int("steps", 20, min=1, max=150))
    editor.set_value("twenty")
    assert editor.value() == 20


def test_unknown_enum_value_is_kept(qtbot):
    editor = editor_for(qtbot, Choice("mode", ["a", "b"]))
    editor.set_value("from-the-future")
    assert editor.value() == "from-the-future"


def test_slider_drag_reports_live_values_then_one_final(qtbot):
    editor = editor_for(qtbot, Int("low", 100, min=0, max=255, widget="slider"))
    editor.resize(300, 30)
    editor.show()
    qtbot.waitExposed(editor)
    seen = record(editor)
    slider = editor.slider._slider
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider).center()
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=handle)
    for dx in (5, 10, 20):
        qtbot.mouseMove(slider, handle + QPoint(dx, 0))
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=handle + QPoint(20, 0))
    assert len(seen) >= 3
    assert all(not final for _, final in seen[:-1])
    assert seen[-1] == (editor.value(), True)
    assert seen[-1][0] > 100
    # Pressing and releasing without moving is no edit at all.
    seen.clear()
    slider.setSliderDown(True)
    slider.setSliderDown(False)
    assert seen == []


def test_refresh_mid_drag_does_not_swallow_the_final_edit(qtbot):
    # The receiver may apply live values to the graph and refresh the editor from it.
    editor = editor_for(qtbot, Int("low", 100, min=0, max=255, widget="slider"))
    seen = record(editor)
    editor.edited.connect(lambda v, final: editor.set_value(v))
    editor.slider.setSliderDown(True)
    editor.slider.setValue(120)
    editor.slider.setValue(140)
    editor.slider.setSliderDown(False)
    assert seen == [(120, False), (140, False), (140, True)]


def test_refresh_while_typing_keeps_the_cursor(qtbot):
    editor = editor_for(qtbot, String("prompt", "", multiline=True))
    editor.edited.connect(lambda v, final: editor.set_value(v))
    editor.show()
    editor.text.setFocus()
    qtbot.keyClicks(editor.text, "abc")
    editor.text.moveCursor(editor.text.textCursor().MoveOperation.Left)
    qtbot.keyClicks(editor.text, "X")
    assert editor.value() == "abXc"


def test_float_slider_snaps_to_its_step(qtbot):
    editor = editor_for(qtbot, Float("blur", 0.0, min=0.0, max=10.0, step=0.1))
    editor.slider.setValue(3.14159)
    assert editor.value() == 3.1


def test_keyboard_step_on_slider_is_final(qtbot):
    editor = editor_for(qtbot, Int("steps", 20, min=1, max=150))
    seen = record(editor)
    editor.slider.setValue(21)
    assert seen == [(21, True)]


def test_typing_is_live_and_editing_finished_is_final(qtbot):
    editor = editor_for(qtbot, String("prefix", ""))
    editor.show()
    seen = record(editor)
    editor.line.setFocus()
    qtbot.keyClicks(editor.line, "ab")
    qtbot.keyClick(editor.line, Qt.Key.Key_Return)
    assert seen == [("a", False), ("ab", False), ("ab", True)]


def test_spin_box_typing_then_enter(qtbot):
    editor = editor_for(qtbot, Int("width", 512, min=64, max=8192, step=8, widget="spin"))
    editor.show()
    seen = record(editor)
    editor.spin.lineEdit().selectAll()
    qtbot.keyClicks(editor.spin.lineEdit(), "640")
    qtbot.keyClick(editor.spin.lineEdit(), Qt.Key.Key_Return)
    assert seen[-1] == (640, True)
    assert all(not final for _, final in seen[:-1])
    seen.clear()
    editor.spin.stepBy(1)  # an arrow click is complete on its own
    assert seen == [(648, True)]


def test_seed_keeps_exact_64_bit_values(qtbot):
    editor = editor_for(qtbot, Seed())
    editor.set_value(SEED_MAX)
    assert editor.value() == SEED_MAX == 2**64 - 1
    editor.set_value(2**63 + 1)
    assert editor.value() == 2**63 + 1
    seen = record(editor)
    editor.line.setText("99999999999999999999")  # above the maximum: clamped
    editor.line.editingFinished.emit()
    assert seen == [(SEED_MAX, True)]
    assert editor.line.text() == str(SEED_MAX)


def test_seed_randomize_button(qtbot):
    editor = editor_for(qtbot, Seed())
    seen = record(editor)
    editor.dice.click()
    assert len(seen) == 1 and seen[0][1] is True and seen[0][0] == editor.value()


def test_model_editor_lists_model_files(qtbot, tmp_path):
    (tmp_path / "checkpoints" / "sd15").mkdir(parents=True)
    (tmp_path / "checkpoints" / "sd15" / "a.safetensors").write_bytes(b"x")
    (tmp_path / "checkpoints" / "b.safetensors").write_bytes(b"x")
    editor = editor_for(qtbot, File("ckpt", "", file_kind="checkpoints"), EditorContext(model_roots=[tmp_path]))
    assert editor.names() == ["b.safetensors", "sd15/a.safetensors"]
    seen = record(editor)
    editor.combo.setCurrentIndex(1)
    editor.combo.activated.emit(1)
    assert seen == [("sd15/a.safetensors", True)]


def test_image_editor_browse_shows_thumbnail(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "in.png"
    image = QImage(64, 32, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.red)
    assert image.save(str(path))
    editor = editor_for(qtbot, File("image", "", file_kind="image"), EditorContext(search_dirs=[str(tmp_path)]))
    assert not editor.has_thumbnail()
    monkeypatch.setattr(file_editors, "pick_open_file", lambda *a: str(path))
    seen = record(editor)
    editor.browse.click()
    assert seen == [(str(path), True)]
    assert editor.has_thumbnail()
    editor.set_value("in.png")  # relative: found in the search folders
    assert editor.has_thumbnail()
    editor.set_value("missing.png")
    assert not editor.has_thumbnail()


# -- inspector -----------------------------------------------------------------------------------


def test_inspector_shows_one_editor_per_param_and_reports_edits(qtbot, registry):
    graph = Graph(registry)
    node = graph.add_node("preprocess.canny")
    inspector = Inspector(EditorContext(model_roots=[], search_dirs=[]))
    qtbot.addWidget(inspector)
    inspector.show_node(graph, node.id)
    nt = registry["preprocess.canny"]
    assert list(inspector.editors) == [i.name for i in nt.params]
    assert inspector.title.text() == "Canny Edges"
    assert "preprocess.canny" in inspector.type_label.text()
    labels = [inspector.form.labelForField(e).text() for e in inspector.editors.values()]
    assert labels == [i.display_name for i in nt.params]
    with qtbot.waitSignal(inspector.param_edited) as blocker:
        inspector.editor("high").slider.setValue(180)
    assert blocker.args == [node.id, "high", 180, True]


def test_inspector_refresh_values_is_silent(qtbot, registry):
    graph = Graph(registry)
    node = graph.add_node("preprocess.canny")
    inspector = Inspector(EditorContext(model_roots=[], search_dirs=[]))
    qtbot.addWidget(inspector)
    inspector.show_node(graph, node.id)
    seen = []
    inspector.param_edited.connect(lambda *a: seen.append(a))
    graph.set_param(node.id, "low", 42)
    graph.set_param(node.id, "blur", 1.5)
    inspector.refresh_values()
    assert inspector.editor("low").value() == 42
    assert inspector.editor("blur").value() == 1.5
    assert seen == []


def test_inspector_title_and_empty_state(qtbot, registry):
    graph = Graph(registry)
    node = graph.add_node("preprocess.canny")
    inspector = Inspector(EditorContext(model_roots=[], search_dirs=[]))
    qtbot.addWidget(inspector)
    assert inspector.stack.currentWidget() is inspector.empty
    inspector.show_node(graph, node.id)
    with qtbot.waitSignal(inspector.title_edited) as blocker:
        inspector.title.setText("Edges")
        inspector.title.editingFinished.emit()
    assert blocker.args == [node.id, "Edges"]
    inspector.show_node(graph, None)
    assert inspector.stack.currentWidget() is inspector.empty
    assert inspector.editors == {}


def test_inspector_placeholder_lists_stored_params(qtbot, registry):
    graph = Graph(registry)
    graph.insert_node(Node("p1", "vendor.mystery", "2.0.0", {"strength": 0.5, "names": ["a", "b"]}))
    inspector = Inspector()
    qtbot.addWidget(inspector)
    inspector.show_node(graph, "p1")
    assert not inspector.notice_box.isHidden()
    assert "vendor.mystery" in inspector.notice.text()
    assert inspector.editor("strength").value() == 0.5
    assert inspector.editor("names").line.isReadOnly()
    assert inspector.editor("names").line.text() == '["a", "b"]'


# -- node library --------------------------------------------------------------------------------


def test_library_filters_and_adds_on_double_click(qtbot, registry):
    library = NodeLibrary(registry)
    qtbot.addWidget(library)
    assert len(library.visible_type_ids()) == len(registry)
    library.search.setText("canny")
    assert library.visible_type_ids() == ["preprocess.canny"]
    library.search.setText("preprocess.can")  # by id
    assert library.visible_type_ids() == ["preprocess.canny"]
    library.search.setText("zzz-no-such-node")
    assert library.visible_type_ids() == []
    library.search.setText("")
    item = library.item_for("preprocess.canny")
    with qtbot.waitSignal(library.add_requested) as blocker:
        library.tree.itemDoubleClicked.emit(item, 0)
    assert blocker.args == ["preprocess.canny"]


def test_library_enter_in_search_adds_first_match(qtbot, registry):
    library = NodeLibrary(registry)
    qtbot.addWidget(library)
    library.show()
    library.search.setText("edges")
    with qtbot.waitSignal(library.add_requested) as blocker:
        qtbot.keyClick(library.search, Qt.Key.Key_Return)
    assert blocker.args == ["preprocess.canny"]


def test_library_drag_carries_the_type_id(qtbot, registry):
    library = NodeLibrary(registry)
    qtbot.addWidget(library)
    item = library.item_for("preprocess.canny")
    mime = library.tree.mimeData([item])
    assert bytes(mime.data(MIME_NODE_TYPE).data()).decode("utf-8") == "preprocess.canny"
    assert type_id_from_mime(mime) == "preprocess.canny"
    assert item.flags() & Qt.ItemFlag.ItemIsDragEnabled
    assert not item.parent().flags() & Qt.ItemFlag.ItemIsDragEnabled


def test_quick_add_popup_filter_keys_and_escape(qtbot, registry):
    popup = QuickAddPopup(registry)
    qtbot.addWidget(popup)
    popup.popup(QPoint(100, 100))
    assert popup.isVisible()
    assert len(popup.type_ids()) == len(registry)
    popup.hide()
    # Only node types with an IMAGE wire input, as for a wire dropped on empty canvas.
    popup.popup(QPoint(100, 100), lambda nt: any(i.type.kind.value == "IMAGE" for i in nt.wires))
    assert "preprocess.canny" in popup.type_ids()
    assert "image.load" not in popup.type_ids()
    qtbot.keyClicks(popup.search, "canny")
    assert popup.type_ids() == ["preprocess.canny"]
    with qtbot.waitSignal(popup.chosen) as blocker:
        qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert blocker.args == ["preprocess.canny"]
    assert not popup.isVisible()
    popup.popup(QPoint(100, 100))
    qtbot.keyClick(popup.search, Qt.Key.Key_Down)
    assert popup.list.currentRow() == 1
    qtbot.keyClick(popup.search, Qt.Key.Key_Escape)
    assert not popup.isVisible()


# -- preview pane --------------------------------------------------------------------------------


def shown_pane(qtbot) -> PreviewPane:
    pane = PreviewPane()
    qtbot.addWidget(pane)
    pane.resize(400, 400)
    pane.show()
    qtbot.waitExposed(pane)
    return pane


def test_preview_drops_stale_frames(qtbot):
    pane = shown_pane(qtbot)
    for i in range(50):
        frame = np.full((32, 48, 3), i * 5, dtype=np.uint8)
        pane.show_array(frame, f"step {i + 1}/50 · Sampler")
    assert pane.frames_received == 50
    qtbot.waitUntil(lambda: pane.frames_painted >= 1)
    assert pane.frames_painted <= 2
    image = pane.current_image()
    assert (image.width(), image.height()) == (48, 32)
    assert image.pixelColor(0, 0).red() == 49 * 5
    assert pane.caption.text() == "step 50/50 · Sampler"


def test_preview_accepts_float_batches_and_clears(qtbot):
    pane = shown_pane(qtbot)
    batch = np.zeros((4, 16, 16, 3), np.float32)
    batch[3] = 1.0
    pane.show_array(batch, "Canny Edges · 16×16")
    image = pane.current_image()
    assert (image.width(), image.height()) == (32, 32)  # a 2×2 grid
    assert image.pixelColor(31, 31).red() == 255 and image.pixelColor(0, 0).red() == 0
    pane.clear("nothing to show")
    assert pane.current_image() is None


def test_preview_fit_and_actual_pixels_change_scale(qtbot):
    pane = shown_pane(qtbot)
    pane.show_array(np.zeros((100, 100, 3), np.uint8), "x")
    qtbot.waitUntil(lambda: pane.frames_painted == 1)
    assert pane.is_fit()
    fit_scale = pane.scale()
    assert fit_scale > 2  # a 100 px image fills a pane of about 400 px
    pane.actual_action.trigger()
    assert not pane.is_fit()
    assert pane.scale() == pytest.approx(1 / pane.devicePixelRatioF())
    pane.view.zoom(2.0, QPointF(10, 10))
    assert pane.scale() == pytest.approx(2 / pane.devicePixelRatioF())
    pane.fit_action.trigger()
    assert pane.is_fit() and pane.scale() == pytest.approx(fit_scale)


def test_preview_zoom_keeps_the_point_under_the_cursor(qtbot):
    pane = shown_pane(qtbot)
    pane.show_array(np.zeros((100, 100, 3), np.uint8))
    pane.current_image()
    view = pane.view
    anchor = QPointF(120, 90)
    view.actual_pixels()
    before = (anchor - view.offset) / view.scale
    view.zoom(1.25, anchor)
    after = (anchor - view.offset) / view.scale
    assert (before.x(), before.y()) == pytest.approx((after.x(), after.y()))


# -- preferences ---------------------------------------------------------------------------------


def test_preferences_round_trip(qtbot, tmp_path, monkeypatch):
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    original = Settings(models_root=str(tmp_path / "models"), extra_model_roots=["/a"], output_dir="/out",
                        input_dir="/in", device="cuda", dtype="fp16", preview="taesd", allow_ckpt=False,
                        memory_budget_gb=6.0, path=str(tmp_path / "settings.json"))
    dialog = PreferencesDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.settings() == original
    assert dialog.settings().path == original.path
    monkeypatch.setattr(preferences, "pick_folder", lambda *a: str(comfy))
    dialog.extra_roots.browse_add()
    assert "ComfyUI" in dialog.extra_roots.list.item(1).text()  # the kind of tree is recognised
    dialog.extra_roots.list.setCurrentRow(0)
    dialog.extra_roots.remove_selected()
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.allow_ckpt.setChecked(True)
    edited = dialog.settings()
    assert edited.extra_model_roots == [str(comfy)]
    assert (edited.device, edited.allow_ckpt, edited.dtype) == ("cpu", True, "fp16")
    assert original.extra_model_roots == ["/a"]  # the caller's object is untouched
    edited.save(Path(edited.path))
    assert Settings.load(Path(edited.path)) == edited
