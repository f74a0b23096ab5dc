"""Executor overhead on a 1,000-node graph of near-free nodes, and file load/validate/save times.

Reference: the same node functions called directly in a plain loop, so the ratio shows what the
executor adds (signatures, cache, events, bookkeeping) on top of the work itself.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import best_of, compare
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.nodetype import Float, Out, Wire, node
from studio.core.registry import Registry
from studio.core.workflow import load, save

_ONE = np.zeros((1, 2, 2, 3), np.float32)


@node("bench.const", title="Const", category="Bench", inputs=[Float("value", 0.0)], outputs=[Out("image", "IMAGE")])
def const(ctx, value):
    return _ONE


@node("bench.mix", title="Mix", category="Bench",
      inputs=[Wire("a", "IMAGE"), Wire("b", "IMAGE", optional=True), Float("weight", 0.5, min=0, max=1)],
      outputs=[Out("image", "IMAGE")])
def mix(ctx, a, b, weight):
    return a


def build_graph(n: int, seed: int = 0) -> Graph:
    rng = random.Random(seed)
    reg = Registry([const, mix])
    g = Graph(reg)
    ids = [g.add_node("bench.const", (0, 0)).id]
    for i in range(1, n):
        if i % 50 == 0:
            ids.append(g.add_node("bench.const", (i * 10.0, 0), {"value": float(i)}).id)
            continue
        nd = g.add_node("bench.mix", (i * 10.0, (i % 7) * 80.0), {"weight": round(rng.random(), 3)})
        g.connect(rng.choice(ids[-20:]), "image", nd.id, "a")
        if rng.random() < 0.5:
            g.connect(rng.choice(ids), "image", nd.id, "b")
        ids.append(nd.id)
    return g


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench executor")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    g = build_graph(args.nodes)
    n = len(g.nodes)

    snap_s = best_of(g.snapshot, args.repeats)
    snap = g.snapshot()
    order = snap.order

    def direct() -> None:  # reference: the node functions alone, in order
        values: dict[str, Any] = {}
        for nid in order:
            sn = snap.nodes[nid]
            kw = dict(sn.params)
            for name, (src, _) in sn.inputs.items():
                kw[name] = values[src]
            if sn.type_id == "bench.mix":
                kw.setdefault("b", None)
            assert sn.type is not None
            values[nid] = sn.type.fn(None, **kw)

    def cold() -> None:
        Executor().run(snap, lambda e: None)

    ex = Executor()
    ex.run(snap)

    def warm() -> None:
        ex.run(snap, lambda e: None)

    runs = compare(direct, {"cold": cold, "warm": warm}, args.repeats, warmup=True)
    ref_s, cold_s, warm_s = runs["cold"].reference_s, runs["cold"].ours_s, runs["warm"].ours_s

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        save_s = best_of(lambda: save(g, path), args.repeats)
        size = path.stat().st_size
        load_s = best_of(lambda: load(path, g.registry), args.repeats)
        loaded = load(path, g.registry)
        validate_s = best_of(loaded.validate, args.repeats)

    overhead = runs["cold"].difference_s / n * 1e3
    print(f"graph: {n} nodes, {len(g.links)} links; medians of {args.repeats} interleaved pairs")
    print(f"node functions alone (ref):  {ref_s * 1e3:8.2f} ms")
    print(f"executor, every node runs:   {cold_s * 1e3:8.2f} ms  ({cold_s / n * 1e3:.4f} ms/node)  "
          f"{runs['cold'].describe('.2f')}")
    print(f"executor overhead per node:  {overhead:.4f} ms  (target <= 0.2 ms)")
    print(f"executor, all cached:        {warm_s * 1e3:8.2f} ms  ({warm_s / n * 1e3:.4f} ms/node)  "
          f"{runs['warm'].describe('.2f')}")
    print(f"snapshot (copy + validate):  {snap_s * 1e3:8.2f} ms")
    print(f"file: {size / 1024:.0f} KiB; save {save_s * 1e3:.1f} ms, load {load_s * 1e3:.1f} ms, "
          f"validate {validate_s * 1e3:.1f} ms")
    return 0
