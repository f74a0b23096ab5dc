"""``latent-studio batch`` in this process: the same PNG bytes as ``run``, the plan, the scheduler's
affinity and retries, the ordered writer, and bad input refused before any worker starts."""

from __future__ import annotations

import json
import platform
import struct
import sys
from pathlib import Path

import pytest

from studio.batch import cli as batch_cli
from studio.batch.output import OrderedWriter, write_outcome
from studio.batch.plan import Override, RunSpec, build_plan, crossed
from studio.batch.schedule import Scheduler, WorkerLost
from studio.batch.worker import RunOutcome
from studio.cli import main
from studio.core.settings import resources_dir

TXT2IMG = resources_dir() / "workflows" / "txt2img.json"
SMALL = ["--set", "Empty Latent.width=64", "--set", "Empty Latent.height=64", "--set", "Sampler.steps=2"]


@pytest.fixture
def models_env(tiny_root, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _chunks(png: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kinds.append(png[at + 4:at + 8])
        at += 12 + length
    return kinds


def test_local_batch_writes_the_bytes_run_writes(models_env, capsys):
    out_run, out_batch = models_env / "run", models_env / "batch"
    assert main(["run", str(TXT2IMG), *SMALL, "--sweep", "Sampler.seed=1,2,3,4", "--output-dir", str(out_run)]) == 0
    capsys.readouterr()
    ray_before = "ray" in sys.modules
    code = main(["batch", str(TXT2IMG), *SMALL, "--sweep", "Sampler.seed=1,2,3,4", "--cluster", "local",
                 "--output-dir", str(out_batch), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert ("ray" in sys.modules) == ray_before  # a local batch never imports Ray
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [line["run"] for line in lines] == [1, 2, 3, 4]
    assert "[local] run 4/4 done" in out.err
    ran = sorted(p.name for p in out_run.iterdir())
    assert ran == [f"txt2img_0000{i}.png" for i in (1, 2, 3, 4)]
    assert sorted(p.name for p in out_batch.iterdir()) == ran
    for name in ran:
        assert (out_batch / name).read_bytes() == (out_run / name).read_bytes(), name
    assert len({(out_batch / name).read_bytes() for name in ran}) == 4  # four seeds, four images

    # Nothing in the file depends on when or where it was made: no time chunk, no host name.
    png = (out_batch / ran[0]).read_bytes()
    assert set(_chunks(png)) == {b"IHDR", b"iTXt", b"IDAT", b"IEND"}
    from studio.core.pngmeta import read_text_chunks

    texts = read_text_chunks(out_batch / ran[0])
    workflow = json.loads(texts["latent-studio.workflow"])
    assert set(workflow["environment"]) <= {"app", "python", "torch", "diffusers", "transformers", "device", "dtype"}
    assert platform.node() not in texts["latent-studio.workflow"] + texts["parameters"]
    assert [n["params"]["seed"] for n in workflow["nodes"] if n["type"] == "sample.sampler"] == [1]


@pytest.mark.parametrize(("args", "words"), [
    (["--sweep", "Nope.seed=1"], "no node with id or title 'Nope'"),
    (["--sweep", "Sampler.seed="], "needs at least one value"),
    (["--set", "Sampler.steps=abc"], "not a valid int"),
    (["--cluster", "somewhere"], "--cluster must be local, auto or ray://HOST:PORT"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--prompts", "missing.txt"], "cannot read --prompts missing.txt"),
])
def test_bad_input_exits_2_before_any_worker_starts(models_env, monkeypatch, capsys, args, words):
    def no_pool(*a, **k):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(batch_cli, "open_pool", no_pool)
    extra = [] if "--cluster" in args else ["--cluster", "auto"]
    assert main(["batch", str(TXT2IMG), *args, *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_bad_workflow_exits_2_before_any_worker_starts(models_env, monkeypatch, capsys):
    monkeypatch.setattr(batch_cli, "open_pool", lambda *a, **k: pytest.fail("a worker was started"))
    bad = models_env / "bad.json"
    bad.write_text('{"format": "latent-studio.workflow", "version": 1, "nodes": [{"id": 5}]}')
    assert main(["batch", str(bad), "--sweep", "x.seed=1", "--cluster", "auto"]) == 2
    doc = json.loads(TXT2IMG.read_text())
    for node in doc["nodes"]:
        if node["type"] == "model.checkpoint":
            node["params"]["checkpoint"] = "gone.safetensors"
    missing = models_env / "missing.json"
    missing.write_text(json.dumps(doc))
    assert main(["batch", str(missing), "--sweep", "Sampler.seed=1,2", "--cluster", "auto"]) == 2
    err = capsys.readouterr().err
    assert "gone.safetensors" in err and "Traceback" not in err


def test_sweeps_cross_and_prompts_and_seed_policies_make_the_plan(models_env):
    from studio.app import Session

    session = Session()
    session.open(TXT2IMG)
    g = session.graph
    sampler = g.find_nodes("Sampler")[0].id
    prompt = g.find_nodes("Prompt")[0].id
    g.set_param(sampler, "seed_control", "increment")
    axes = [[[Override(sampler, "cfg", c)] for c in (5.0, 7.0)],
            [[Override(prompt, "text", t)] for t in ("a cat", "a dog", "a fox")]]
    plan = build_plan(g, crossed(axes))
    assert len(plan) == 6 and [s.index for s in plan] == list(range(6))
    assert [(s.overrides[0].value, s.overrides[1].value) for s in plan][:4] == [
        (5.0, "a cat"), (5.0, "a dog"), (5.0, "a fox"), (7.0, "a cat")]
    # Seeds move on between runs as for ``run --repeat``, and each run carries its own seed.
    assert [s.overrides[-1] for s in plan] == [Override(sampler, "seed", 42 + i) for i in range(6)]
    assert len({s.model_key for s in plan}) == 1 and plan[0].model_key[0][2] == "v1-5-pruned-emaonly.safetensors"
    assert "Prompt.text=a dog" in plan[1].label


def test_prompts_file_gives_one_run_per_line(models_env, monkeypatch):
    (models_env / "prompts.txt").write_text("a cat\n\n  a dog  \n")
    seen: list = []

    def fake_run_batch(document, settings, source, plan, out_dir, **kw):
        seen.extend(plan)
        return 0

    monkeypatch.setattr(batch_cli, "run_batch", fake_run_batch)
    assert main(["batch", str(TXT2IMG), "--prompts", "prompts.txt", "--prompt-node", "Prompt.text",
                 "--sweep", "Sampler.seed=1,2", "--cluster", "local"]) == 0
    assert [(s.overrides[0].value, s.overrides[1].value) for s in seen] == [
        (1, "a cat"), (1, "a dog"), (2, "a cat"), (2, "a dog")]


# --- the scheduler, over a fake pool ---------------------------------------------------------------


class FakePool:
    """Workers that finish each entry at the next ``wait``; ``fail`` says which (worker, index) fail."""

    def __init__(self, names, fail=(), lose=()):
        self.names, self.fail, self.lose = list(names), set(fail), set(lose)
        self.running: dict = {}
        self.log: list = []

    def workers(self):
        return list(self.names)

    def submit(self, worker, spec):
        self.running[worker] = spec
        self.log.append((worker, spec.index))

    def wait(self, timeout):
        done = []
        for worker, spec in list(self.running.items()):
            del self.running[worker]
            if (worker, spec.index) in self.lose:
                self.names.remove(worker)
                done.append((worker, spec, WorkerLost(worker)))
            elif (worker, spec.index) in self.fail:
                done.append((worker, spec, RunOutcome(spec.index, worker, failed={"Sampler": "boom"})))
            else:
                done.append((worker, spec, RunOutcome(spec.index, worker, files=[("x_00001.png", b"%d" % spec.index)])))
        return done

    def cancel(self):
        pass

    def close(self):
        pass


def _plan(keys):
    return [RunSpec(i, (), model_key=((k, "ckpt", k),)) for i, k in enumerate(keys)]


def test_runs_that_share_models_go_to_the_same_worker():
    pool = FakePool(["w1", "w2"])
    results: dict = {}
    report = Scheduler(pool, _plan("AABBAB"), on_result=results.__setitem__).run(poll=0)
    assert report.ok and sorted(results) == list(range(6))
    by_worker = {w: {"AABBAB"[i] for ww, i in pool.log if ww == w} for w in ("w1", "w2")}
    assert by_worker == {"w1": {"A"}, "w2": {"B"}}


def test_a_failed_run_is_retried_once_on_another_worker_then_reported():
    pool = FakePool(["w1", "w2"], fail={("w1", 0), ("w2", 1), ("w1", 1)})
    results: dict = {}
    report = Scheduler(pool, _plan("AA"), on_result=results.__setitem__).run(poll=0)
    assert [entry for entry in pool.log if entry[1] == 0] == [("w1", 0), ("w2", 0)]
    assert results[0] is not None and results[0].worker == "w2"
    assert results[1] is None and "Sampler: boom" in report.failed[1]
    assert sorted(report.retried) == [0, 1] and not report.ok


def test_a_lost_worker_loses_no_run():
    pool = FakePool(["w1", "w2"], lose={("w2", 1)})
    results: dict = {}
    report = Scheduler(pool, _plan("AAAA"), on_result=results.__setitem__).run(poll=0)
    assert report.ok and all(results[i] is not None for i in range(4))
    assert pool.names == ["w1"] and results[1].worker == "w1" and report.retried == [1]


def test_the_writer_numbers_files_in_plan_order_and_never_overwrites(tmp_path):
    (tmp_path / "x_00001.png").write_bytes(b"old")
    written: list = []
    writer = OrderedWriter(tmp_path, 3, lambda outcome, paths: written.append((outcome.index, paths)))
    files = [("x_00001.png", b"two"), ("x_00001.json", b"{}")]
    writer.add(2, RunOutcome(2, "w", files=[("sub/x_00001.png", b"three")]))
    writer.add(1, RunOutcome(1, "w", files=files))
    assert written == []  # run 0 has not finished
    writer.add(0, None)  # failed for good: nothing to write, the rest go on
    assert [i for i, _ in written] == [1, 2]
    assert [p.name for p in written[0][1]] == ["x_00002.png", "x_00002.json"]
    assert (tmp_path / "x_00001.png").read_bytes() == b"old" and (tmp_path / "sub" / "x_00001.png").exists()
    with pytest.raises(ValueError, match="leaves the output folder"):
        write_outcome(tmp_path, RunOutcome(3, "w", files=[("../evil_00001.png", b"")]))


def test_ctrl_c_cancels_the_workers_and_keeps_what_finished(tmp_path, monkeypatch, capsys):
    class Interrupted(FakePool):
        cancelled = closed = False

        def wait(self, timeout):
            if len(self.log) > 2:  # two runs finished; Ctrl+C while the third runs
                raise KeyboardInterrupt
            return super().wait(timeout)

        def cancel(self):
            self.cancelled = True

        def close(self):
            self.closed = True

    pool = Interrupted(["w1"])
    monkeypatch.setattr(batch_cli, "open_pool", lambda *a, **k: (pool, False))
    code = batch_cli.run_batch("{}", None, None, _plan("AAAA"), tmp_path)
    assert code == 130 and pool.cancelled and pool.closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_00001.png", "x_00002.png"]
    assert "cancelled" in capsys.readouterr().err


def test_a_queued_job_runs_through_the_cluster_runner(models_env):
    from studio.app import JobState, Session
    from studio.app import events as sev
    from studio.batch.queue_runner import ClusterRunner
    from studio.core.pngmeta import read_text_chunks

    session = Session(output_dir=models_env / "out")
    session.open(TXT2IMG)
    for ref, param, value in (("Empty Latent", "width", 64), ("Empty Latent", "height", 64), ("Sampler", "steps", 2)):
        session.graph.set_param(session.graph.find_nodes(ref)[0].id, param, value)
    heard: list = []
    session.listeners.append(lambda e: heard.append(type(e)))
    (job,) = session.enqueue(1)
    runner = ClusterRunner("local")  # the same worker a Ray actor holds, here in this process
    try:
        summary = runner.execute(session, session.queue.take_next())
    finally:
        runner.close()
    assert summary.ok, summary.failed
    assert job.state is JobState.DONE and [Path(r.path).name for r in job.results] == ["txt2img_00001.png"]
    assert heard.count(sev.JobStarted) == 1 and heard.count(sev.JobFinished) == 1
    # The image carries exactly the workflow that was queued.
    png = models_env / "out" / "txt2img_00001.png"
    assert read_text_chunks(png)["latent-studio.workflow"] == job.workflow_text
