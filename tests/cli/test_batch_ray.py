"""``latent-studio batch`` on a local two-worker Ray instance: the same bytes as ``run``, a worker
killed mid-run loses nothing, and no Ray process outlives the batch. Slow (Ray starts, and each
worker loads its own models); skipped where Ray is not installed."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from studio.batch import cli as batch_cli  # noqa: E402
from studio.batch.output import OrderedWriter  # noqa: E402
from studio.batch.plan import Override, build_plan, crossed  # noqa: E402
from studio.batch.schedule import Scheduler  # noqa: E402
from studio.cli import main  # noqa: E402
from studio.core.settings import resources_dir  # noqa: E402
from tests.ray_processes import ray_processes  # noqa: E402

pytestmark = pytest.mark.slow

TXT2IMG = resources_dir() / "workflows" / "txt2img.json"
SMALL = ["--set", "Empty Latent.width=64", "--set", "Empty Latent.height=64", "--set", "Sampler.steps=2"]


@pytest.fixture
def models_env(tiny_root, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, never someone's cluster
    monkeypatch.chdir(tmp_path)
    before = ray_processes()
    assert not before, f"Ray is already running here: {before}"
    scratch = set(Path(tempfile.gettempdir()).glob("latent-studio-batch-*"))
    yield tmp_path
    for left in set(Path(tempfile.gettempdir()).glob("latent-studio-batch-*")) - scratch:
        shutil.rmtree(left, ignore_errors=True)  # the scratch folder of a worker killed mid-run
    if ray.is_initialized():
        ray.shutdown()
    deadline = time.monotonic() + 20
    while ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes(), "Ray processes were left running"


def test_two_ray_workers_write_the_bytes_run_writes(models_env, capsys):
    out_run, out_batch = models_env / "run", models_env / "batch"
    assert main(["run", str(TXT2IMG), *SMALL, "--sweep", "Sampler.seed=1,2,3,4", "--output-dir", str(out_run)]) == 0
    capsys.readouterr()
    code = main(["batch", str(TXT2IMG), *SMALL, "--sweep", "Sampler.seed=1,2,3,4", "--cluster", "auto",
                 "--workers", "2", "--output-dir", str(out_batch)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not ray.is_initialized()  # the batch shut down the instance it started
    assert "[cpu-1] ready" in err and "[cpu-2] ready" in err
    done_by = {w for w in ("cpu-1", "cpu-2") if any(line.startswith(f"[{w}] run") and " done in " in line
                                                   for line in err.splitlines())}
    assert done_by == {"cpu-1", "cpu-2"}  # both workers ran something
    ran = sorted(p.name for p in out_run.iterdir())
    assert sorted(p.name for p in out_batch.iterdir()) == ran and len(ran) == 4
    for name in ran:
        assert (out_batch / name).read_bytes() == (out_run / name).read_bytes(), name


def test_killing_a_worker_mid_run_loses_no_run(models_env):
    from studio.app import Session
    from studio.core.workflow import dumps

    session = Session()
    session.open(TXT2IMG)
    g = session.graph
    for ref, param, value in (("Empty Latent", "width", 64), ("Empty Latent", "height", 64), ("Sampler", "steps", 2)):
        g.set_param(g.find_nodes(ref)[0].id, param, value)
    document = dumps(g)
    sampler = g.find_nodes("Sampler")[0].id
    plan = build_plan(g, crossed([[[Override(sampler, "seed", s)] for s in (1, 2, 3, 4)]]))

    pool, started = batch_cli.open_pool(document, session.settings, str(TXT2IMG), cluster="auto", workers=2)
    victim = pool.infos["cpu-2"]["pid"]
    killed: list[str] = []

    def progress(worker: str, message: str) -> None:
        if worker == "cpu-2" and "started" in message and not killed:
            time.sleep(1.0)  # it is loading its models now
            os.kill(victim, signal.SIGKILL)
            killed.append(message)

    out = models_env / "out"
    written: list[int] = []
    writer = OrderedWriter(out, len(plan), lambda outcome, paths: written.append(outcome.index))
    try:
        report = Scheduler(pool, plan, on_result=writer.add, progress=progress).run()
    finally:
        batch_cli.close_pool(pool, started)
    assert killed
    assert report.ok, report.failed
    assert len(report.retried) == 1 and pool.workers() == []  # closed
    assert written == [0, 1, 2, 3]
    assert {o.worker for o in report.done} == {"cpu-1"}
    assert len({p.read_bytes() for p in out.glob("*.png")}) == 4


def test_ctrl_c_stops_every_worker_and_leaves_no_ray_process(models_env):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "studio", "batch", str(TXT2IMG), *SMALL, "--sweep",
                             "Sampler.seed=1,2,3,4,5,6", "--cluster", "auto", "--workers", "2",
                             "--output-dir", str(models_env / "out")],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=models_env,
                            start_new_session=True)
    try:
        seen = []
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "started" in line:
                break
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C in a terminal does: the whole process group
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen) + err
    assert "cancelled" in err and "Traceback" not in err


def test_queued_jobs_run_on_a_ray_worker_that_keeps_its_models(models_env):
    from studio.app import JobState, Session
    from studio.batch.queue_runner import ClusterRunner

    session = Session(output_dir=models_env / "out")
    session.open(TXT2IMG)
    g = session.graph
    for ref, param, value in (("Empty Latent", "width", 64), ("Empty Latent", "height", 64), ("Sampler", "steps", 2),
                              ("Sampler", "seed_control", "increment")):
        g.set_param(g.find_nodes(ref)[0].id, param, value)
    first, second = session.enqueue(2)
    runner = ClusterRunner("auto", workers=1)
    try:
        summaries = [runner.execute(session, session.queue.take_next()) for _ in range(2)]
    finally:
        runner.close()
    assert all(s.ok for s in summaries), [s.failed for s in summaries]
    assert first.state is JobState.DONE and second.state is JobState.DONE
    assert len(summaries[1].executed) < len(summaries[0].executed)  # only the sampler and after ran again
    assert sorted(p.name for p in (models_env / "out").iterdir()) == ["txt2img_00001.png", "txt2img_00002.png"]
