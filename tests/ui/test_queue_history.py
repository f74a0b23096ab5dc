"""The queue panel, the history panel and the A/B compare view, driven by a real Session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.app.queue import JobState
from studio.app.session import Session
from studio.core.nodetype import Int, Seed, SeedControl, node
from studio.core.registry import Registry
from studio.core.settings import Settings
from studio.ui import compare_view, history_panel
from studio.ui.compare_view import CompareView
from studio.ui.history_panel import HistoryPanel
from studio.ui.queue_panel import COL_STATE, COL_TIME, QueuePanel
from tests import helpers

PALETTE = [(220, 30, 30), (30, 200, 40), (30, 60, 220), (230, 200, 20)]
RENDERED: list[int] = []  # seeds the render node actually ran with


def colour_of(seed: int) -> tuple[int, int, int]:
    return PALETTE[seed % len(PALETTE)]


@node("test.render", title="Render", category="Test", side_effect=True,
      inputs=[Seed("seed", 1000), SeedControl("seed", "increment")], outputs=[])
def render(ctx, seed, seed_control):
    """Saves a 64x48 PNG of one colour per seed and previews it at 16x12."""
    RENDERED.append(seed)
    full = np.zeros((48, 64, 3), np.uint8)
    full[:] = colour_of(seed)
    path = ctx.output_dir / f"render-{seed}.png"
    Image.fromarray(full).save(path)
    ctx.preview(np.ascontiguousarray(full[::4, ::4]))
    ctx.add_output_file(path)


@node("test.show", title="Show", category="Test", side_effect=True, inputs=[Int("grey", 128, min=0, max=255)],
      outputs=[])
def show(ctx, grey):
    """A preview only: a result without a file."""
    ctx.preview(np.full((8, 8, 3), grey, np.uint8))


@pytest.fixture
def session(tmp_path):
    helpers.reset()
    RENDERED.clear()
    s = Session(registry=Registry([*helpers.TEST_TYPES, render, show]), settings=Settings(), output_dir=tmp_path)
    s.graph.add_node("test.render", params={"seed": 1000})
    s.graph.add_node("test.show", params={"grey": 50})
    return s


@pytest.fixture
def history(qtbot, session):
    panel = HistoryPanel(session)
    qtbot.addWidget(panel)
    yield panel
    for dialog in list(panel.dialogs):
        dialog.close()
    QApplication.processEvents()


def run_all(session: Session) -> None:
    while session.run_next() is not None:
        pass


def same_colour(actual: QColor, expected: tuple[int, int, int], tol: int = 3) -> bool:
    return all(abs(a - e) <= tol for a, e in zip((actual.red(), actual.green(), actual.blue()), expected, strict=True))


def action(menu, text: str):
    found = [a for a in menu.actions() if a.text().startswith(text)]
    assert found, f"no action {text!r} in {[a.text() for a in menu.actions()]}"
    return found[0]


# -- the queue panel -----------------------------------------------------------------------------------
def test_queue_panel_lists_pending_jobs_cancels_one_and_clears(qtbot, session):
    panel = QueuePanel(session)
    qtbot.addWidget(panel)
    jobs = session.enqueue(3)
    panel.refresh()
    assert panel.shown_job_ids() == [jobs[2].id, jobs[1].id, jobs[0].id]  # newest on top
    assert [panel.item(j.id).text(COL_STATE) for j in jobs] == ["pending"] * 3
    assert "seed 1001" in panel.item(jobs[1].id).text(1)
    assert all(panel.cancel_button(j.id) is not None for j in jobs)

    panel.cancel_button(jobs[1].id).click()
    assert jobs[1].state is JobState.CANCELLED
    assert panel.item(jobs[1].id).text(COL_STATE) == "cancelled"
    assert panel.cancel_button(jobs[1].id) is None

    run_all(session)
    panel.refresh()
    assert RENDERED == [1000, 1002]  # the cancelled job never ran
    assert [panel.item(j.id).text(COL_STATE) for j in jobs] == ["done", "cancelled", "done"]
    assert panel.item(jobs[0].id).text(COL_TIME).endswith(" s")
    assert panel.item(jobs[1].id).text(COL_TIME) == ""
    assert all(panel.cancel_button(j.id) is None for j in jobs)

    more = session.enqueue(2)
    panel.refresh()
    assert panel.shown_job_ids()[:2] == [more[1].id, more[0].id]
    assert panel.clear_pending_button.isEnabled()
    panel.clear_pending_button.click()
    assert session.queue.pending() == []
    assert panel.shown_job_ids() == [jobs[2].id, jobs[1].id, jobs[0].id]
    run_all(session)
    assert RENDERED == [1000, 1002]

    panel.clear_finished_button.click()
    assert panel.shown_job_ids() == []
    assert not panel.clear_finished_button.isEnabled()


def test_queue_panel_cancels_the_running_job(qtbot, session):
    panel = QueuePanel(session)
    qtbot.addWidget(panel)
    first, second = session.enqueue(2)
    job = session.queue.take_next()
    assert job is first
    panel.refresh()
    assert panel.item(first.id).text(COL_STATE) == "running"
    panel.cancel_button(first.id).click()
    session.execute(job)
    run_all(session)
    panel.refresh()
    assert first.state is JobState.CANCELLED and second.state is JobState.DONE
    assert RENDERED == [1001]
    assert panel.item(first.id).text(COL_STATE) == "cancelled"


def test_queue_panel_reuses_rows(qtbot, session):
    panel = QueuePanel(session)
    qtbot.addWidget(panel)
    jobs = session.enqueue(200)
    panel.refresh()
    rows = {j.id: panel.item(j.id) for j in jobs}
    session.cancel(jobs[5].id)
    session.enqueue(1)
    panel.refresh()
    assert all(panel.item(job_id) is item for job_id, item in rows.items())
    assert len(panel.shown_job_ids()) == 201
    assert panel.item(jobs[5].id).text(COL_STATE) == "cancelled"


# -- the history panel ---------------------------------------------------------------------------------
def test_history_shows_one_thumbnail_per_result_newest_first(session, history):
    jobs = session.enqueue(3)
    session.cancel(jobs[1].id)
    run_all(session)
    history.refresh()
    items = history.items()
    assert [history.entry(i)[0].id for i in items] == [jobs[2].id, jobs[2].id, jobs[0].id, jobs[0].id]
    assert [history.entry(i)[1].title for i in items] == ["Render", "Show", "Render", "Show"]
    icon = items[0].icon().pixmap(history_panel.THUMB).toImage()
    assert same_colour(icon.pixelColor(icon.width() // 2, icon.height() // 2), colour_of(1002))

    newer = session.enqueue(1)[0]
    run_all(session)
    history.refresh()
    assert [history.entry(i)[0].id for i in history.items()][:2] == [newer.id, newer.id]
    assert history.items()[2:] == items  # existing thumbnails are kept, not rebuilt

    session.clear_history()
    history.refresh()
    assert history.items() == []


def test_open_workflow_emits_what_the_job_ran(qtbot, session, history):
    jobs = session.enqueue(2)  # the document's seed has moved on to 1002
    run_all(session)
    history.refresh()
    oldest = history.items()[-1]
    assert history.entry(oldest)[0] is jobs[0]
    menu = history.context_menu(oldest)
    with qtbot.waitSignal(history.open_workflow, timeout=1000) as blocker:
        action(menu, "Open the workflow that made this").trigger()
    text, name = blocker.args
    assert text == jobs[0].workflow_text
    seeds = [n["params"]["seed"] for n in json.loads(text)["nodes"] if n["type"] == "test.render"]
    assert seeds == [1000]
    assert "render" in name or "job" in name


def test_full_view_reveal_and_bounded_loading(qtbot, session, history, tmp_path, monkeypatch):
    session.enqueue(1)
    run_all(session)
    history.refresh()
    saved, preview_only = history.items()
    opened = []
    monkeypatch.setattr(history_panel, "open_url", lambda url: opened.append(url.toLocalFile()) or True)
    action(history.context_menu(saved), "Reveal the file").trigger()
    assert opened == [str(tmp_path)]
    assert not action(history.context_menu(preview_only), "Reveal the file").isEnabled()

    dialog = history.show_full(saved)
    image = dialog.pane.current_image()
    assert (image.width(), image.height()) == (64, 48)  # the file, not the 16x12 preview
    assert "render-1000.png" in dialog.windowTitle() and "seed 1000" in dialog.windowTitle()

    monkeypatch.setattr(compare_view, "MAX_FULL_PIXELS", 100)  # too big: shown from the thumbnail
    image = history.show_full(saved).pane.current_image()
    assert (image.width(), image.height()) == (16, 12)


def test_history_compares_two_selected_results(qtbot, session, history):
    session.enqueue(2)
    run_all(session)
    history.refresh()
    newer, _, older, _ = history.items()
    assert not history.compare_button.isEnabled()
    older.setSelected(True)
    newer.setSelected(True)
    assert history.compare_button.isEnabled()
    dialog = history.compare_selected()
    canvas = dialog.view.canvas
    canvas.resize(400, 300)
    grab = canvas.grab().toImage()
    rect, y = canvas.image_rect(0), int(canvas.image_rect(0).center().y())
    assert same_colour(grab.pixelColor(int(rect.left() + rect.width() * 0.2), y), colour_of(1000))  # A: older
    assert same_colour(grab.pixelColor(int(rect.left() + rect.width() * 0.8), y), colour_of(1001))  # B: newer
    newer.setSelected(False)
    menu = history.context_menu(newer)
    assert action(menu, "Compare with").isEnabled()


# -- the compare view ----------------------------------------------------------------------------------
def solid(rgb: tuple[int, int, int]) -> np.ndarray:
    arr = np.zeros((60, 80, 3), np.uint8)
    arr[:] = rgb
    return arr


def test_compare_view_shows_a_left_and_b_right_of_a_movable_split(qtbot):
    red, blue = (230, 20, 20), (20, 40, 230)
    view = CompareView()
    qtbot.addWidget(view)
    view.set_images(solid(red), solid(blue), "first.png", "second.png")
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    canvas = view.canvas
    rect = canvas.image_rect(0)
    y = int(rect.center().y())
    left, right = int(rect.left() + rect.width() * 0.25), int(rect.left() + rect.width() * 0.75)

    def colours() -> tuple[QColor, QColor]:
        image: QImage = canvas.grab().toImage()
        return image.pixelColor(left, y), image.pixelColor(right, y)

    a, b = colours()
    assert same_colour(a, red) and same_colour(b, blue)
    assert view.caption_a.text() == "A: first.png" and view.caption_b.text() == "B: second.png"

    view.slider.setValue(view.slider.maximum() * 9 // 10)  # the line moves right: A covers both points
    assert view.split == pytest.approx(0.9)
    a, b = colours()
    assert same_colour(a, red) and same_colour(b, red)

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(canvas.width() // 10, y))
    assert view.split == pytest.approx(0.1, abs=0.01)
    assert view.slider.value() == pytest.approx(100, abs=10)
    a, b = colours()
    assert same_colour(a, blue) and same_colour(b, blue)

    x = canvas.width() * 0.6  # a drag with the button held moves the line as well
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(x, y), canvas.mapToGlobal(QPointF(x, y)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, move)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(x), y))
    assert view.split == pytest.approx(0.6, abs=0.01)
    a, b = colours()
    assert same_colour(a, red) and same_colour(b, blue)
