"""Batch throughput on tiny models: the in-process runner against 1 and 2 local Ray CPU actors, and the
per-run cost of going through Ray.

Reference: ``--cluster local`` (one in-process worker, the path ``latent-studio run`` takes). Each
pool first runs one entry per worker (models load, caches fill), then the timed plan: a seed sweep of
txt2img at 64×64. "Overhead per run" is the driver's wall time per run with one actor minus the time
the actor spent inside the run: what scheduling, pickling and the object store add.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _document_and_plan(runs: int, steps: int, first_seed: int) -> tuple[str, Any, list[Any]]:
    from studio.app import Session
    from studio.batch.plan import Override, build_plan, crossed
    from studio.core.settings import resources_dir
    from studio.core.workflow import dumps

    session = Session()
    session.open(resources_dir() / "workflows" / "txt2img.json")
    g = session.graph
    for ref, param, value in (("Empty Latent", "width", 64), ("Empty Latent", "height", 64),
                              ("Sampler", "steps", steps)):
        g.set_param(g.find_nodes(ref)[0].id, param, value)
    sampler = g.find_nodes("Sampler")[0].id
    document = dumps(g)
    plan = build_plan(g, crossed([[[Override(sampler, "seed", first_seed + i)] for i in range(runs)]]))
    return document, session.settings, plan


def _run(pool: Any, plan: list[Any]) -> tuple[float, float]:
    """(wall seconds, seconds spent inside the runs) for the whole plan."""
    from studio.batch.schedule import Scheduler

    start = time.perf_counter()
    report = Scheduler(pool, plan, on_result=lambda index, outcome: None).run(poll=0.05)
    wall = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"the batch failed: {report.failed}")
    return wall, sum(o.seconds for o in report.done)


def _measure(name: str, pool: Any, workers: int, runs: int, steps: int) -> dict[str, float]:
    _, _, warm = _document_and_plan(workers, steps, 1000)
    _run(pool, warm)  # every worker loads its models
    _, _, plan = _document_and_plan(runs, steps, 1)
    wall, inside = _run(pool, plan)
    row = {"wall": wall, "per_run": wall / runs, "runs_per_s": runs / wall, "inside_per_run": inside / runs}
    print(f"{name:<22} {runs} runs in {wall:6.2f} s  {row['runs_per_s']:5.2f} runs/s  "
          f"{row['per_run']:5.2f} s/run (inside a worker {row['inside_per_run']:.2f} s/run)", flush=True)
    return row


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench batch")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--models", type=Path, help="a models root with the tiny models (default: made now)")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="latent-studio-bench-batch-"))
    try:
        if args.models is None:
            from bench.make_models import link_example_names, write_models

            args.models = tmp / "models"
            link_example_names(args.models, write_models(args.models, "tiny", seed=0, dtype="fp16"))
        os.environ["LATENT_STUDIO_MODELS"] = str(args.models)
        os.environ.setdefault("LATENT_STUDIO_HOME", str(tmp / "home"))
        return _bench(args.runs, args.steps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(runs: int, steps: int) -> int:
    from studio.batch.cli import close_pool, open_pool
    from studio.batch.ray_pool import ray_available

    document, settings, _ = _document_and_plan(1, steps, 0)
    print(f"txt2img 64×64, {steps} steps, tiny SD1.5; {os.cpu_count()} CPU(s)", flush=True)
    pool, _ = open_pool(document, settings, None, cluster="local")
    try:
        local = _measure("in-process (local)", pool, 1, runs, steps)
    finally:
        close_pool(pool, False)
    if not ray_available():
        print("Ray is not installed: pip install 'latent-studio[cluster]'", file=sys.stderr)
        return 0
    import ray

    from studio.batch.ray_pool import connect

    started = connect("auto", num_cpus=2)
    try:
        rows = {}
        for workers in (1, 2):
            pool, _ = open_pool(document, settings, None, cluster="auto", workers=workers)
            try:
                rows[workers] = _measure(f"Ray, {workers} CPU actor(s)", pool, workers, runs, steps)
            finally:
                close_pool(pool, False)
    finally:
        if started:
            ray.shutdown()
    one = rows[1]
    print(f"throughput vs in-process: 1 actor ×{one['runs_per_s'] / local['runs_per_s']:.2f}, "
          f"2 actors ×{rows[2]['runs_per_s'] / local['runs_per_s']:.2f}")
    print(f"overhead per run through Ray (1 actor, wall − time inside the run): "
          f"{(one['per_run'] - one['inside_per_run']) * 1000:.0f} ms "
          f"(in-process: {(local['per_run'] - local['inside_per_run']) * 1000:.0f} ms)")
    return 0
