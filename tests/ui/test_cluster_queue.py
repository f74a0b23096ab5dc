"""Preferences ▸ "Run queued jobs on": the window's queue hands jobs to a cluster runner (here a
stand-in for ``ClusterRunner``), shows them like local jobs, and a cluster that cannot run them fails
the job with one clear line while the window and later jobs go on. One slow test uses real local Ray."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QDialogButtonBox

from studio.app import events as sev
from studio.app.queue import JobState, Result
from studio.core.events import RunSummary
from studio.core.settings import Settings
from studio.ui import preferences, worker
from studio.ui.queue_panel import COL_STATE
from tests.ray_processes import ray_processes

ADDRESS = "ray://head:10001"


class FakeRunner:
    """Does what ClusterRunner does for the window: JobStarted, a PNG in the output folder, the job
    finished with a result without a node or image, JobFinished."""

    made: list[FakeRunner] = []
    fail_with: Exception | None = None
    gate: threading.Event | None = None  # when set, a job waits for it after JobStarted

    def __init__(self, address: str, **_: object) -> None:
        self.address, self.closed, self.jobs, self.threads = address, False, [], []
        FakeRunner.made.append(self)

    def execute(self, session, job) -> RunSummary:
        self.threads.append(QThread.currentThread())
        self.jobs.append(job.id)
        session.emit(sev.JobStarted(job))
        if FakeRunner.gate is not None:
            FakeRunner.gate.wait(10)
        if FakeRunner.fail_with is not None:
            raise FakeRunner.fail_with
        out = Path(job.services.output_dir) / f"cluster_{job.id:05}.png"
        Image.new("RGB", (8, 8), (200, 10, 10)).save(out)
        job.results.append(Result("", out.name, None, str(out)))
        summary = RunSummary(job.id, outputs=(str(out),), seconds=0.01)
        session.queue.finish(job, summary)
        session.emit(sev.JobFinished(job))
        return summary

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    FakeRunner.made, FakeRunner.fail_with, FakeRunner.gate = [], None, None
    monkeypatch.setattr(worker, "ClusterRunner", FakeRunner)
    monkeypatch.setattr(worker, "ray_installed", lambda: True)
    return FakeRunner


def _window(make_window, tmp_path, cluster: str):
    w = make_window(settings=Settings(output_dir=str(tmp_path / "out"), cluster=cluster))
    (tmp_path / "out").mkdir(exist_ok=True)
    seeded = w.editor.add_node("test.seeded", (0, 0))
    saver = w.editor.add_node("image.save", (300, 0))
    w.editor.connect(seeded, "image", saver, "images")
    return w


def _run_and_wait(w, qtbot, count: int = 1) -> None:
    before = len(w.session.queue.history())
    for _ in range(count):
        w.act_run.trigger()
    qtbot.waitUntil(lambda: len(w.session.queue.history()) == before + count and not w.evaluator.busy,
                    timeout=10_000)


def _cluster_lines(w) -> list[str]:
    return [line for line in w.problems.lines() if "cluster" in line]


def test_a_queued_job_goes_to_the_cluster_and_shows_like_a_local_one(make_window, qtbot, tmp_path, fake):
    w = _window(make_window, tmp_path, ADDRESS)
    fake.gate = threading.Event()
    w.act_run.trigger()
    qtbot.waitUntil(lambda: bool(w.queue_panel.shown_job_ids()))
    job_id = w.queue_panel.shown_job_ids()[0]
    qtbot.waitUntil(lambda: w.queue_panel.item(job_id).text(COL_STATE) == "running")
    qtbot.waitUntil(lambda: "not streamed from cluster workers" in w.preview.view.message)
    assert w.queue_panel.item(job_id).text(COL_STATE) == "running"
    fake.gate.set()
    qtbot.waitUntil(lambda: bool(w.session.queue.history()) and not w.evaluator.busy)
    qtbot.waitUntil(lambda: w.queue_panel.item(job_id) is None or w.queue_panel.item(job_id).text(COL_STATE) == "done")
    [runner] = fake.made
    [job] = w.session.queue.history()
    assert runner.address == ADDRESS and runner.jobs == [job.id]
    assert runner.threads == [w.evaluator.thread]  # off the GUI thread
    assert job.state is JobState.DONE
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"cluster_{job.id:05}.png"]  # nothing ran here
    qtbot.waitUntil(lambda: w.history_panel.list.count() == 1)
    assert w.history_panel.entry(w.history_panel.list.item(0))[1].path.endswith(f"cluster_{job.id:05}.png")
    assert "not streamed from cluster workers" in w.preview.view.message
    assert not [line for line in w.problems.lines() if "error" in line.lower() or "failed" in line]


def test_with_no_cluster_set_the_job_runs_here(make_window, qtbot, tmp_path, fake):
    w = _window(make_window, tmp_path, "")
    _run_and_wait(w, qtbot)
    [job] = w.session.queue.history()
    assert fake.made == []
    assert job.state is JobState.DONE and job.summary.executed  # the nodes ran in this process
    assert job.results and job.results[0].node_id  # a local result names its node
    assert "not streamed" not in w.preview.view.message


def test_a_runner_that_raises_fails_the_job_with_one_clear_line_and_later_jobs_run(make_window, qtbot,
                                                                                    tmp_path, fake):
    fake.fail_with = ModuleNotFoundError("No module named 'ray'")
    w = _window(make_window, tmp_path, ADDRESS)
    _run_and_wait(w, qtbot)
    [job] = w.session.queue.history()
    assert job.state is JobState.FAILED
    [line] = _cluster_lines(w)
    assert ADDRESS in line and "No module named 'ray'" in line
    assert "pip install 'latent-studio[cluster]'" in line and "Run queued jobs on" in line
    assert fake.made[0].jobs == [job.id] and fake.made[0].closed  # dropped: the next job gets a fresh runner
    assert w.session.settings.cluster == ADDRESS  # the setting is left as it was

    fake.fail_with = None
    _run_and_wait(w, qtbot)
    assert w.session.queue.history()[-1].state is JobState.DONE
    assert len(fake.made) == 2 and len(fake.made[1].jobs) == 1
    assert len(_cluster_lines(w)) == 1


def test_without_ray_installed_the_job_fails_saying_what_to_install(make_window, qtbot, tmp_path, fake,
                                                                    monkeypatch):
    monkeypatch.setattr(worker, "ray_installed", lambda: False)
    w = _window(make_window, tmp_path, "auto")
    _run_and_wait(w, qtbot, count=2)
    assert [j.state for j in w.session.queue.history()] == [JobState.FAILED, JobState.FAILED]
    assert fake.made == []  # never falls back to running here
    lines = _cluster_lines(w)
    assert len(lines) == 2
    assert all("'auto'" in line and "pip install 'latent-studio[cluster]'" in line for line in lines)
    assert list((tmp_path / "out").iterdir()) == []
    assert "not streamed" not in w.preview.view.message


def test_changing_the_address_rebuilds_the_runner_and_quitting_closes_it(make_window, qtbot, tmp_path, fake):
    w = _window(make_window, tmp_path, ADDRESS)
    _run_and_wait(w, qtbot, count=2)
    [first] = fake.made
    assert len(first.jobs) == 2  # one runner for both: its workers keep their models
    w.session.apply_settings(Settings(output_dir=str(tmp_path / "out"), cluster="auto"))
    _run_and_wait(w, qtbot)
    assert first.closed and [r.address for r in fake.made] == [ADDRESS, "auto"]
    second = fake.made[1]
    assert len(second.jobs) == 1 and not second.closed
    w.session.apply_settings(Settings(output_dir=str(tmp_path / "out")))
    _run_and_wait(w, qtbot)
    assert len(fake.made) == 2 and w.session.queue.history()[-1].summary.executed  # back on this machine
    w.shutdown()
    assert second.closed


def test_the_preferences_field_edits_the_cluster_and_refuses_a_bad_address(qtbot, monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(preferences, "warn", lambda parent, title, text: warned.append(text))
    dlg = preferences.PreferencesDialog(Settings(cluster="auto"))
    qtbot.addWidget(dlg)
    assert dlg.cluster.text() == "auto"
    assert dlg.cluster.placeholderText() == "this machine (or auto, ray://host:port)"
    assert "pip install 'latent-studio[cluster]'" in dlg.cluster.toolTip()
    assert "previews" in dlg.cluster.toolTip().lower()
    dlg.cluster.clear()
    qtbot.keyClicks(dlg.cluster, "head:10001")
    dlg.accept()
    assert warned and "'head:10001'" in warned[0] and dlg.result() != dlg.DialogCode.Accepted
    dlg.cluster.selectAll()
    qtbot.keyClicks(dlg.cluster, " ray://head:10001 ")
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dlg.result() == dlg.DialogCode.Accepted and len(warned) == 1
    assert dlg.settings().cluster == "ray://head:10001"
    dlg.cluster.clear()
    assert dlg.settings().cluster == ""


@pytest.fixture
def local_ray(tiny_root, tmp_path, monkeypatch):
    """Tiny models, no cluster address from outside, and no Ray process left afterwards."""
    pytest.importorskip("ray")
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, never someone's cluster
    monkeypatch.chdir(tmp_path)
    assert not ray_processes(), "Ray is already running here"
    yield tmp_path
    import ray

    if ray.is_initialized():
        ray.shutdown()
    deadline = time.monotonic() + 20
    while ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes(), "Ray processes were left running"


@pytest.mark.slow
def test_a_queued_job_runs_on_a_local_ray_worker_and_its_png_is_in_history(local_ray, registry, qtbot):
    from studio.core.settings import resources_dir
    from studio.ui.app import create_app
    from studio.ui.main_window import MainWindow

    create_app()
    threads_before = set(threading.enumerate())
    out = local_ray / "out"
    # Not make_window: Ray's driver, called from the evaluator thread, registers it with Python's
    # threading as a "dummy" thread, which that fixture would count as left running.
    w = MainWindow(Settings(output_dir=str(out), cluster="auto"), registry=registry, restore_state=False)
    w.ask_save_changes = lambda: "discard"
    qtbot.addWidget(w)
    assert w.open_file(resources_dir() / "workflows" / "txt2img.json", ask=False)
    for ref, param, value in (("Empty Latent", "width", 64), ("Empty Latent", "height", 64), ("Sampler", "steps", 2)):
        w.editor.set_param(w.graph.find_nodes(ref)[0].id, param, value)
    w.act_run.trigger()
    qtbot.waitUntil(lambda: "not streamed from cluster workers" in w.preview.view.message, timeout=10_000)
    qtbot.waitUntil(lambda: bool(w.session.queue.history()) and not w.evaluator.busy, timeout=300_000)
    [job] = w.session.queue.history()
    assert job.state is JobState.DONE, job.summary.failed
    assert isinstance(w.evaluator.worker.runner, worker.ClusterRunner)
    [png] = out.glob("*.png")
    qtbot.waitUntil(lambda: w.history_panel.list.count() == 1)
    assert w.history_panel.entry(w.history_panel.list.item(0))[1].path == str(png)
    assert Image.open(png).size == (64, 64)
    w.shutdown()  # closes the runner: its workers and the Ray instance it started
    assert w.evaluator.worker.runner is None and w.evaluator.thread.isFinished()
    w.close()
    left = [t for t in set(threading.enumerate()) - threads_before
            if t.is_alive() and not isinstance(t, threading._DummyThread)]
    assert not left
