"""Running the window's queued jobs on a cluster (the address named in Preferences).

For the thread that runs the queue, ``ClusterRunner.execute(session, job)`` takes the place of
``session.execute(job)``: the job's workflow, exactly as it was queued, runs on a cluster worker
through the same path as a local run; the files come back and are written into the job's output
folder; the job gets its results and summary, and the session's listeners hear ``JobStarted`` and
``JobFinished`` as for a local run. Per-step previews stay on the worker. Workers are kept between
jobs (their models stay loaded) until the settings change or ``close`` is called. Qt-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.events import RunSummary

from .plan import RunSpec


class ClusterRunner:
    def __init__(self, address: str, *, workers: int | None = None) -> None:
        self.address, self.workers = address, workers
        self._pool: Any = None
        self._started_ray = False
        self._key: tuple[Any, ...] | None = None

    def _pool_for(self, document: str, settings: Any, source: str | None) -> Any:
        from .cli import open_pool

        key = (settings, source)
        if self._pool is None or key != self._key:
            self.close()
            self._pool, self._started_ray = open_pool(document, settings, source, cluster=self.address,
                                                      workers=self.workers)
            self._key = key
        return self._pool

    def execute(self, session: Any, job: Any) -> RunSummary:
        """Run one job that ``session.queue.take_next()`` handed out, on the cluster."""
        from studio.app import events as sev
        from studio.app.queue import Result

        from .output import write_outcome
        from .schedule import Scheduler
        from .worker import RunOutcome

        session.emit(sev.JobStarted(job))
        spec = RunSpec(0, (), label=job.label, document=job.workflow_text)
        source = job.workflow_path or (str(session.source) if session.source else None)
        outcomes: dict[int, RunOutcome | None] = {}
        paths: list[Path] = []
        try:
            pool = self._pool_for(spec.document or "", job.services.settings, source)
            report = Scheduler(pool, [spec], on_result=outcomes.__setitem__).run(stop=lambda: job.cancel.cancelled)
            outcome = outcomes.get(0)
            if outcome is not None:
                paths = write_outcome(Path(job.services.output_dir or session.lookup_services().output_dir), outcome)
            failed = dict(outcome.failed) if outcome is not None else {}
            if outcome is None and not report.cancelled:
                failed = {"cluster": report.failed.get(0, "the run did not finish")}
            summary = RunSummary(job.id, executed=outcome.executed if outcome else (),
                                 cached=outcome.cached if outcome else (), failed=failed,
                                 outputs=tuple(str(p) for p in paths), seconds=report.seconds,
                                 cancelled=report.cancelled)
            if report.cancelled:
                self.close()  # its workers were stopped; the next job starts new ones
        except Exception as exc:  # a cluster that cannot be reached fails the job, not the window
            summary = RunSummary(job.id, failed={"cluster": f"{type(exc).__name__}: {exc}"})
        job.results.extend(Result("", p.name, None, str(p)) for p in paths if p.suffix.lower() == ".png")
        session.queue.finish(job, summary)
        session.emit(sev.JobFinished(job))
        return summary

    def close(self) -> None:
        if self._pool is not None:
            from .cli import close_pool

            pool, self._pool = self._pool, None
            close_pool(pool, self._started_ray)
            self._started_ray, self._key = False, None
