from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

from nodes.image import load_mask, save_mask
from studio.core.executor import Executor
from studio.core.settings import Settings
from studio.ui.mask_editor import MaskEditor, edit_mask_for_node, safe_stem, save_new_mask

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "images" / "sample.png"
LEFT, MIDDLE, NOMOD = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier
W, H = 200, 120


def at(canvas, x, y) -> QPoint:
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def stroke(canvas, points, button=LEFT):
    """A real mouse drag through image points ``points`` (placed as the view is before the drag)."""
    screen = [at(canvas, *p) for p in points]
    QTest.mousePress(canvas, button, NOMOD, screen[0])
    for p in screen[1:]:
        QTest.mouseMove(canvas, p)
    QTest.mouseRelease(canvas, button, NOMOD, screen[-1])


def line(a, b, steps=6):
    return [(a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps) for i in range(steps + 1)]


def show(qtbot, dlg):
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.canvas.setFocus()
    return dlg


@pytest.fixture
def dlg(qtbot):
    image = np.full((H, W, 3), 0.5, np.float32)
    d = show(qtbot, MaskEditor(image))
    d.canvas.set_size(20)
    assert d.canvas.scale > 2  # image pixels are larger than screen pixels: positions map exactly
    return d


def test_a_hard_horizontal_stroke_covers_the_line_within_its_radius(dlg):
    stroke(dlg.canvas, line((40, 60), (160, 60)))
    m = dlg.mask()
    assert m.shape == (H, W) and m.dtype == np.float32
    assert (m[52:69, 40:161] == 1.0).all()  # radius 10 around the line (less a pixel of anti-aliasing)
    assert (m[:48, :] == 0).all() and (m[73:, :] == 0).all()
    assert (m[:, :28] == 0).all() and (m[:, 173:] == 0).all()  # round caps end one radius out
    assert m[60, 31] > 0.5 and m[51, 100] > 0 and m[69, 100] > 0  # the caps and the anti-aliased rim
    assert dlg.canvas.stack.count() == 1


def test_a_fast_stroke_leaves_no_gaps(dlg):
    stroke(dlg.canvas, [(10, 30), (190, 90)])  # one move across the whole image
    m = dlg.mask()
    xs = np.arange(10, 191)
    ys = np.round(30 + (xs - 10) * 60 / 180).astype(int)
    assert (m[ys, xs] == 1.0).all()


def test_the_eraser_removes_and_b_e_switch_tools(dlg, qtbot):
    c = dlg.canvas
    stroke(c, line((20, 60), (180, 60)))
    qtbot.keyClick(c, Qt.Key.Key_E)
    assert c.tool == "eraser" and dlg.act_eraser.isChecked() and not dlg.act_brush.isChecked()
    stroke(c, line((100, 10), (100, 110)))
    m = dlg.mask()
    assert (m[50:71, 93:108] == 0).all() and m[60, 60] == 1.0 and m[60, 140] == 1.0
    qtbot.keyClick(c, Qt.Key.Key_B)
    assert c.tool == "brush" and dlg.act_brush.isChecked()
    stroke(c, line((100, 60), (100, 61)))
    assert dlg.mask()[60, 100] == 1.0


def test_fill_invert_and_clear_from_the_toolbar(dlg, qtbot):
    c = dlg.canvas

    def click(action):
        qtbot.mouseClick(dlg.toolbar.widgetForAction(action), LEFT)

    stroke(c, line((40, 60), (160, 60)))
    painted = dlg.mask()
    click(dlg.act_invert)
    assert np.allclose(dlg.mask(), 1.0 - painted, atol=1 / 255)
    click(dlg.act_fill)
    assert (dlg.mask() == 1.0).all()
    click(dlg.act_clear)
    assert (dlg.mask() == 0.0).all()
    assert c.stack.count() == 4
    click(dlg.act_clear)  # nothing to clear: no empty undo step
    assert c.stack.count() == 4
    click(dlg.act_undo)
    assert (dlg.mask() == 1.0).all()


