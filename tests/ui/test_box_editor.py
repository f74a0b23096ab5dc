"""The box editor: boxes drawn, moved and resized with the mouse become undoable parameter edits that
the inspector, the preview overlay and a run all see."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt
from PySide6.QtTest import QTest

from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.nodetype import BoxParams, Float, Int, Out, String, Wire, node
from studio.core.registry import Registry
from studio.ui.box_editor import BoxEditor
from studio.ui.box_model import output_size, read_rect, rect_values
from studio.ui.editor import Editor

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
RECORDED: list[dict] = []


def _px(name: str, default: int, lo: int = 0) -> object:
    return Int(name, default, min=lo, max=8192, step=8)


def _frac(name: str, default: float) -> object:
    return Float(name, default, min=0.0, max=1.0, step=0.01)


@node("boxtest.area", title="Area Box", category="Test",
      inputs=[Wire("conditioning", "CONDITIONING", optional=True), String("phrase", "a red car"), _px("x", 0), _px("y", 0), _px("width", 64, 16), _px("height", 64, 16)],
      outputs=[Out("conditioning", "CONDITIONING")], box=BoxParams(label="phrase"))
def area_box(ctx, conditioning, phrase, x, y, width, height):
    return ({"phrase": phrase, "x": x, "y": y, "width": width, "height": height},)  # one output: the dict


@node("boxtest.percent", title="Percent Box", category="Test",
      inputs=[Wire("conditioning", "CONDITIONING", optional=True),
              _frac("x", 0.0), _frac("y", 0.0), _frac("width", 0.5), _frac("height", 0.5)],
      outputs=[Out("conditioning", "CONDITIONING")], box=BoxParams(relative=True))
def percent_box(ctx, conditioning, x, y, width, height):
    return ({"x": x, "y": y, "width": width, "height": height},)


@node("boxtest.prompt", title="Prompt", category="Test", inputs=[String("text", "")],
      outputs=[Out("conditioning", "CONDITIONING")])
def prompt(ctx, text):
    return ({"text": text},)


@node("boxtest.latent", title="Blank Latent", category="Test",
      inputs=[_px("width", 512, 8), _px("height", 384, 8)], outputs=[Out("latent", "LATENT")])
def blank_latent(ctx, width, height):
    return (width, height)


@node("boxtest.sampler", title="Recording Sampler", category="Test", side_effect=True,
      inputs=[Wire("positive", "CONDITIONING"), Wire("latent", "LATENT")], outputs=[Out("latent", "LATENT")])
def recording_sampler(ctx, positive, latent):
    RECORDED.append(dict(positive))
    return latent


TYPES = [area_box, percent_box, prompt, blank_latent, recording_sampler]


@pytest.fixture
def setup(qtbot):
    """A graph: Area Box → Recording Sampler ← Blank Latent (512×384), and a Percent Box; the panel on it."""
    RECORDED.clear()
    graph = Graph(Registry(TYPES))
    area = graph.add_node("boxtest.area", params={"x": 64, "y": 64, "width": 128, "height": 96}).id
    pct = graph.add_node("boxtest.percent", params={"x": 0.5, "y": 0.5, "width": 0.25, "height": 0.25}).id
    latent = graph.add_node("boxtest.latent").id
    sampler = graph.add_node("boxtest.sampler").id
    graph.connect(area, "conditioning", sampler, "positive")
    graph.connect(latent, "latent", sampler, "latent")
    text = graph.add_node("boxtest.prompt", params={"text": "a  dog\non grass"}).id
    graph.connect(text, "conditioning", pct, "conditioning")
    editor = Editor(graph)
    panel = BoxEditor(editor)
    qtbot.addWidget(panel)
    panel.resize(700, 700)
    panel.show()
    qtbot.waitExposed(panel)
    panel.select(area)
    return panel, editor, {"area": area, "pct": pct, "sampler": sampler}


def at(canvas, x, y) -> QPoint:
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def drag(canvas, points):
    """A real mouse drag through output-pixel ``points`` on the canvas."""
    screen = [at(canvas, *p) for p in points]
    QTest.mousePress(canvas, LEFT, NOMOD, screen[0])
    for p in screen[1:]:
        QTest.mouseMove(canvas, p)
    QTest.mouseRelease(canvas, LEFT, NOMOD, screen[-1])


def params(editor, nid):
    p = editor.graph.nodes[nid].params
    return {k: p[k] for k in ("x", "y", "width", "height")}


def test_the_output_size_comes_from_the_latent_upstream_of_the_boxes_sampler(setup):
    panel, editor, ids = setup
    assert panel.out_size == (512, 384) and "Blank Latent" in panel.out_size_label.text()
    assert panel.canvas.scale > 1  # output pixels are at least screen pixels: positions map exactly
    assert output_size(editor.graph, [ids["pct"]]) == (512, 512, "default")  # not wired: the default
    assert output_size(editor.graph, [ids["pct"]], QSize(640, 320))[:2] == (640, 320)
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == [
        "a red car  —  Area Box", "a dog on grass  —  Percent Box"]  # the phrase, or the prompt wired in
    editor.rename(ids["pct"], "Sky")
    assert panel.list.item(1).text() == "a dog on grass  —  Sky"


def test_drawing_on_empty_space_sets_the_selected_nodes_box_snapped_to_8px(setup):
    panel, editor, ids = setup
    drag(panel.canvas, [(21, 203), (60, 250), (141, 299)])
    assert params(editor, ids["area"]) == {"x": 24, "y": 200, "width": 120, "height": 96}
    assert panel.canvas.box(ids["area"]).rect.x() == 24  # the drawn box follows the graph


def test_moving_a_box_with_the_mouse_snaps_and_stays_inside_the_canvas(setup):
    panel, editor, ids = setup
    drag(panel.canvas, [(100, 100), (120, 110), (137, 121)])  # inside the box at (64, 64)
    assert params(editor, ids["area"]) == {"x": 104, "y": 88, "width": 128, "height": 96}
    drag(panel.canvas, [(150, 150), (400, 300), (900, 800)])  # far past the bottom-right corner
    assert params(editor, ids["area"]) == {"x": 512 - 128, "y": 384 - 96, "width": 128, "height": 96}


def test_resizing_by_a_handle_snaps_clamps_and_keeps_the_smallest_size(setup):
    panel, editor, ids = setup
    panel.select(ids["pct"])  # any box's edges resize it, selected or not
    drag(panel.canvas, [(192, 160), (250, 200), (299, 203)])  # the bottom-right corner of (64,64,128,96)
    assert params(editor, ids["area"]) == {"x": 64, "y": 64, "width": 232, "height": 136}
    assert panel.canvas.selected == ids["area"]
    drag(panel.canvas, [(64, 100), (20, 100), (-50, 100)])  # the left edge, dragged off the canvas
    assert params(editor, ids["area"])["x"] == 0 and params(editor, ids["area"])["width"] == 296
    drag(panel.canvas, [(296, 100), (100, 100), (2, 100)])  # the right edge past the left one
    assert params(editor, ids["area"])["width"] == 16  # the node's smallest width


def test_one_undo_restores_the_rectangle_of_a_whole_drag(setup):
    panel, editor, ids = setup
    before, steps = params(editor, ids["area"]), editor.stack.count()
    drag(panel.canvas, [(100, 100)] + [(100 + 9 * i, 100 + 7 * i) for i in range(1, 12)])
    after = params(editor, ids["area"])
    assert after != before and editor.stack.count() == steps + 1
    editor.stack.undo()
    assert params(editor, ids["area"]) == before
    assert panel.canvas.box(ids["area"]).rect.topLeft() == QPointF(64, 64)
    editor.stack.redo()
    assert params(editor, ids["area"]) == after


def test_a_click_without_a_drag_changes_nothing_and_arrows_nudge_by_8px(setup, qtbot):
    panel, editor, ids = setup
    steps = editor.stack.count()
    drag(panel.canvas, [(100, 100)])
    assert editor.stack.count() == steps
    panel.canvas.setFocus()
    QTest.keyClick(panel.canvas, Qt.Key.Key_Right)
    QTest.keyClick(panel.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert params(editor, ids["area"]) == {"x": 72, "y": 64, "width": 128, "height": 104}
    assert editor.stack.count() == steps + 2


def test_editing_a_parameter_elsewhere_moves_the_drawn_box(setup):
    panel, editor, ids = setup
    editor.set_param(ids["area"], "x", 200)
    editor.set_param(ids["area"], "width", 40)
    assert panel.canvas.box(ids["area"]).rect == QRectF(200, 64, 40, 96)
    image = panel.canvas.grab().toImage()
    inside = at(panel.canvas, 220, 110)
    color = panel.canvas.box(ids["area"]).color
    px = image.pixelColor(inside)
    # the light fill of the box's colour over the blank canvas: its tint leans towards the colour
    blank = image.pixelColor(at(panel.canvas, 100, 300))
    assert px != blank and abs(px.hue() - color.hue()) < 30
    editor.stack.undo()
    assert panel.canvas.box(ids["area"]).rect.width() == 128


def test_relative_boxes_are_written_as_fractions(setup):
    panel, editor, ids = setup
    panel.select(ids["pct"])
    assert panel.canvas.box(ids["pct"]).rect.x() == 256  # 0.5 of 512 wide, drawn on the area's output
    drag(panel.canvas, [(52, 40), (200, 150), (307, 231)])
    values = params(editor, ids["pct"])
    assert all(isinstance(v, float) for v in values.values())
    assert values == pytest.approx({"x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}, abs=1e-9)


def test_rect_values_clamp_to_the_parameter_ranges(setup):
    panel, editor, ids = setup
    nt = editor.graph.registry["boxtest.percent"]
    assert rect_values(nt, QRectF(-10, 0, 1024, 256), (512, 512)) == {"x": 0.0, "y": 0.0, "width": 1.0,
                                                                       "height": 0.5}


def test_boxes_drawn_with_the_mouse_reach_the_run(setup):
    panel, editor, ids = setup
    drag(panel.canvas, [(21, 203), (141, 299)])
    snapshot = editor.graph.snapshot()
    summary = Executor().run(snapshot)
    assert summary.ok, summary.failed
    assert RECORDED[-1] == {"phrase": "a red car", "x": 24, "y": 200, "width": 120, "height": 96}


def test_the_window_opens_the_panel_and_draws_the_boxes_over_the_result(make_window, qtbot):
    reg = Registry(TYPES)
    reg.load_builtins()
    w = make_window(registry=reg)
    area = w.editor.add_node("boxtest.area", (0, 0))
    w.show()
    qtbot.waitExposed(w)
    w._select([area])
    assert w.inspector.edit_boxes.isVisible()
    w.inspector.edit_boxes.click()
    panel = w.box_editor
    assert panel is not None and w.box_editor_dock.isVisible() and panel.canvas.selected == area
    w.preview.show_array(np.full((64, 64, 3), 0.5, np.float32))  # a grey result, 64×64
    qtbot.waitUntil(lambda: panel.out_size == (64, 64))  # no latent upstream: the image's size
    panel.act_overlay.setChecked(True)
    view = w.preview.view
    image = view.grab().toImage()
    target = view.image_rect()
    color = panel.canvas.box(area).color
    s = target.width() / 64  # the default box (0, 0, 64, 64) of a 64×64 output: the whole image
    edge = image.pixelColor(round(target.x() + 20 * s), round(target.y() + 1))
    assert abs(edge.hue() - color.hue()) < 25 and edge.saturation() > 80
    panel.act_overlay.setChecked(False)
    image = view.grab().toImage()
    assert image.pixelColor(round(target.x() + 20 * s), round(target.y() + 1)).saturation() < 10
    # a click on the canvas selects the node in the graph (and so in the inspector)
    w.scene.clearSelection()
    QTest.mouseClick(panel.canvas, LEFT, NOMOD, at(panel.canvas, 30, 30))
    assert w.selected() == [area] and w.inspector.node_id == area


def test_double_clicking_a_box_edits_its_phrase_in_one_undo_step(setup, qtbot):
    panel, editor, ids = setup
    QTest.mouseDClick(panel.canvas, LEFT, NOMOD, at(panel.canvas, 100, 100))
    edit = panel.label_edit
    assert edit.isVisible() and edit.text() == "a red car"
    edit.selectAll()
    QTest.keyClicks(edit, "a blue bus")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert not edit.isVisible()
    assert editor.graph.nodes[ids["area"]].params["phrase"] == "a blue bus"
    assert panel.canvas.box(ids["area"]).label == "a blue bus"
    assert params(editor, ids["area"]) == {"x": 64, "y": 64, "width": 128, "height": 96}  # not moved
    editor.stack.undo()
    assert panel.canvas.box(ids["area"]).label == "a red car"
    # an area without a phrase of its own: the prompt wired into it is its phrase; Esc keeps it as it was
    prompt_id = editor.graph.links[(ids["pct"], "conditioning")].src
    QTest.mouseDClick(panel.canvas, LEFT, NOMOD, at(panel.canvas, 300, 220))
    assert edit.isVisible() and edit.text() == "a dog on grass"
    QTest.keyClicks(edit, "x")
    QTest.keyClick(edit, Qt.Key.Key_Escape)
    assert not edit.isVisible() and editor.graph.nodes[prompt_id].params["text"] == "a  dog\non grass"
    QTest.mouseDClick(panel.canvas, LEFT, NOMOD, at(panel.canvas, 300, 220))
    QTest.keyClicks(edit, "a cat")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert editor.graph.nodes[prompt_id].params["text"] == "a cat" and panel.canvas.box(ids["pct"]).label == "a cat"
    # with no prompt wired in, the name typed becomes the node's title
    editor.graph.disconnect(ids["pct"], "conditioning")
    assert panel.canvas.box(ids["pct"]).label == "Percent Box"
    QTest.mouseDClick(panel.canvas, LEFT, NOMOD, at(panel.canvas, 300, 220))
    QTest.keyClicks(edit, "Sky")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert editor.graph.title_of(ids["pct"]) == "Sky" and panel.canvas.box(ids["pct"]).label == "Sky"


def test_adding_a_phrase_box_after_the_selected_one_joins_its_chain(setup):
    panel, editor, ids = setup
    graph = editor.graph
    text = graph.add_node("boxtest.prompt", params={"text": "street"}).id
    graph.connect(text, "conditioning", ids["area"], "conditioning")
    steps = editor.stack.count()
    new = panel.add_box_node("boxtest.area")
    # prompt → area → new → sampler, in one undo step; the new box is selected, ready to draw
    assert graph.links[(new, "conditioning")].src == ids["area"]
    assert graph.links[(ids["sampler"], "positive")].src == new
    assert panel.canvas.selected == new and editor.stack.count() == steps + 1
    drag(panel.canvas, [(301, 11), (421, 101)])
    assert params(editor, new) == {"x": 304, "y": 8, "width": 120, "height": 96}
    editor.stack.undo()
    editor.stack.undo()
    assert new not in graph.nodes and graph.links[(ids["sampler"], "positive")].src == ids["area"]
    # a box without its own phrase (it takes the prompt wired in) is added unwired
    panel.select(ids["pct"])
    other = panel.add_box_node("boxtest.percent")
    assert not graph.incoming(other) and not graph.outgoing(other) and panel.canvas.selected == other


def test_every_built_in_box_type_round_trips_a_drawn_rectangle():
    reg = Registry()
    reg.load_builtins()
    types = [nt for nt in reg if nt.box is not None]
    if not types:
        pytest.skip("no built-in node type declares a box")
    size = (768, 512)
    drawn = QRectF(96, 64, 384, 256)
    for nt in types:
        values = rect_values(nt, drawn, size)
        for name, value in values.items():
            assert nt.input(name).problem(value) is None, (nt.id, name, value)
        back = read_rect(nt.box, values, size)
        assert abs(back.x() - 96) < 1 and abs(back.width() - 384) < 1 and abs(back.height() - 256) < 1, nt.id
