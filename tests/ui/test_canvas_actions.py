"""Canvas editing as a ComfyUI user does it: bypass and mute keys, groups, reroutes on wires,
context menus, partial runs, arrange, zoom, search by ComfyUI names, and the shortcuts list."""

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu

from studio.core.graph import BYPASS, MUTE, NORMAL

ROOT = Path(__file__).resolve().parents[2]
FIRST_RUN = ROOT / "resources" / "workflows" / "first_run.json"


def wait_run(w, qtbot, timeout=30):
    qtbot.waitUntil(lambda: not w.evaluator.busy and w.session.queue.running() is None, timeout=timeout * 1000)
    QApplication.processEvents()


def _of_type(w, type_id):
    return next(n for n in w.graph.nodes.values() if n.type_id == type_id)


def _open_first_run(make_window):
    w = make_window()
    w.show()
    assert w.open_file(FIRST_RUN, ask=False)
    QApplication.processEvents()
    return w


def _key(w, key, modifiers=Qt.KeyboardModifier.NoModifier):
    w.view.setFocus()
    QApplication.processEvents()
    from PySide6.QtTest import QTest

    QTest.keyClick(w.view, key, modifiers)
    QApplication.processEvents()


def _action(menu: QMenu, text: str):
    for act in menu.actions():
        if act.text().replace("&", "") == text:
            return act
        if act.menu() is not None:
            hit = _action(act.menu(), text)
            if hit is not None:
                return hit
    return None


def _last_job(w):
    return w.session.queue.history()[-1]


