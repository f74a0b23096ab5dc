"""The executor: runs a graph snapshot in topological order, reusing cached outputs.

A node's signature is a hash of its type id, version, parameters, optional fingerprint (for
instance the file it reads) and its upstream signatures. A node whose signature is in the cache
is not run again; changing one parameter re-runs that node and what depends on it. Side-effecting
nodes (savers) remember the signature they last ran with, independently of the byte-bounded
cache, so an evicted entry never causes a file to be written twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import events as ev
from .cache import OutputCache
from .context import CancelledError, CancelToken, NodeContext, NodeFailure, OutOfMemory
from .services import RunServices
from .snapshot import GraphSnapshot, SnapNode

EventCallback = Callable[[ev.Event], None]
log = logging.getLogger(__name__)
DEFAULT_CACHE_BYTES = 4 * 1024**3


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        # torch's CPU allocator says "DefaultCPUAllocator: can't allocate memory"
        isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in ("out of memory", "can't allocate memory"))
    )


class Executor:
    """Runs snapshots one at a time. What a run may use (settings, models, folders) comes with each
    run as a ``RunServices``: the executor keeps only caches between runs."""

    def __init__(self, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.cache = OutputCache(cache_bytes)
        self._effects: dict[str, str] = {}  # side-effecting node id -> signature it last ran with
        self._latest: dict[str, str] = {}  # node id -> signature of its latest good outputs
        self._run_lock = threading.Lock()
        self._runs = 0

    # -- signatures -----------------------------------------------------------------------------
    def signatures(self, snap: GraphSnapshot, services: RunServices | None = None) -> dict[str, str]:
        services = services or RunServices()
        sigs: dict[str, str] = {}
        for node_id in snap.order:
            sigs[node_id] = self._signature(snap.nodes[node_id], sigs, services)
        return sigs

    def _signature(self, node: SnapNode, upstream: Mapping[str, str], services: RunServices) -> str:
        inputs = sorted((name, upstream.get(src, "?"), port) for name, (src, port) in node.inputs.items())
        fingerprint = None
        nt = node.type
        if nt is not None and nt.fingerprint is not None:
            try:
                fingerprint = nt.fingerprint(node.params, services)
            except Exception as exc:  # an unreadable file: the node itself will report it
                fingerprint = f"error:{exc}"
        blob = json.dumps([node.type_id, node.version, node.params, inputs, fingerprint], sort_keys=True,
                          separators=(",", ":"), default=repr)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()

    # -- results for the UI ---------------------------------------------------------------------
    def outputs_of(self, node_id: str) -> tuple[Any, ...] | None:
        sig = self._latest.get(node_id)
        return None if sig is None else self.cache.peek(sig)

    def clear_cache(self) -> None:
        self.cache.clear()
        self._effects.clear()
        self._latest.clear()

    # -- running --------------------------------------------------------------------------------
    def run(self, snap: GraphSnapshot, on_event: EventCallback | None = None,
            cancel: CancelToken | None = None, *, services: RunServices | None = None) -> ev.RunSummary:
        with self._run_lock:
            self._runs += 1
            run = _Run(self, snap, self._runs, on_event, cancel or CancelToken(), services or RunServices())
            return run.execute()


class _Run:
    def __init__(self, ex: Executor, snap: GraphSnapshot, run_id: int, on_event: EventCallback | None,
                 cancel: CancelToken, services: RunServices) -> None:
        self.ex, self.snap, self.run_id, self.cancel = ex, snap, run_id, cancel
        self.services = services
        self._on_event = on_event
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.failed: dict[str, str] = {}
        self.skipped: list[str] = []
        self.outputs: list[str] = []
        self._seconds = 0.0

    def emit(self, event: ev.Event) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not break the run
            log.error("an event listener failed on %s", type(event).__name__, exc_info=True)

    def execute(self) -> ev.RunSummary:
        t0 = time.perf_counter()
        snap, ex = self.snap, self.ex
        if not snap.order and snap.nodes:
            self.failed["graph"] = "the graph has a loop"
            return self._finish(t0)
        sigs = ex.signatures(snap, self.services)

        # Nodes that cannot run: invalid, placeholders. They and their dependants are not run.
        blocked: dict[str, str] = {}
        for p in snap.problems:
            if p.severity == "error" and p.node_id and p.node_id not in blocked:
                blocked[p.node_id] = f"{p.port}: {p.message}" if p.port else p.message

        consumers: dict[str, list[str]] = {n: [] for n in snap.order}
        for node_id in snap.order:
            for src, _ in snap.nodes[node_id].inputs.values():
                if src in consumers:
                    consumers[src].append(node_id)

        run_set: set[str] = set()
        for node_id in snap.order:
            node = snap.nodes[node_id]
            sig = sigs[node_id]
            if node.type is not None and node.type.side_effect:
                done = ex._effects.get(node_id) == sig
            else:
                done = sig in ex.cache
            if not done:
                run_set.add(node_id)

        # Fetch the cached values that nodes to be run will read, before anything new can evict
        # them. A value too large to have been kept means running its node again (and so on up).
        values: dict[str, tuple[Any, ...]] = {}
        pending = list(run_set)
        while pending:
            node_id = pending.pop()
            for src, _ in snap.nodes[node_id].inputs.values():
                if src in run_set or src in values or src not in sigs:
                    continue
                hit = ex.cache.get(sigs[src])
                if hit is None:
                    run_set.add(src)
                    pending.append(src)
                else:
                    values[src] = hit
        to_run = [n for n in snap.order if n in run_set]

        remaining_consumers = {n: sum(1 for c in consumers[n] if c in run_set) for n in snap.order}
        for node_id in snap.order:
            if node_id not in run_set:
                self.cached.append(node_id)
                ex._latest[node_id] = sigs[node_id]
        self.emit(ev.RunStarted(self.run_id, tuple(to_run)))
        for node_id in self.cached:
            self.emit(ev.NodeFinished(self.run_id, node_id, cached=True))

        dead: set[str] = set()
        for node_id in to_run:
            node = snap.nodes[node_id]
            if self.cancel.cancelled:
                self.emit(ev.Cancelled(self.run_id, node_id))
                return self._finish(t0, cancelled=True)
            upstream_dead = [s for s, _ in node.inputs.values() if s in dead]
            if upstream_dead:
                dead.add(node_id)
                self.skipped.append(node_id)
                continue
            if node_id in blocked:
                self._fail(node_id, blocked[node_id])
                dead.add(node_id)
                continue
            result = self._run_node(node, values)
            if result is _CANCELLED:
                self.emit(ev.Cancelled(self.run_id, node_id))
                return self._finish(t0, cancelled=True)
            if result is None:
                dead.add(node_id)
                continue
            values[node_id] = result
            sig = sigs[node_id]
            if node.type is not None and node.type.side_effect:
                ex._effects[node_id] = sig
            if result or not (node.type and node.type.side_effect):
                ex.cache.put(sig, result)
            ex._latest[node_id] = sig
            # Announce only once the outputs are stored, so listeners can fetch them.
            self.emit(ev.NodeFinished(self.run_id, node_id, cached=False, seconds=self._seconds))
            # Drop what nobody downstream still needs, to keep peak memory low.
            for src, _ in node.inputs.values():
                if src in remaining_consumers:
                    remaining_consumers[src] -= 1
                    if remaining_consumers[src] <= 0:
                        values.pop(src, None)
        return self._finish(t0)

    def _fail(self, node_id: str, message: str) -> None:
        self.failed[node_id] = message
        self.emit(ev.NodeError(self.run_id, node_id, message))

    def _run_node(self, node: SnapNode, values: dict[str, tuple[Any, ...]]) -> Any:
        nt = node.type
        assert nt is not None  # placeholders are blocked before they get here
        kwargs: dict[str, Any] = dict(node.params)
        for decl in nt.wires:
            link = node.inputs.get(decl.name)
            if link is None:
                kwargs[decl.name] = None
                continue
            src, port = link
            src_node = self.snap.nodes[src]
            idx = _output_index(src_node, port)
            kwargs[decl.name] = values[src][idx]
        for name in list(kwargs):
            if nt.input(name) is None:
                del kwargs[name]  # unknown parameters are kept in the file but not passed

        def emit(kind: str, data: dict[str, Any]) -> None:
            if kind == "progress":
                self.emit(ev.Progress(self.run_id, node.id, data["fraction"], data["text"]))
            elif kind == "preview":
                self.emit(ev.Preview(self.run_id, node.id, data["image"], data["step"]))
            elif kind == "log":
                self.emit(ev.NodeLog(self.run_id, node.id, data["level"], data["message"]))
            elif kind == "output_file":
                self.emit(ev.OutputFile(self.run_id, node.id, data["path"]))

        ctx = NodeContext(node_id=node.id, title=node.title, run_id=self.run_id, cancel=self.cancel, emit=emit,
                          services=self.services, snapshot=self.snap)
        self.emit(ev.NodeStarted(self.run_id, node.id))
        t = time.perf_counter()
        try:
            raw = nt.fn(ctx, **kwargs)
            result = _normalise(nt, raw)
        except CancelledError:
            return _CANCELLED
        except NodeFailure as exc:
            if isinstance(exc, OutOfMemory):
                self.ex.cache.clear()
            self._fail(node.id, str(exc))
            return None
        except Exception as exc:
            if _is_out_of_memory(exc):
                self.ex.cache.clear()
                self._fail(node.id, "out of memory: try a smaller image size or batch, or a lower-precision "
                                    "dtype; cached results were freed")
            else:
                self._fail(node.id, f"{type(exc).__name__}: {exc}")
                log.error("node %s [%s] (%s) failed", node.title, node.id, node.type_id, exc_info=True)
            return None
        self.executed.append(node.id)
        self.outputs.extend(ctx.output_files)
        self._seconds = time.perf_counter() - t
        return result

    def _finish(self, t0: float, *, cancelled: bool = False) -> ev.RunSummary:
        summary = ev.RunSummary(
            run_id=self.run_id, executed=tuple(self.executed), cached=tuple(self.cached), failed=dict(self.failed),
            skipped=tuple(self.skipped), outputs=tuple(self.outputs), seconds=time.perf_counter() - t0,
            cancelled=cancelled,
        )
        self.emit(ev.RunFinished(self.run_id, summary))
        return summary


_CANCELLED = object()


def _output_index(node: SnapNode, port: str) -> int:
    assert node.type is not None
    for i, out in enumerate(node.type.outputs):
        if out.name == port:
            return i
    raise NodeFailure(f"{node.title} has no output {port!r}")


def _normalise(nt: Any, raw: Any) -> tuple[Any, ...]:
    n = len(nt.outputs)
    if isinstance(raw, dict) and n and all(isinstance(k, str) for k in raw):
        missing = [o.name for o in nt.outputs if o.name not in raw]
        if missing:
            raise NodeFailure(f"node returned no value for {', '.join(missing)}")
        return tuple(raw[o.name] for o in nt.outputs)
    if n == 0:
        return ()
    if n == 1 and not (isinstance(raw, tuple) and len(raw) == 1):
        return (raw,)
    if not isinstance(raw, tuple) or len(raw) != n:
        raise NodeFailure(f"node returned {type(raw).__name__}, expected {n} outputs")
    return raw
