"""Handing plan entries to workers: cache affinity, one retry elsewhere, and cancelling.

A worker runs one entry at a time. An idle worker takes, in this order: an entry that loads the same
models as its last run (its model cache is warm), an entry of the largest group no other worker is
busy with, then any entry. A run that fails (a node error, or the worker itself died) is retried
once, on another worker when there is one; a second failure is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .plan import RunSpec
from .worker import RunOutcome

MAX_ATTEMPTS = 2


class WorkerLost(Exception):
    """The worker died (its process was killed, its machine went away) while running an entry."""


class Pool(Protocol):
    """Workers that each run one entry at a time."""

    def workers(self) -> list[str]: ...  # the names of the workers still alive

    def submit(self, worker: str, spec: RunSpec) -> None: ...

    def wait(self, timeout: float) -> list[tuple[str, RunSpec, RunOutcome | BaseException]]:
        """Entries that finished (an outcome) or whose worker failed (an exception; a dead worker
        is dropped from ``workers``). Returns within about ``timeout`` seconds."""
        ...

    def cancel(self) -> None: ...  # stop every running entry

    def close(self) -> None: ...


@dataclass
class BatchReport:
    done: list[RunOutcome] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # plan index -> why, after the retry
    retried: list[int] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled


Progress = Callable[[str, str], None]  # (worker, message)


def _why(outcome: RunOutcome | BaseException) -> str:
    if isinstance(outcome, BaseException):
        return f"worker lost: {outcome}" if isinstance(outcome, WorkerLost) else f"{type(outcome).__name__}: {outcome}"
    if outcome.cancelled:
        return "cancelled"
    return "; ".join(f"{node}: {message}" for node, message in outcome.failed.items())


class Scheduler:
    def __init__(self, pool: Pool, plan: list[RunSpec], *, on_result: Callable[[int, RunOutcome | None], None],
                 progress: Progress | None = None) -> None:
        self.pool, self.plan, self.on_result = pool, plan, on_result
        self.progress = progress or (lambda worker, message: None)
        self.pending: list[RunSpec] = list(plan)
        self.tried: dict[int, list[str]] = {}
        self.busy: dict[str, RunSpec] = {}
        self.last_key: dict[str, tuple[tuple[str, str, str], ...]] = {}
        self.report = BatchReport()

    def _pick(self, worker: str, alive: list[str]) -> RunSpec | None:
        def allowed(spec: RunSpec) -> bool:  # a retry goes elsewhere, unless nowhere else is left
            tried = self.tried.get(spec.index, [])
            return worker not in tried or all(w in tried for w in alive)

        candidates = [s for s in self.pending if allowed(s)]
        if not candidates:
            return None
        warm = self.last_key.get(worker)
        choice = next((s for s in candidates if s.model_key == warm), None) if warm is not None else None
        if choice is None:
            held = {self.last_key.get(w) for w in self.busy}
            sizes: dict[tuple[tuple[str, str, str], ...], int] = {}
            for s in candidates:
                sizes[s.model_key] = sizes.get(s.model_key, 0) + 1
            free = [k for k in sizes if k not in held] or list(sizes)
            key = max(free, key=lambda k: sizes[k])  # first-seen wins a tie: dicts keep order
            choice = next(s for s in candidates if s.model_key == key)
        self.pending.remove(choice)
        return choice

    def _dispatch(self) -> None:
        alive = self.pool.workers()
        for worker in alive:
            if worker in self.busy:
                continue
            spec = self._pick(worker, alive)
            if spec is None:
                continue
            self.busy[worker] = spec
            self.tried.setdefault(spec.index, []).append(worker)
            self.last_key[worker] = spec.model_key
            self.pool.submit(worker, spec)
            self.progress(worker, f"run {spec.index + 1}/{len(self.plan)} started" +
                          (f" ({spec.label})" if spec.label else ""))

    def _finished(self, worker: str, spec: RunSpec, outcome: RunOutcome | BaseException) -> None:
        self.busy.pop(worker, None)
        if isinstance(outcome, RunOutcome) and outcome.ok:
            self.progress(worker, f"run {spec.index + 1}/{len(self.plan)} done in {outcome.seconds:.2f} s")
            self.report.done.append(outcome)
            self.on_result(spec.index, outcome)
            return
        why = _why(outcome)
        if isinstance(outcome, RunOutcome) and outcome.cancelled:
            self.report.cancelled = True
            self.report.failed[spec.index] = why
            self.on_result(spec.index, None)
            return
        if len(self.tried.get(spec.index, [])) < MAX_ATTEMPTS and self.pool.workers():
            self.progress(worker, f"run {spec.index + 1}/{len(self.plan)} failed ({why}); retrying")
            self.report.retried.append(spec.index)
            self.pending.insert(0, spec)
            return
        self.progress(worker, f"run {spec.index + 1}/{len(self.plan)} failed: {why}")
        self.report.failed[spec.index] = why
        self.on_result(spec.index, None)

    def run(self, *, poll: float = 0.2, stop: Callable[[], bool] | None = None) -> BatchReport:
        """Run the whole plan. KeyboardInterrupt cancels every running entry, and is raised again
        once they have stopped; so does ``stop()`` turning true, without the exception."""
        start = time.perf_counter()
        try:
            while self.pending or self.busy:
                if stop is not None and stop():
                    self.report.cancelled = True
                    self.pending.clear()
                    self.pool.cancel()
                    break
                self._dispatch()
                if not self.busy:
                    for spec in self.pending:  # no worker is left to run them
                        self.report.failed[spec.index] = "no worker left"
                        self.on_result(spec.index, None)
                    self.pending.clear()
                    break
                for worker, spec, outcome in self.pool.wait(poll):
                    self._finished(worker, spec, outcome)
        except KeyboardInterrupt:
            self.report.cancelled = True
            self.pending.clear()
            self.pool.cancel()
            raise
        finally:
            self.report.seconds = time.perf_counter() - start
        return self.report
