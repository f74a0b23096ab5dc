"""The window drives the Session: relative files, Preferences for the next run, a real queue."""

from __future__ import annotations

import shutil
from pathlib import Path

from studio.core.settings import Settings, resources_dir
from studio.core.workflow import save

SAMPLE = resources_dir() / "images" / "sample.png"


def _wait(w, qtbot, timeout=30):
    qtbot.waitUntil(lambda: not w.evaluator.busy and w.session.queue.running() is None, timeout=timeout * 1000)


def test_a_workflow_with_relative_image_names_runs_in_the_window(make_window, qtbot, tmp_path, monkeypatch, registry):
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "picture.png")
    monkeypatch.chdir(tmp_path)
    from studio.core.graph import Graph

    g = Graph(registry)
    load = g.add_node("image.load", params={"image": "picture.png"})
    preview = g.add_node("image.preview")
    g.connect(load.id, "image", preview.id, "images")
    save(g, folder / "flow.json")
    w = make_window(settings=Settings(output_dir=str(tmp_path / "out")))
    assert w.open_file(folder / "flow.json", ask=False)
    w.run()
    _wait(w, qtbot)
    [job] = w.session.queue.history()
    assert job.summary.ok, job.summary.failed


def test_preferences_apply_to_the_next_run(make_window, qtbot, tmp_path):
    w = make_window(settings=Settings(output_dir=str(tmp_path / "before")))
    seeded = w.editor.add_node("test.seeded", (0, 0))
    saver = w.editor.add_node("image.save", (300, 0))
    w.editor.connect(seeded, "image", saver, "images")
    w.editor.set_param(seeded, "seed_control", "increment")
    w.run()
    _wait(w, qtbot)
    w.apply_settings(Settings(output_dir=str(tmp_path / "after")))  # what Preferences → OK does
    w.run()
    _wait(w, qtbot)
    first, second = w.session.queue.history()
    assert Path(first.results[0].path).parent == tmp_path / "before"
    assert Path(second.results[0].path).parent == tmp_path / "after"


def test_three_quick_run_presses_give_three_images_and_three_history_entries(make_window, qtbot, tmp_path):
    w = make_window(settings=Settings(output_dir=str(tmp_path / "out")))
    seeded = w.editor.add_node("test.seeded", (0, 0))
    saver = w.editor.add_node("image.save", (300, 0))
    w.editor.connect(seeded, "image", saver, "images")
    w.editor.set_param(seeded, "seed_control", "randomize")
    for _ in range(3):
        w.run()
    _wait(w, qtbot)
    history = w.session.queue.history()
    assert len(history) == 3 and all(j.summary.ok for j in history)
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    seeds = [j.snapshot.nodes[seeded].params["seed"] for j in history]
    assert len(set(seeds)) == 3  # every seed that was spent was rendered
    qtbot.waitUntil(lambda: w.history_panel.list.count() == 3)  # one thumbnail per image
    assert w.windowTitle().endswith("— Latent Studio")


def test_opening_a_file_after_an_import_is_clean(make_window, qtbot, tmp_path, registry):
    from studio.core.graph import Graph

    w = make_window()
    w.set_graph(Graph(registry), None, clean=False)  # an import or a restored crash file
    assert w.modified
    g = Graph(registry)
    g.add_node("test.source")
    save(g, tmp_path / "clean.json")
    assert w.open_file(tmp_path / "clean.json", ask=False)
    assert not w.modified and not w.windowTitle().startswith("clean.json*")
    w.editor.add_node("test.source", (0, 0))
    assert w.modified
    w.editor.stack.undo()
    assert not w.modified


def test_a_shipped_example_opens_untitled(make_window):
    w = make_window()
    assert w.open_file(resources_dir() / "workflows" / "canny.json", ask=False)
    assert w.path is None and w.windowTitle().startswith("Untitled")


def test_ctrl_y_redoes(make_window):
    from PySide6.QtGui import QKeySequence

    w = make_window()
    assert QKeySequence("Ctrl+Y") in w.act_redo.shortcuts()


def test_thumbnails_do_not_grow_inner_nodes_and_say_when_they_are_outdated(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    preview = w.editor.add_node("image.preview", (300, 0))
    w.editor.connect(src, "image", preview, "images")
    heights = {n: w.scene.node_items[n].boundingRect().height() for n in (src, preview)}
    w.run()
    _wait(w, qtbot)
    qtbot.waitUntil(lambda: w.scene.node_items[preview].thumbnail is not None)
    src_item, preview_item = w.scene.node_items[src], w.scene.node_items[preview]
    assert src_item.boundingRect().height() == heights[src]  # an inner node keeps its size
    assert preview_item.boundingRect().height() > heights[preview]  # the output node shows its picture
    assert not preview_item.thumbnail_stale
    w.editor.set_param(src, "value", 0.5)
    assert preview_item.thumbnail_stale  # an edit upstream: the picture is outdated
    w.act_thumbnails.trigger()
    assert src_item.boundingRect().height() > heights[src]


def test_log_lines_name_nodes_by_title_and_a_click_selects_the_node(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    bad = w.editor.add_node("test.fail", (300, 0))
    w.editor.connect(src, "image", bad, "image")
    w.editor.add_node("test.add", (0, 300))  # its required input is not connected
    w.run()
    _wait(w, qtbot)
    lines = w.problems.lines()
    assert any("Fail: this node always fails" in line for line in lines)
    assert not any(bad in line or src in line for line in lines)  # no node ids shown
    row = next(i for i in range(w.problems.count()) if "Fail:" in w.problems.item(i).text())
    w.problems.itemClicked.emit(w.problems.item(row))
    assert w.selected() == [bad]


def test_the_preview_caption_counts_steps_from_one_and_cancel_is_said_once(make_window, qtbot):
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    steps = w.editor.add_node("test.steps", (300, 0))
    w.editor.connect(src, "image", steps, "image")
    w.editor.set_param(steps, "steps", 3)
    w.run()
    _wait(w, qtbot)
    qtbot.waitUntil(lambda: w.preview.caption.text().startswith("step 3 "))
    assert w.preview.caption.text() == "step 3 · Steps"
    import time

    from tests import helpers

    helpers.HOOKS["step"] = lambda i: time.sleep(0.01)
    w.editor.set_param(steps, "steps", 5000)
    w.run()
    qtbot.waitUntil(lambda: w.scene.node_items[steps].progress not in (None, 0.0), timeout=10_000)
    w.cancel()
    _wait(w, qtbot)
    helpers.HOOKS.clear()
    assert sum("Cancelled" in line for line in w.problems.lines()) == 1
