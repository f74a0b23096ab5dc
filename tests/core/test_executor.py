import threading

import numpy as np
import pytest

from studio.core.context import CancelToken
from studio.core.executor import Executor
from studio.core.graph import Graph
from tests import helpers
from tests.helpers import CALLS


def _chain(reg):
    """source → add → steps → sink, plus an independent source2 → sink2."""
    g = Graph(reg)
    n = {
        "src": g.add_node("test.source", params={"value": 1.0}),
        "add": g.add_node("test.add", params={"offset": 0.5}),
        "steps": g.add_node("test.steps", params={"steps": 3}),
        "sink": g.add_node("test.sink", params={"tag": "main"}),
        "src2": g.add_node("test.source", params={"value": 2.0}),
        "sink2": g.add_node("test.sink", params={"tag": "other"}),
    }
    g.connect(n["src"].id, "image", n["add"].id, "a")
    g.connect(n["add"].id, "image", n["steps"].id, "image")
    g.connect(n["steps"].id, "image", n["sink"].id, "image")
    g.connect(n["src2"].id, "image", n["sink2"].id, "image")
    return g, {k: v.id for k, v in n.items()}


def test_second_identical_run_executes_nothing(reg):
    g, ids = _chain(reg)
    ex = Executor()
    first = ex.run(g.snapshot())
    assert set(first.executed) == set(ids.values()) and first.ok
    assert sorted(first.outputs) == ["main.txt", "other.txt"]
    second = ex.run(g.snapshot())
    assert second.executed == () and set(second.cached) == set(ids.values())
    assert second.outputs == ()


def test_changing_a_parameter_reruns_that_node_and_what_depends_on_it(reg):
    g, ids = _chain(reg)
    ex = Executor()
    ex.run(g.snapshot())
    g.set_param(ids["add"], "offset", 0.25)
    summary = ex.run(g.snapshot())
    assert set(summary.executed) == {ids["add"], ids["steps"], ids["sink"]}
    assert helpers.SINK_LOG[-1] == ("main", 1.25)


def test_changing_only_a_side_effect_parameter_runs_only_that_node(reg):
    g, ids = _chain(reg)
    ex = Executor()
    ex.run(g.snapshot())
    g.set_param(ids["sink"], "tag", "renamed")
    assert ex.run(g.snapshot()).executed == (ids["sink"],)


def test_undoing_a_change_finds_the_old_results_in_the_cache(reg):
    g, ids = _chain(reg)
    ex = Executor()
    ex.run(g.snapshot())
    g.set_param(ids["add"], "offset", 3.0)
    ex.run(g.snapshot())
    g.set_param(ids["add"], "offset", 0.5)
    summary = ex.run(g.snapshot())
    # The pure nodes come back from the cache; the saver runs because its input changed back.
    assert summary.executed == (ids["sink"],)


def test_events_arrive_in_order_with_progress_and_previews(reg):
    g, ids = _chain(reg)
    events = []
    Executor().run(g.snapshot(), events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    steps = [e for e in events if getattr(e, "node", None) == ids["steps"]]
    assert [e.kind for e in steps] == ["node_started"] + ["progress", "preview"] * 3 + ["node_finished"]
    assert [e.fraction for e in steps if e.kind == "progress"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    preview = next(e for e in steps if e.kind == "preview")
    assert preview.image.dtype == np.uint8 and preview.image.shape == (8, 8, 3)


def test_an_error_stops_only_what_depends_on_it(reg):
    g, ids = _chain(reg)
    bad = g.add_node("test.fail", title="Breaker")
    after = g.add_node("test.sink", params={"tag": "after"})
    g.connect(ids["src"], "image", bad.id, "image")
    g.connect(bad.id, "image", after.id, "image")
    events = []
    summary = Executor().run(g.snapshot(), events.append)
    assert summary.failed == {bad.id: "this node always fails"}
    assert summary.skipped == (after.id,)
    assert ids["sink"] in summary.executed and ids["sink2"] in summary.executed
    errors = [e for e in events if e.kind == "node_error"]
    assert [(e.node, e.message) for e in errors] == [(bad.id, "this node always fails")]


def test_unexpected_exceptions_are_node_errors_and_never_cached(reg):
    g = Graph(reg)
    src = g.add_node("test.source")
    crash = g.add_node("test.crash")
    g.connect(src.id, "image", crash.id, "image")
    ex = Executor()
    s1 = ex.run(g.snapshot())
    assert "KeyError" in s1.failed[crash.id]
    s2 = ex.run(g.snapshot())
    assert s2.executed == () and crash.id in s2.failed  # tried again, not served from a cache
    assert CALLS["crash"] == 2


def test_invalid_nodes_fail_without_running(reg):
    g = Graph(reg)
    add = g.add_node("test.add")  # required input "a" unconnected
    summary = Executor().run(g.snapshot())
    assert summary.failed == {add.id: "a: required input is not connected"}
    assert CALLS["add"] == 0


def test_cancel_between_nodes_and_inside_a_node(reg):
    g, ids = _chain(reg)
    g.set_param(ids["steps"], "steps", 50)
    token = CancelToken()
    helpers.HOOKS["step"] = lambda i: token.cancel() if i == 4 else None
    events = []
    ex = Executor()
    summary = ex.run(g.snapshot(), events.append, token)
    assert summary.cancelled
    progress = [e for e in events if e.kind == "progress" and e.node == ids["steps"]]
    assert len(progress) == 5  # cancel took effect at the next check, within one step
    assert ids["steps"] not in summary.executed and ids["sink"] not in summary.executed
    assert events[-2].kind == "cancelled" and events[-1].kind == "run_finished"
    # Nothing half-done was cached: a fresh run executes the cancelled node again.
    helpers.HOOKS.clear()
    again = ex.run(g.snapshot())
    assert ids["steps"] in again.executed and ids["src"] not in again.executed


def test_cache_is_bounded_by_bytes(reg):
    g = Graph(reg)
    # Distinct sizes: identical nodes share one signature, and so one cache entry.
    nodes = [g.add_node("test.big", params={"kib": 256 - i}) for i in range(4)]
    ex = Executor(cache_bytes=600 * 1024)  # room for two ~256 KiB outputs
    ex.run(g.snapshot())
    assert ex.cache.bytes <= 600 * 1024 and len(ex.cache) == 2
    summary = ex.run(g.snapshot())
    assert len(summary.executed) == 2  # the two evicted ones run again
    too_big = g.add_node("test.big", params={"kib": 1024})
    ex.run(g.snapshot())
    assert ex.outputs_of(too_big.id) is None  # never stored: larger than the whole cache
    assert ex.outputs_of(nodes[-1].id) is not None


def test_runs_from_two_threads_do_not_interleave(reg):
    g, _ = _chain(reg)
    ex = Executor()
    results = []
    threads = [threading.Thread(target=lambda: results.append(ex.run(g.snapshot()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r.executed) for r in results) == [0, 0, 0, 6]


def test_snapshot_is_immune_to_later_edits(reg):
    g, ids = _chain(reg)
    snap = g.snapshot()
    g.set_param(ids["src"], "value", 5.0)
    g.remove_node(ids["sink2"])
    Executor().run(snap)
    assert ("main", 1.5) in helpers.SINK_LOG and ("other", 2.0) in helpers.SINK_LOG