def test_ctrl_b_bypasses_a_preprocessor_and_the_run_passes_the_image_through(make_window, qtbot):
    w = _open_first_run(make_window)
    canny, preview, load = (_of_type(w, t) for t in ("preprocess.canny", "image.preview", "image.load"))
    w._select([canny.id])
    _key(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert w.graph.nodes[canny.id].mode == BYPASS
    _key(w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Run, as a person starts it
    wait_run(w, qtbot)
    job = _last_job(w)
    assert canny.id not in job.summary.executed and preview.id in job.summary.executed
    original = w.session.executor.outputs_of(load.id)[0]
    shown = w.runs.node_image(preview.id)
    expected = np.clip(np.rint(np.asarray(original)[0] * 255), 0, 255).astype(np.uint8)
    assert shown is not None and np.abs(np.asarray(shown).astype(int) - expected).max() <= 1  # the photo, not edges
    w.editor.stack.undo()
    assert w.graph.nodes[canny.id].mode == NORMAL
    # Pressing it again on a bypassed node restores it too.
    _key(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    _key(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert w.graph.nodes[canny.id].mode == NORMAL


def test_a_node_that_cannot_be_bypassed_is_refused_with_the_reason(make_window):
    w = _open_first_run(make_window)
    load = _of_type(w, "image.load")
    w._select([load.id])
    _key(w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert w.graph.nodes[load.id].mode == NORMAL
    assert "cannot be bypassed" in w.status_label.text()
    assert w.editor.stack.count() == 0


def test_ctrl_m_mutes_a_node_and_what_needs_it(make_window, qtbot):
    w = _open_first_run(make_window)
    canny, preview, load = (_of_type(w, t) for t in ("preprocess.canny", "image.preview", "image.load"))
    w._select([canny.id])
    _key(w, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert w.graph.nodes[canny.id].mode == MUTE
    w.run()
    wait_run(w, qtbot)
    job = _last_job(w)
    assert job.summary.executed == ()  # the preview needs the muted node; the load then feeds nothing
    assert set(job.snapshot.skipped) == {load.id, canny.id, preview.id}
    assert not job.summary.failed
    assert w.editor.stack.undoText().startswith("Mute")
    w.editor.stack.undo()
    assert w.graph.nodes[canny.id].mode == NORMAL


def test_run_up_to_the_preprocessor_from_its_menu(make_window, qtbot):
    w = _open_first_run(make_window)
    canny, preview, load = (_of_type(w, t) for t in ("preprocess.canny", "image.preview", "image.load"))
    menu = w.build_node_menu(canny.id)
    act = _action(menu, "Run up to here")
    assert act is not None and act.isEnabled()
    act.trigger()
    wait_run(w, qtbot)
    job = _last_job(w)
    assert set(job.summary.executed) == {load.id, canny.id}
    assert preview.id not in job.snapshot.nodes
    # The full run afterwards reuses both from the cache.
    w.run()
    wait_run(w, qtbot)
    assert _last_job(w).summary.executed == (preview.id,)


def test_right_click_on_a_wire_adds_a_reroute_and_the_graph_still_runs(make_window, qtbot):
    w = _open_first_run(make_window)
    canny = _of_type(w, "preprocess.canny")
    link = next(lk for lk in w.graph.links.values() if lk.dst == canny.id)
    wire = w.scene.wires[(link.dst, link.dst_port)]
    w.view.frame()
    QApplication.processEvents()
    middle = wire.path().pointAtPercent(0.5)
    local = w.view.mapFromScene(middle)
    seen = []
    w.view.wire_menu_requested.connect(lambda lk, g, s: seen.append((lk, s)))
    w.view.wire_menu_requested.disconnect(w._wire_menu)  # no popup in the test: the signal is checked
    QApplication.sendEvent(w.view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, local,
                                                                w.view.viewport().mapToGlobal(local)))
    assert seen and seen[0][0] == link
    menu = w.build_wire_menu(link, seen[0][1])
    _action(menu, "Add reroute here").trigger()
    reroute = _of_type(w, "util.reroute")
    assert (canny.id, link.dst_port) in w.graph.links and w.graph.links[(canny.id, link.dst_port)].src == reroute.id
    assert w.graph.output_type(reroute.id, "value").kind.value == "IMAGE"
    w.run()
    wait_run(w, qtbot)
    assert not _last_job(w).summary.failed
    w.editor.stack.undo()
    assert "util.reroute" not in {n.type_id for n in w.graph.nodes.values()}
    assert w.graph.links[(link.dst, link.dst_port)] == link


def test_wire_menu_offers_nodes_that_fit_and_deletes(make_window):
    w = _open_first_run(make_window)
    canny = _of_type(w, "preprocess.canny")
    link = next(lk for lk in w.graph.links.values() if lk.dst == canny.id)
    menu = w.build_wire_menu(link, QPointF(0, 0))
    insert = _action(menu, "Insert node")
    titles = {a.text() for a in insert.menu().actions()}
    assert "Invert Image" in titles or "Invert" in " ".join(titles)
    assert "Load Checkpoint" not in titles  # no IMAGE input
    _action(menu, "Delete wire").trigger()
    assert (link.dst, link.dst_port) not in w.graph.links
    w.editor.stack.undo()
    assert w.graph.links[(link.dst, link.dst_port)] == link


def test_ctrl_g_groups_the_selection_and_ungroup_keeps_the_nodes(make_window):
    w = _open_first_run(make_window)
    ids = list(w.graph.nodes)
    w._select(ids)
    _key(w, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    [group] = w.graph.groups
    x, y, gw, gh = group.rect
    for nid in ids:
        item_rect = w.scene.node_items[nid].scene_node_rect()
        assert x <= item_rect.left() and item_rect.right() <= x + gw
        assert y <= item_rect.top() and item_rect.bottom() <= y + gh
    assert set(w.scene.nodes_in_group(group.id)) == set(ids)
    menu = w.build_group_menu(group.id)
    _action(menu, "Delete group (keep nodes)").trigger()
    assert not w.graph.groups and set(w.graph.nodes) == set(ids)
    w.editor.stack.undo()
    assert [g.id for g in w.graph.groups] == [group.id]
    _action(w.build_group_menu(group.id), "Delete group and contents").trigger()
    assert not w.graph.groups and not w.graph.nodes
    w.editor.stack.undo()
    assert set(w.graph.nodes) == set(ids) and w.graph.groups


def test_canvas_menu_adds_nodes_notes_and_reroutes_where_clicked(make_window):
    w = _open_first_run(make_window)
    seen = []
    w.view.canvas_menu_requested.disconnect(w._canvas_menu)
    w.view.canvas_menu_requested.connect(lambda g, s: seen.append(s))
    empty = QPoint(5, 5)
    QApplication.sendEvent(w.view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, empty,
                                                                w.view.viewport().mapToGlobal(empty)))
    assert seen
    menu = w.build_canvas_menu(QPointF(1234, 567))
    for text in ("Add node", "Add note", "Add reroute", "Paste", "Select All", "Arrange", "Auto-layout"):
        assert _action(menu, text) is not None, text
    _action(menu, "Add note").trigger()
    note = _of_type(w, "util.note")
    assert note.pos == (1234.0, 567.0)
    _action(w.build_canvas_menu(QPointF(10, 20)), "Sampler").trigger()
    assert any(n.type_id == "sample.sampler" for n in w.graph.nodes.values())


def test_node_menu_has_what_users_expect(make_window):
    w = _open_first_run(make_window)
    canny = _of_type(w, "preprocess.canny")
    w._select([canny.id])  # as a right-click on it does
    menu = w.build_node_menu(canny.id)
    for text in ("Run up to here", "Pin output preview", "Bypass", "Mute", "Collapse", "Colour",
                 "Group Selection", "Arrange", "Duplicate", "Copy", "Delete", "Help"):
        assert _action(menu, text) is not None, text
    _action(menu, "Collapse").trigger()
    assert w.graph.nodes[canny.id].collapsed
    _action(w.build_node_menu(canny.id), "Red").trigger()
    assert w.graph.nodes[canny.id].color
    w.editor.stack.undo()
    w.editor.stack.undo()
    assert not w.graph.nodes[canny.id].collapsed and w.graph.nodes[canny.id].color is None
    # A loader cannot be bypassed: its menu item is greyed.
    load = _of_type(w, "image.load")
    assert not _action(w.build_node_menu(load.id), "Bypass").isEnabled()


def test_auto_layout_is_one_undo_step_and_wires_run_left_to_right(make_window):
    w = _open_first_run(make_window)
    for i, nid in enumerate(w.graph.nodes):  # scramble
        w.graph.set_pos(nid, (900 - 300 * i, 50 * i))
    scrambled = {nid: n.pos for nid, n in w.graph.nodes.items()}
    w.scene.clearSelection()
    _key(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    for lk in w.graph.links.values():
        assert w.graph.nodes[lk.src].pos[0] < w.graph.nodes[lk.dst].pos[0]
    w.editor.stack.undo()
    assert {nid: n.pos for nid, n in w.graph.nodes.items()} == scrambled


def test_align_selected_nodes(make_window):
    w = _open_first_run(make_window)
    ids = list(w.graph.nodes)
    w._select(ids)
    w.arrange_actions["top"].trigger()
    assert len({w.graph.nodes[n].pos[1] for n in ids}) == 1
    w.editor.stack.undo()


def test_zoom_items_in_the_view_menu(make_window):
    w = _open_first_run(make_window)
    w.act_zoom_reset.trigger()
    assert w.view.zoom == pytest.approx(1.0)
    w.act_zoom_in.trigger()
    assert w.view.zoom > 1.0
    w.act_zoom_out.trigger()
    w.act_zoom_out.trigger()
    assert w.view.zoom < 1.0
    w.act_minimap.trigger()
    assert w.minimap.isVisible() == w.act_minimap.isChecked()


def test_library_finds_comfyui_names_and_says_when_nothing_matches(make_window):
    w = make_window()
    w.show()
    w.library.search.setText("KSampler")
    assert "sample.sampler" in w.library.visible_type_ids()
    w.library.search.setText("CLIPTextEncode")
    assert "text.encode" in w.library.visible_type_ids()
    assert not w.library.empty.isVisible()
    w.library.search.setText("zzqx nothing")
    assert w.library.visible_type_ids() == []
    assert w.library.empty.isVisible() and "No nodes match" in w.library.empty.text()
    w.quick_add.popup(w.mapToGlobal(QPoint(100, 100)))
    w.quick_add.search.setText("KSampler")
    assert w.quick_add.type_ids()[0] == "sample.sampler"
    w.quick_add.search.setText("zzqx")
    assert w.quick_add.empty.isVisible() and "No nodes match" in w.quick_add.empty.text()
    w.quick_add.hide()


def test_help_lists_shortcuts_and_node_help(make_window):
    w = _open_first_run(make_window)
    w.act_shortcuts.trigger()
    dlg = w._shortcuts_dialog
    dlg.filter("bypass")
    assert dlg.visible_ids() == ["canvas.bypass"]
    dlg.close()
    w._select([_of_type(w, "preprocess.canny").id])
    w.act_node_help.trigger()
    assert "Canny" in w._help_dialog.windowTitle()
    w._help_dialog.close()
    assert w.act_bypass.shortcut().toString() == "Ctrl+B"
    assert w.act_models.shortcut().toString() == "Ctrl+Shift+M"


def test_pinned_preview_keeps_showing_its_node(make_window, qtbot):
    w = _open_first_run(make_window)
    canny, preview, load = (_of_type(w, t) for t in ("preprocess.canny", "image.preview", "image.load"))
    w.run()
    wait_run(w, qtbot)
    w.runs.toggle_pin(load.id)
    w._select([canny.id])
    QApplication.processEvents()
    assert "Load Image" in w.preview.caption.text() or w.graph.title_of(load.id) in w.preview.caption.text()
    w.runs.toggle_pin(load.id)
    assert w.runs.pinned is None
    w._select([canny.id])
    w.scene.selectionChanged.emit()
    assert w.graph.title_of(canny.id) in w.preview.caption.text()


def test_a_mask_painted_from_the_node_menu_drives_the_next_run(make_window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from studio.ui.mask_editor import MaskEditor
    from tests.ui.test_mask_editor import line, show, stroke

    def paint(self):
        show(qtbot, self)
        stroke(self.canvas, line((60, 256), (450, 256)))
        self.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(MaskEditor, "exec", paint)
    w = _open_first_run(make_window)
    load = _of_type(w, "image.load")
    w._select([load.id])
    _action(w.build_node_menu(load.id), "Edit mask…").trigger()
    assert w.graph.nodes[load.id].params["mask"].endswith("_mask.png")
    w.act_run.trigger()
    wait_run(w, qtbot)
    assert not _last_job(w).summary.failed, _last_job(w).summary.failed
    mask = w.session.executor.outputs_of(load.id)[1]
    assert mask[0, 256, 250] == 1.0 and mask[0, 40, 250] == 0.0
    thumb = w.scene.node_items[load.id].thumbnail
    assert thumb is not None
    middle, top = thumb.pixelColor(thumb.width() // 2, thumb.height() // 2), thumb.pixelColor(thumb.width() // 2, 2)
    assert middle.red() - middle.blue() > top.red() - top.blue() + 40  # the painted band is tinted red
    w.editor.stack.undo()
    assert w.graph.nodes[load.id].params["mask"] == ""
