"""The studio as a user drives it: mouse wiring, library drops, undo, runs, files, recovery."""

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.core.graph import Graph
from studio.core.workflow import dumps
from studio.ui.canvas.view import NODE_TYPE_MIME
from tests import helpers
from tests.helpers import services as run_services

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "images" / "sample.png"


def _mouse(view, kind, scene_pos, button=Qt.MouseButton.LeftButton, buttons=None):
    local = view.mapFromScene(scene_pos)
    etype = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}[kind]
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == "release" else button
    ev = QMouseEvent(etype, QPointF(local), QPointF(view.viewport().mapToGlobal(local)),
                     button if kind != "move" else Qt.MouseButton.NoButton, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), ev)


def drag(view, a, b):
    _mouse(view, "press", a)
    for t in (0.25, 0.5, 0.75, 1.0):
        _mouse(view, "move", a + (b - a) * t, buttons=Qt.MouseButton.LeftButton)
    _mouse(view, "release", b)


def wait_run(w, qtbot, timeout=20):
    qtbot.waitUntil(lambda: not w.evaluator.busy, timeout=timeout * 1000)
    QApplication.processEvents()


def _doc(graph):
    return dumps(graph, environment={})


def test_library_drop_adds_a_node_where_it_lands(make_window, qtbot):
    w = make_window()
    w.show()
    view = w.view
    md = QMimeData()
    md.setData(NODE_TYPE_MIME, b"preprocess.canny")
    target = view.viewport().rect().center()
    scene_target = view.mapToScene(target)
    drop = QDropEvent(QPointF(target), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    view.dropEvent(drop)
    [node] = w.graph.nodes.values()
    assert node.type_id == "preprocess.canny"
    assert abs(node.pos[0] - scene_target.x()) < 1 and abs(node.pos[1] - scene_target.y()) < 1
    # The library's own drag data carries the type id in the same MIME type.
    item = w.library.item_for("image.load")
    mime = w.library.tree.mimeData([item])
    assert bytes(mime.data(NODE_TYPE_MIME)).decode() == "image.load"


def test_wiring_with_the_mouse_and_refusals(make_window, qtbot):
    w = make_window()
    w.show()
    src = w.editor.add_node("test.source", (0, 0))
    add = w.editor.add_node("test.add", (400, 0))
    mask_sink = w.editor.add_node("test.mask_sink", (400, 250))
    w.view.frame()
    QApplication.processEvents()
    out_port = w.scene.port(src, "image", output=True)
    in_port = w.scene.port(add, "a", output=False)
    drag(w.view, out_port.scenePos(), in_port.scenePos())
    assert (add, "a") in w.graph.links and w.graph.links[(add, "a")].src == src

    before = _doc(w.graph)
    depth = w.editor.stack.count()
    mask_port = w.scene.port(mask_sink, "mask", output=False)
    drag(w.view, out_port.scenePos(), mask_port.scenePos())
    assert _doc(w.graph) == before and w.editor.stack.count() == depth
    assert "IMAGE output cannot feed a MASK input" in w.status_label.text()

    # Pick up the wire's end at the input and drop it on empty canvas: disconnected.
    drag(w.view, in_port.scenePos(), in_port.scenePos() + QPointF(150, 300))
    assert (add, "a") not in w.graph.links
    w.editor.stack.undo()
    assert (add, "a") in w.graph.links


def test_drop_wire_on_empty_canvas_offers_compatible_nodes_and_connects(make_window, qtbot):
    w = make_window()
    w.show()
    src = w.editor.add_node("test.source", (0, 0))
    w.view.frame()
    QApplication.processEvents()
    out_port = w.scene.port(src, "image", output=True)
    drag(w.view, out_port.scenePos(), out_port.scenePos() + QPointF(200, 40))
    assert w.quick_add.isVisible()
    offered = set(w.quick_add.type_ids())
    assert "preprocess.canny" in offered and "image.save" in offered
    assert "test.mask_sink" not in offered and "test.source" not in offered
    w.quick_add.chosen.emit("preprocess.canny")
    w.quick_add.hide()
    canny = next(n for n in w.graph.nodes.values() if n.type_id == "preprocess.canny")
    assert w.graph.links[(canny.id, "image")].src == src
    w.editor.stack.undo()  # one step removes node and wire
    assert len(w.graph.nodes) == 1 and not w.graph.links


def test_undo_redo_walks_back_every_edit_exactly(make_window, qtbot):
    w = make_window()
    ed = w.editor
    states = [_doc(w.graph)]

    def step(fn):
        fn()
        states.append(_doc(w.graph))

    ids = {}
    step(lambda: ids.update(a=ed.add_node("test.source", (0, 0))))
    step(lambda: ids.update(b=ed.add_node("test.add", (300, 0))))
    step(lambda: ids.update(c=ed.add_node("test.source", (0, 200))))
    step(lambda: ed.connect(ids["a"], "image", ids["b"], "a"))
    step(lambda: ed.connect(ids["c"], "image", ids["b"], "b"))
    step(lambda: ed.connect(ids["c"], "image", ids["b"], "a"))  # replaces a wire
    step(lambda: ed.move({ids["a"]: ((0, 0), (50, 60)), ids["b"]: ((300, 0), (320, 10))}))
    step(lambda: ed.rename(ids["b"], "Sum"))
    step(lambda: [ed.set_param(ids["a"], "value", v / 10, final=False) for v in range(11)]
         and ed.set_param(ids["a"], "value", 1.5, final=True))
    step(lambda: ed.delete([ids["c"]]))
    step(lambda: ed.connect(ids["a"], "image", ids["b"], "a"))
    step(lambda: ed.paste_text(ed.copy_text([ids["a"], ids["b"]]), (500, 500)))
    step(lambda: ed.disconnect(next(iter(w.graph.links.values()))))
    # One undo step per edit: the slider drag of 12 values is a single step.
    assert w.editor.stack.count() == len(states) - 1
    for expected in reversed(states[:-1]):
        w.editor.stack.undo()
        assert _doc(w.graph) == expected
    for expected in states[1:]:
        w.editor.stack.redo()
        assert _doc(w.graph) == expected
    # The canvas follows the model at every step.
    assert set(w.scene.node_items) == set(w.graph.nodes)
    assert set(w.scene.wires) == set(w.graph.links)


def test_running_updates_thumbnails_and_preview_and_undo_keeps_the_cache(make_window, qtbot, tmp_path):
    w = make_window()
    w.show()
    assert w.open_file(ROOT / "resources" / "workflows" / "first_run.json", ask=False)
    w.run()
    wait_run(w, qtbot)
    canny = next(n for n in w.graph.nodes.values() if n.type_id == "preprocess.canny")
    preview = next(n for n in w.graph.nodes.values() if n.type_id == "image.preview")
    assert w.scene.node_items[canny.id].thumbnail is not None
    assert w.scene.node_items[preview.id].thumbnail is not None
    assert w.preview.frames_received >= 1
    assert "3 executed" in w.status_label.text()
    w.scene.node_items[canny.id].setSelected(True)
    assert "Canny Edges" in w.preview.caption.text()

    w.editor.set_param(canny.id, "low", 30)
    w.run()
    wait_run(w, qtbot)
    assert "2 executed" in w.status_label.text()
    w.editor.stack.undo()
    w.run()
    wait_run(w, qtbot)
    assert "0 executed" in w.status_label.text()  # undo brought back a cached signature


def test_cancel_mid_run_leaves_the_app_ready(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    steps = w.editor.add_node("test.steps", (300, 0))
    w.editor.connect(src, "image", steps, "image")
    w.editor.set_param(steps, "steps", 10_000)
    done_steps: list[int] = []
    helpers.HOOKS["step"] = lambda i: (done_steps.append(i), time.sleep(0.002))
    w.run()
    qtbot.waitUntil(lambda: w.scene.node_items[steps].progress not in (None, 0.0), timeout=5000)
    w.run()  # a run during a run is queued, with a message
    assert "Queued 1 run(s) behind the current one" in w.status_label.text()
    w.cancel()
    at_cancel = len(done_steps)
    wait_run(w, qtbot)
    assert len(done_steps) <= at_cancel + 1  # the cancel took effect within one step
    assert len(done_steps) < 10_000
    assert w.status_label.text() == "Cancelled" and not w.evaluator.busy
    helpers.HOOKS.clear()
    w.editor.set_param(steps, "steps", 3)
    w.run()
    wait_run(w, qtbot)
    assert "executed" in w.status_label.text()


def test_node_errors_show_on_the_node_and_in_problems(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    bad = w.editor.add_node("test.fail", (300, 0))
    w.editor.connect(src, "image", bad, "image")
    w.run()
    wait_run(w, qtbot)
    item = w.scene.node_items[bad]
    assert item.error == "this node always fails" and "this node always fails" in item.toolTip()
    texts = [w.problems.item(i).text() for i in range(w.problems.count())]
    assert any("Fail: this node always fails" in t for t in texts)


def test_save_open_round_trip_and_title(make_window, qtbot, tmp_path):
    w = make_window()
    a = w.editor.add_node("image.load", (0, 0))
    w.editor.set_param(a, "image", str(SAMPLE))
    assert w.windowTitle().startswith("Untitled*")
    path = tmp_path / "flow.json"
    assert w._save_to(path)
    assert w.windowTitle().startswith("flow.json —")
    w2 = make_window()
    assert w2.open_file(path, ask=False)
    assert _doc(w2.graph) == _doc(w.graph)
    assert str(path) in w2.recent_files()


def test_dropping_an_image_and_a_workflow_png(make_window, qtbot, tmp_path):
    w = make_window()
    w.drop_files([str(SAMPLE)], QPointF(100, 50))
    [node] = w.graph.nodes.values()
    assert node.type_id == "image.load" and node.params["image"] == str(SAMPLE) and node.pos == (100.0, 50.0)

    # A PNG the studio saved, dropped on a fresh window, restores the same graph.
    g = Graph(w.registry)
    load = g.add_node("image.load", params={"image": str(SAMPLE)})
    save = g.add_node("image.save", params={"prefix": "dropme"})
    g.connect(load.id, "image", save.id, "images")
    from studio.core.executor import Executor

    out = Executor().run(g.snapshot(), services=run_services(output_dir=tmp_path)).outputs[0]
    fresh = make_window()
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(out)])
    fresh.view.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert set(fresh.graph.nodes) == set(g.nodes)
    assert fresh.graph.nodes[save.id].params["prefix"] == "dropme"


def test_recovery_is_offered_after_a_crash(make_window, qtbot, tmp_path):
    from studio.ui import recovery
    from studio.ui.app import open_initial

    recovery.discard()
    w = make_window()
    nid = w.editor.add_node("preprocess.canny", (10, 10))
    w.editor.set_param(nid, "low", 33)
    w.autosave()
    expected = _doc(w.graph)
    w.shutdown()  # the process "dies": no clean close, the recovery file stays
    assert recovery.find() is not None

    offered = []
    w2 = make_window()
    open_initial(w2, None, ask_restore=lambda found: offered.append(found) or True)
    assert offered and _doc(w2.graph) == expected and w2.modified
    w2.close()
    assert recovery.find() is None  # a clean close removes it


def test_copy_paste_between_two_windows(make_window, qtbot):
    a, b = make_window(), make_window()
    src = a.editor.add_node("test.source", (0, 0))
    add = a.editor.add_node("test.add", (300, 0))
    a.editor.connect(src, "image", add, "a")
    a.select_all()
    a.copy()
    b.paste()
    assert sorted(n.type_id for n in b.graph.nodes.values()) == ["test.add", "test.source"]
    assert len(b.graph.links) == 1 and not set(b.graph.nodes) & set(a.graph.nodes)
    assert set(b.selected()) == set(b.graph.nodes)


def test_first_launch_opens_the_example_with_a_pointer_to_models(make_window, qtbot):
    from studio.ui.app import open_initial

    w = make_window()
    w.show()
    open_initial(w, None, ask_restore=lambda f: False)
    assert [n.type_id for n in w.graph.nodes.values()] == ["image.load", "preprocess.canny", "image.preview"]
    assert w.banner.isVisible() and "checkpoint" in w.banner_text.text()
    assert w.path is None


def test_preview_frames_are_coalesced_without_blocking(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    steps = w.editor.add_node("test.steps", (300, 0))
    w.editor.connect(src, "image", steps, "image")
    w.editor.set_param(steps, "steps", 200)
    w.run()
    wait_run(w, qtbot)
    assert w.evaluator.previews_emitted == 200
    assert 1 <= w.preview.frames_received <= 200
    assert isinstance(w.last_previews[steps], np.ndarray)


def test_mouse_drag_moves_nodes_as_one_undo_step(make_window, qtbot):
    w = make_window()
    w.show()
    nid = w.editor.add_node("test.source", (0, 0))
    w.view.frame()
    QApplication.processEvents()
    item = w.scene.node_items[nid]
    start = item.scenePos() + QPointF(60, 12)  # on the header
    depth = w.editor.stack.count()
    drag(w.view, start, start + QPointF(100, 40))
    assert w.graph.nodes[nid].pos != (0.0, 0.0)
    assert w.editor.stack.count() == depth + 1
    w.editor.stack.undo()
    assert w.graph.nodes[nid].pos == (0.0, 0.0) and item.pos() == QPointF(0, 0)


def test_seed_policy_is_an_undoable_parameter_that_moves_the_seed_after_each_run(make_window, qtbot):
    w = make_window()
    w.show()
    nid = w.editor.add_node("test.seeded", (0, 0))  # seed 5
    w.scene.node_items[nid].setSelected(True)
    combo = w.inspector.editor("seed_control")
    assert combo is not None  # the policy is a parameter row of its own
    combo.set_value("increment")
    combo.edited.emit("increment", True)
    assert w.graph.nodes[nid].params["seed_control"] == "increment"
    w.editor.stack.undo()
    assert w.graph.nodes[nid].params.get("seed_control", "fixed") == "fixed"
    w.editor.stack.redo()
    w.batch_count.setValue(3)
    w.run()
    wait_run(w, qtbot)
    assert w.graph.nodes[nid].params["seed"] == 8  # 5, 6 and 7 ran; 8 is next
    ran = [job.snapshot.nodes[nid].params["seed"] for job in w.session.queue.history()]
    assert ran == [5, 6, 7]
    assert '"seed_control": "increment"' in dumps(w.graph)


def test_tiny_model_run_streams_one_preview_frame_per_step(make_window, qtbot, tiny_root, monkeypatch):
    from studio.core.settings import Settings

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    w = make_window(settings=Settings(dtype="fp32", device="cpu"))
    ed = w.editor
    ck = ed.add_node("model.checkpoint", (0, 0))
    ed.set_param(ck, "checkpoint", "tiny-sd15.safetensors")
    pos, neg = ed.add_node("text.encode", (300, 0)), ed.add_node("text.encode", (300, 200))
    ed.set_param(pos, "text", "a house")
    lat = ed.add_node("latent.empty", (300, 400))
    ed.set_param(lat, "width", 128)  # a step long enough that the GUI shows each frame
    ed.set_param(lat, "height", 128)
    smp = ed.add_node("sample.sampler", (600, 0))
    ed.set_param(smp, "steps", 6)
    for a, ap, b, bp in [(ck, "clip", pos, "clip"), (ck, "clip", neg, "clip"), (ck, "model", smp, "model"),
                         (pos, "conditioning", smp, "positive"), (neg, "conditioning", smp, "negative"),
                         (lat, "latent", smp, "latent")]:
        assert ed.connect(a, ap, b, bp)
    shown = []
    original = w.preview.show_array
    w.preview.show_array = lambda arr, caption="": (shown.append(caption), original(arr, caption))
    w.run()
    wait_run(w, qtbot, timeout=120)
    assert w.evaluator.previews_emitted == 6
    steps = [c.split(" · ")[0] for c in shown if c.startswith("step ")]
    assert steps == [f"step {i}" for i in range(2, 8)] or len(set(steps)) == len(steps)
    assert len(steps) == 6, steps  # the GUI keeps up with a sampler step: no frame dropped


def test_closing_with_unsaved_changes_asks(make_window, qtbot):
    w = make_window()
    w.show()
    w.editor.add_node("test.source", (0, 0))
    asked = []
    w.ask_save_changes = lambda: asked.append(True) or "cancel"
    assert not w.close() and w.isVisible() and asked
    w.ask_save_changes = lambda: "discard"
    assert w.close()


def test_comfyui_files_open_by_open_and_by_drop(make_window, qtbot):
    corpus = ROOT / "tests" / "compat" / "corpus"
    w = make_window()
    assert w.open_file(corpus / "controlnet_canny.ui.json", ask=False)
    types = sorted(n.type_id for n in w.graph.nodes.values())
    assert "control.apply" in types and "sample.sampler" in types
    assert w.path is None and w.modified  # an import is a new, unsaved workflow
    log = [w.problems.item(i).text() for i in range(w.problems.count())]
    assert any("imported controlnet_canny.ui.json" in line for line in log)
    fresh = make_window()
    fresh.drop_files([str(corpus / "controlnet_canny.comfyui.png")], QPointF(0, 0))
    assert "sample.sampler" in {n.type_id for n in fresh.graph.nodes.values()}


def test_a_dropped_webp_with_a_comfyui_workflow_opens_it_and_a_plain_one_loads_as_an_image(make_window, tmp_path):
    from PIL import Image

    workflow = (ROOT / "tests" / "compat" / "corpus" / "controlnet_canny.ui.json").read_text()
    image = Image.new("RGB", (16, 16), (200, 120, 40))
    exif = image.getexif()
    exif[0x010F] = f"workflow:{workflow}"  # where ComfyUI's WebP saver puts it
    carrying = tmp_path / "shared.webp"
    image.save(carrying, "WEBP", exif=exif)
    w = make_window()
    w.drop_files([str(carrying)], QPointF(0, 0))
    assert "sample.sampler" in {n.type_id for n in w.graph.nodes.values()}
    plain = tmp_path / "plain.webp"
    Image.new("RGB", (16, 16)).save(plain, "WEBP")
    fresh = make_window()
    fresh.drop_files([str(plain)], QPointF(0, 0))
    assert [n.type_id for n in fresh.graph.nodes.values()] == ["image.load"]


def test_run_lists_a_missing_file_in_problems_as_validate_would(make_window, qtbot):
    from studio.core.registry import default_registry

    w = make_window(registry=default_registry())
    load = w.editor.add_node("image.load", (0, 0))
    w.editor.set_param(load, "image", "nowhere-to-be-found.png")
    show = w.editor.add_node("image.preview", (300, 0))
    w.editor.connect(load, "image", show, "images")
    w.run()
    texts = [w.problems.item(i).text() for i in range(w.problems.count())]
    assert any("image" in t and "nowhere-to-be-found.png" in t for t in texts), texts
    wait_run(w, qtbot)
