"""A batch worker: one session (executor cache, model manager) that runs plan entries one at a time.

The same class runs in this process (``--cluster local``) and inside a Ray actor. Each run is queued
and executed by ``Session`` exactly as ``latent-studio run`` does; save nodes write into a private
scratch folder, and what they wrote comes back as bytes with names relative to that folder (the
driver decides where they go), so a worker needs no access to the driver's output folder.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.settings import Settings

from .plan import RunSpec

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    index: int
    worker: str
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (path relative to the output folder, bytes)
    failed: dict[str, str] = field(default_factory=dict)  # node (title) -> message
    cancelled: bool = False
    seconds: float = 0.0
    executed: tuple[str, ...] = ()  # node ids, as in the run's summary
    cached: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled


KEEP = "keep"


def _set_cpu_threads(omp_threads: str | None) -> None:
    """Ray starts a CPU actor with OMP_NUM_THREADS=1, and on a CPU the thread count changes how
    sums are split, so the last bit of a pixel can differ. A worker computes as a plain ``run`` on
    its machine does: with the driver's setting, or torch's own default when there is none."""
    if omp_threads is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp_threads


class BatchWorker:
    def __init__(self, document: str, settings: Settings, source: str | None = None, name: str = "local", *,
                 omp_threads: str | None = KEEP) -> None:
        if omp_threads != KEEP:
            _set_cpu_threads(omp_threads)  # before anything imports torch
        from studio.app import Session

        self.name = name
        self.session = Session(settings=settings)
        self._source = Path(source) if source else None
        self._document = ""
        self._load(document)

    def _load(self, document: str) -> None:
        from studio.core.workflow import loads

        self.session.set_graph(loads(document, self.session.registry), None)
        # Relative file names (an input image) are looked up next to the workflow, as for ``run``.
        self.session.source = self._source
        self.session.graph.services = self.session.lookup_services()
        self._document = document

    def info(self) -> dict[str, Any]:
        """Where this worker runs (for progress lines and tests)."""
        return {"name": self.name, "host": platform.node(), "pid": os.getpid(),
                "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def run(self, spec: RunSpec) -> RunOutcome:
        start = time.perf_counter()
        session = self.session
        outcome = RunOutcome(spec.index, self.name)
        # A fresh scratch folder per run: whatever a run leaves behind cannot reach the next one.
        scratch = Path(tempfile.mkdtemp(prefix="latent-studio-batch-"))
        session.output_dir = scratch
        try:
            if spec.document is not None and spec.document != self._document:
                self._load(spec.document)
            for o in spec.overrides:
                session.graph.set_param(o.node_id, o.param, o.value)
            (job,) = session.enqueue(1)
            taken = session.queue.take_next()
            assert taken is job, "a worker runs one job at a time"
            summary = session.execute(job)
            outcome.cancelled = summary.cancelled
            outcome.executed, outcome.cached = tuple(summary.executed), tuple(summary.cached)
            outcome.failed = {self._title(n): m for n, m in summary.failed.items()}
            outcome.failed.update({self._title(n): "skipped: an upstream node failed" for n in summary.skipped})
            outcome.files = _collect(scratch)
        except Exception as exc:  # reported with the run; the worker stays usable for the next one
            log.error("batch run %s failed", spec.index, exc_info=True)
            outcome.failed = {"run": f"{type(exc).__name__}: {exc}"}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        outcome.seconds = time.perf_counter() - start
        return outcome

    def cancel(self) -> None:
        self.session.cancel_all()

    def close(self) -> None:
        """Nothing is kept between runs; here for the pools, which close every worker they made."""

    def _title(self, node_id: str) -> str:
        graph = self.session.graph
        return graph.title_of(node_id) if node_id in graph.nodes else node_id


def _collect(folder: Path) -> list[tuple[str, bytes]]:
    """Every file a run wrote, named relative to its output folder."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]
    return [(p.relative_to(folder).as_posix(), p.read_bytes()) for p in files]