def test_undo_and_redo_one_stroke_at_a_time(dlg, qtbot):
    c = dlg.canvas
    stroke(c, line((20, 30), (180, 30), steps=10))
    first = dlg.mask()
    stroke(c, line((20, 90), (180, 90), steps=10))
    both = dlg.mask()
    assert c.stack.count() == 2 and both[90, 100] == 1.0 and first[90, 100] == 0.0
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(c, Qt.Key.Key_Z, ctrl)
    assert np.array_equal(dlg.mask(), first)
    qtbot.keyClick(c, Qt.Key.Key_Z, ctrl)
    assert (dlg.mask() == 0).all()
    qtbot.keyClick(c, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(dlg.mask(), first)
    qtbot.keyClick(c, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(dlg.mask(), both)


def test_a_soft_brush_fades_towards_its_rim(dlg):
    dlg.hardness_slider.setValue(0)
    assert dlg.canvas.hardness == 0.0 and dlg.hardness_label.text().strip() == "0%"
    dlg.canvas.set_size(40)
    stroke(dlg.canvas, line((40, 60), (160, 60), steps=12))
    m = dlg.mask()
    profile = m[60:85, 100]  # from the line outwards
    assert profile[0] > 0.97
    assert ((profile > 0.05) & (profile < 0.95)).sum() >= 8  # a feathered edge, not a step
    assert (np.diff(profile) <= 1 / 255).all()  # never brighter further out
    assert (m[85:, :] == 0).all()
    # Dabs along a stroke do not pile up: the middle of the stroke is as soft as its profile says.
    assert abs(float(m[70, 80]) - float(m[70, 120])) < 0.05


def test_size_keys_slider_and_the_brush_circle(dlg, qtbot):
    c = dlg.canvas
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size == 24 and dlg.size_slider.value() == 24 and dlg.size_spin.value() == 24
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    assert c.brush_size < 24 and dlg.size_spin.value() == round(c.brush_size)
    dlg.size_slider.setValue(30)
    assert c.brush_size == 30
    before = c.grab().toImage()
    QTest.mouseMove(c, at(c, 100, 60))
    after = c.grab().toImage()
    rim = c.to_widget(QPointF(100 + 15, 60))  # the circle: brush radius, in screen pixels
    x, y = round(rim.x()), round(rim.y())
    changed = [abs(after.pixelColor(x + dx, y).lightness() - before.pixelColor(x + dx, y).lightness())
               for dx in (-1, 0, 1)]
    assert max(changed) > 30  # the white-on-black ring over mid grey
    far = at(c, 100 + 40, 60)
    assert after.pixelColor(far) == before.pixelColor(far)
    assert (dlg.mask() == 0).all()  # moving paints nothing


def test_wheel_zoom_keeps_the_point_under_the_cursor_and_ctrl_0_fits(dlg, qtbot):
    c = dlg.canvas
    fitted = c.scale
    pos = QPointF(at(c, 50, 40))
    under = c.to_image(pos)
    event = QWheelEvent(pos, c.mapToGlobal(pos), QPoint(), QPoint(0, 240), Qt.MouseButton.NoButton, NOMOD,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, event)
    assert c.scale == pytest.approx(fitted * 1.44)
    after = c.to_image(pos)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()))
    qtbot.keyClick(c, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert c.scale == pytest.approx(fitted)


def test_middle_drag_and_space_drag_pan_without_painting(dlg, qtbot):
    c = dlg.canvas
    start = QPointF(c.offset)
    stroke(c, [(50, 50), (60, 55), (70, 60)], button=MIDDLE)
    assert (c.offset.x() - start.x(), c.offset.y() - start.y()) == pytest.approx((20 * c.scale, 10 * c.scale), abs=1)
    moved = QPointF(c.offset)
    QTest.keyPress(c, Qt.Key.Key_Space)
    stroke(c, [(100, 60), (90, 60)])
    QTest.keyRelease(c, Qt.Key.Key_Space)
    assert c.offset.x() - moved.x() == pytest.approx(-10 * c.scale, abs=1)
    assert (dlg.mask() == 0).all() and c.stack.count() == 0


def test_an_existing_mask_is_where_the_editor_starts(qtbot):
    start = np.zeros((H, W), np.float32)
    start[10:20, 10:20] = 0.6
    d = show(qtbot, MaskEditor((np.full((H, W, 3), 128, np.uint8)), start))
    assert np.allclose(d.mask(), start, atol=0.5 / 255)
    with pytest.raises(ValueError, match="mask"):
        MaskEditor(np.zeros((H, W, 3), np.uint8), np.zeros((H + 1, W), np.float32))


# -- files ----------------------------------------------------------------------------------------


def test_save_and_load_round_trip_keeps_soft_values(tmp_path):
    mask = np.linspace(0, 1, W * H, dtype=np.float32).reshape(H, W)
    path = save_mask(mask, tmp_path / "m.png")
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (W, H)
        assert np.asarray(im)[0, 0] == 0 and np.asarray(im)[-1, -1] == 255
    back = load_mask(path, (W, H))
    assert back.dtype == np.float32 and back.shape == (H, W)
    assert np.abs(back - mask).max() <= 0.5 / 255 + 1e-6
    assert not list(tmp_path.glob(".tmp-*"))  # written through a temporary file, nothing left over


def test_load_mask_reads_alpha_or_brightness_and_stretches(tmp_path):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = 255
    rgba[:, :3, 3] = 0  # left half transparent: the area to repaint, as Load Image reads alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    m = load_mask(tmp_path / "alpha.png", (6, 4))
    assert (m[:, :3] == 1).all() and (m[:, 3:] == 0).all()
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, 4:] = 255
    Image.fromarray(rgb).save(tmp_path / "white.png")
    notes = []
    m = load_mask(tmp_path / "white.png", (12, 8), note=notes.append)
    assert m.shape == (8, 12) and m[:, :6].max() == 0 and m[:, 10:].min() == 1
    assert notes == ["mask white.png is 6×4; stretched to the image's 12×8"]


