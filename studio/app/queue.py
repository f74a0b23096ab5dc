"""The run queue: jobs (a snapshot plus the services it runs with) waiting, running and done.

Jobs are queued from the front end's thread and run one at a time by a runner (the window's
evaluator thread, or the command line itself); the lock makes state changes safe between the two.
Finished jobs stay as the history of results, newest last, up to ``history_limit``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from studio.core.context import CancelToken
from studio.core.events import RunSummary
from studio.core.services import RunServices
from studio.core.snapshot import GraphSnapshot


class JobState(Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass
class Result:
    """One image a job showed or wrote: the node, a small preview (uint8 RGB array) and its file."""

    node_id: str
    title: str
    image: Any = None
    path: str | None = None


@dataclass(eq=False)
class Job:
    id: int
    snapshot: GraphSnapshot
    services: RunServices
    label: str = ""
    workflow_path: str | None = None
    created: float = field(default_factory=time.time)
    cancel: CancelToken = field(default_factory=CancelToken)
    state: JobState = JobState.PENDING
    summary: RunSummary | None = None
    results: list[Result] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None

    @property
    def workflow_text(self) -> str:
        """The workflow exactly as this job ran it."""
        from studio.core.workflow import document_text

        return document_text(dict(self.snapshot.document))


class RunQueue:
    def __init__(self, history_limit: int = 200) -> None:
        self._lock = threading.RLock()
        self._jobs: list[Job] = []
        self._next_id = 1
        self.history_limit = history_limit

    def add(self, snapshot: GraphSnapshot, services: RunServices, *, label: str = "",
            workflow_path: str | None = None) -> Job:
        with self._lock:
            job = Job(self._next_id, snapshot, services, label, workflow_path)
            self._next_id += 1
            self._jobs.append(job)
            return job

    def take_next(self) -> Job | None:
        """The oldest pending job, now marked running; None when nothing waits or one is running."""
        with self._lock:
            if any(j.state is JobState.RUNNING for j in self._jobs):
                return None
            for job in self._jobs:
                if job.state is JobState.PENDING:
                    job.state, job.started = JobState.RUNNING, time.time()
                    return job
            return None

    def finish(self, job: Job, summary: RunSummary) -> None:
        with self._lock:
            job.summary, job.finished = summary, time.time()
            if summary.cancelled or job.cancel.cancelled:
                job.state = JobState.CANCELLED
            elif summary.failed or summary.skipped:
                job.state = JobState.FAILED
            else:
                job.state = JobState.DONE
            self._trim()

    def cancel(self, job_id: int) -> Job | None:
        """Cancel one job: a pending one never runs, a running one stops within a step."""
        with self._lock:
            job = self.get(job_id)
            if job is None or job.state.finished:
                return None
            job.cancel.cancel()
            if job.state is JobState.PENDING:
                job.state, job.finished = JobState.CANCELLED, time.time()
            return job

    def cancel_all(self) -> list[Job]:
        with self._lock:
            return [j for j in (self.cancel(job.id) for job in list(self._jobs)) if j is not None]

    def clear_pending(self) -> list[Job]:
        with self._lock:
            dropped = [j for j in self._jobs if j.state is JobState.PENDING]
            for j in dropped:
                j.cancel.cancel()
                j.state = JobState.CANCELLED
            self._jobs = [j for j in self._jobs if j not in dropped]
            return dropped

    def clear_history(self) -> None:
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.state.finished]

    def remove(self, job_id: int) -> None:
        with self._lock:
            self._jobs = [j for j in self._jobs if j.id != job_id or not j.state.finished]

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs if j.id == job_id), None)

    def _trim(self) -> None:
        done = [j for j in self._jobs if j.state.finished]
        for old in done[: max(0, len(done) - self.history_limit)]:
            self._jobs.remove(old)

    # -- views ------------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def pending(self) -> list[Job]:
        return [j for j in self.jobs() if j.state is JobState.PENDING]

    def running(self) -> Job | None:
        return next((j for j in self.jobs() if j.state is JobState.RUNNING), None)

    def history(self) -> list[Job]:
        return [j for j in self.jobs() if j.state.finished]

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs())

    def __len__(self) -> int:
        return len(self.jobs())