@pytest.mark.parametrize("name", ["../../escape.png", "/etc/passwd", "..\\..\\win.png", "sub/../../x.png",
                                  "..", "~/.bashrc", "C:\\Windows\\evil.png", "a\x00b\nc.png", ""])
def test_a_mask_name_never_leaves_its_folder(tmp_path, name):
    folder = tmp_path / "in"
    path = save_new_mask(np.ones((4, 4), np.float32), folder, name)
    assert path.parent == folder and path.name.endswith("_mask.png") and not path.name.startswith(".")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["in", f"in/{path.name}"]


def test_a_mask_never_overwrites_a_file(tmp_path):
    (tmp_path / "photo_mask.png").write_bytes(b"precious")
    victim = tmp_path / "victim"
    (tmp_path / "photo_mask_2.png").symlink_to(victim)  # dangling: writing through it would create it
    path = save_new_mask(np.ones((4, 4), np.float32), tmp_path, "photo.jpg")
    assert path == tmp_path / "photo_mask_3.png"
    assert (tmp_path / "photo_mask.png").read_bytes() == b"precious" and not victim.exists()
    assert safe_stem("holiday.final.jpg") == "holiday.final"


# -- the window's entry point ----------------------------------------------------------------------


def paint_and_accept(qtbot, points, *, accept=True):
    """Stands in for the modal loop: a real stroke, then OK (or Cancel)."""

    def fake_exec(self):
        show(qtbot, self)
        stroke(self.canvas, points)
        (self.accept if accept else self.reject)()
        return QDialog.DialogCode.Accepted if accept else QDialog.DialogCode.Rejected

    return fake_exec


def test_edit_mask_for_a_load_image_node_sets_its_mask_in_one_undo_step(make_window, qtbot, tmp_path,
                                                                        monkeypatch):
    inputs = tmp_path / "input"
    w = make_window(settings=Settings(input_dir=str(inputs)))
    node_id = w.editor.add_node("image.load", (0, 0))
    w.editor.set_param(node_id, "image", str(SAMPLE))
    steps = w.editor.stack.index()
    monkeypatch.setattr(MaskEditor, "exec", paint_and_accept(qtbot, line((100, 200), (400, 200))))
    assert edit_mask_for_node(w, node_id)
    assert w.graph.nodes[node_id].params["mask"] == "sample_mask.png"
    saved = load_mask(inputs / "sample_mask.png", (512, 512))
    assert saved[200, 250] == 1.0 and saved[400, 250] == 0.0
    ex = Executor()
    assert ex.run(w.graph.snapshot(), services=w.session.run_services()).ok
    _image, mask = ex.outputs_of(node_id)
    assert np.array_equal(mask[0], saved)  # the node's MASK output is the painted file
    assert w.editor.stack.index() == steps + 1
    w.editor.stack.undo()
    assert w.graph.nodes[node_id].params["mask"] == "" and w.graph.nodes[node_id].params["image"] == str(SAMPLE)


def test_the_mask_goes_next_to_a_saved_workflow_and_a_second_edit_makes_a_new_file(make_window, qtbot,
                                                                                  tmp_path, monkeypatch):
    w = make_window(settings=Settings(input_dir=str(tmp_path / "input")))
    node_id = w.editor.add_node("image.load", (0, 0))
    w.editor.set_param(node_id, "image", str(SAMPLE))
    (tmp_path / "work").mkdir()
    w.session.save(tmp_path / "work" / "flow.json")
    monkeypatch.setattr(MaskEditor, "exec", paint_and_accept(qtbot, line((100, 100), (400, 100))))
    assert edit_mask_for_node(w, node_id)
    monkeypatch.setattr(MaskEditor, "exec", paint_and_accept(qtbot, line((100, 300), (400, 300))))
    assert edit_mask_for_node(w, node_id)
    assert w.graph.nodes[node_id].params["mask"] == "sample_mask_2.png"
    second = load_mask(tmp_path / "work" / "sample_mask_2.png", (512, 512))
    assert second[100, 250] == 1.0 and second[300, 250] == 1.0  # it started from the first mask
    assert not (tmp_path / "input").exists()
    w.editor.stack.undo()  # back to the first mask, whose file is still there
    assert w.graph.nodes[node_id].params["mask"] == "sample_mask.png"
    assert (tmp_path / "work" / "sample_mask.png").is_file()
    # Cancel changes nothing.
    monkeypatch.setattr(MaskEditor, "exec", paint_and_accept(qtbot, line((10, 10), (50, 10)), accept=False))
    index = w.editor.stack.index()
    assert not edit_mask_for_node(w, node_id)
    assert w.editor.stack.index() == index and len(list((tmp_path / "work").glob("*_mask*.png"))) == 2


def test_edit_mask_for_another_node_adds_a_load_image_with_both_files(make_window, qtbot, tmp_path, monkeypatch):
    inputs = tmp_path / "input"
    w = make_window(settings=Settings(input_dir=str(inputs)))
    node_id = w.editor.add_node("image.scale", (100, 50))
    assert not edit_mask_for_node(w, node_id)  # not run yet: no image to paint on
    picture = np.zeros((1, 64, 96, 3), np.float32)
    picture[..., 1] = 1.0
    w.runs.last_previews[node_id] = picture
    before = set(w.graph.nodes)
    steps = w.editor.stack.index()
    monkeypatch.setattr(MaskEditor, "exec", paint_and_accept(qtbot, line((10, 32), (80, 32))))
    assert edit_mask_for_node(w, node_id)
    (new_id,) = set(w.graph.nodes) - before
    new = w.graph.nodes[new_id]
    assert new.type_id == "image.load" and new.pos[0] > 100 and new.pos[1] == 50
    assert not [lk for lk in w.graph.links.values() if new_id in (lk.src, lk.dst)]
    assert (new.params["image"], new.params["mask"]) == ("Scale Image.png", "Scale Image_mask.png")
    with Image.open(inputs / "Scale Image.png") as im:
        assert im.size == (96, 64) and im.getpixel((5, 5)) == (0, 255, 0)
    assert load_mask(inputs / "Scale Image_mask.png", (96, 64))[32, 40] == 1.0
    summary = Executor().run(w.graph.snapshot([new_id]), services=w.session.run_services())
    assert summary.ok
    assert w.editor.stack.index() == steps + 1
    w.editor.stack.undo()
    assert new_id not in w.graph.nodes
