"""The Session: one open document and everything that runs it, shared by the window and the CLI.

It owns the graph, its path and dirty state, the settings of the moment, the seed policies, the
run queue with its history, and the model managers. Front ends subscribe to ``listeners`` and get
one stream of typed events: the executor's run events (``studio.core.events``) and the session's
own (``studio.app.events``). ``execute`` is called by whatever runs jobs (the window's evaluator
thread, or the command line in its own thread), so listeners may be called from that thread.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from studio.core import events as ev
from studio.core.executor import Executor
from studio.core.graph import Graph, Problem
from studio.core.registry import Registry, default_registry
from studio.core.services import RunServices
from studio.core.settings import Settings, resources_dir
from studio.core.workflow import save as save_workflow

from . import events as sev
from .preflight import checked_snapshot, preflight
from .queue import Job, Result, RunQueue
from .run_services import ModelManagers, build_run_services
from .seeds import migrate_seed_modes, seed_changes, seed_params

Listener = Callable[[Any], None]
log = logging.getLogger(__name__)
EXAMPLES_DIR = resources_dir() / "workflows"


def is_template(path: Path) -> bool:
    """Shipped examples open as new documents: saving must never overwrite them."""
    try:
        return path.resolve().is_relative_to(resources_dir().resolve())
    except OSError:
        return False


class Session:
    def __init__(self, registry: Registry | None = None, settings: Settings | None = None, *,
                 models: ModelManagers | None = None, executor: Executor | None = None,
                 output_dir: str | Path | None = None, rng: random.Random | None = None) -> None:
        self.registry = registry or default_registry()
        self.settings = settings or Settings.load()
        self.models = models or ModelManagers()
        self.executor = executor or Executor()
        # Chosen on the command line; made absolute here, against the folder it was given in, so that
        # the paths a run reports are whole and nothing joins a relative folder onto itself again.
        self.output_dir = Path(os.path.abspath(Path(output_dir).expanduser())) if output_dir else None
        self.queue = RunQueue()
        self.rng = rng or random.Random()
        self.listeners: list[Listener] = []
        self.graph = Graph(self.registry)
        self.path: Path | None = None
        self.template: Path | None = None  # the shipped example this untitled document came from
        self.source: Path | None = None  # the file last opened (a PNG, an import): its folder is searched
        self._dirty = False
        # output node id -> (last image it showed, files it wrote): what a cached run shows
        self._last_outputs: dict[str, tuple[Any, list[str]]] = {}
        self._attach(self.graph)

    # -- events ---------------------------------------------------------------------------------
    def emit(self, event: Any) -> None:
        for fn in list(self.listeners):
            try:
                fn(event)
            except Exception:  # a broken listener must not break the run or the document
                log.error("a session listener failed on %s", type(event).__name__, exc_info=True)

    def _attach(self, graph: Graph) -> None:
        graph.listeners.append(self._on_graph_edit)
        graph.services = self.lookup_services()

    def _on_graph_edit(self, what: str, info: dict[str, Any]) -> None:
        self.emit(sev.GraphEdited(what, dict(info)))
        self.set_dirty(True)

    # -- the document ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.emit(sev.DocumentChanged(self.path, dirty))

    def set_graph(self, graph: Graph, path: Path | None, *, dirty: bool = False) -> None:
        self.source = path if path is not None else self.source
        if self._on_graph_edit in self.graph.listeners:
            self.graph.listeners.remove(self._on_graph_edit)
        migrated = migrate_seed_modes(graph)
        self.graph, self.path, self._dirty = graph, path, dirty or bool(migrated and path is None)
        self._last_outputs.clear()
        self._attach(graph)
        self.emit(sev.DocumentChanged(path, self._dirty))

    def new(self) -> None:
        self.source = self.template = None
        self.set_graph(Graph(self.registry), None)

    def open(self, path: str | Path) -> Any:
        """Open a workflow, a PNG that carries one, or a ComfyUI / A1111 file; returns the import
        report (None for our own files). Imports, PNGs and shipped examples open as new, unsaved
        documents. Raises ``WorkflowError``."""
        from studio.compat import load_any

        path = Path(path)
        graph, report = load_any(path, self.registry, find_model=self.find_model)
        ours = path.suffix.lower() == ".json" and report is None
        template = ours and is_template(path)
        self.source = path
        self.set_graph(graph, path if ours and not template else None, dirty=report is not None)
        self.source, self.template = path, (path if template else None)
        self.graph.services = self.lookup_services()
        return report

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("choose where to save this workflow")
        save_workflow(self.graph, target)
        self.path, self.source, self.template = target, target, None
        self.graph.services = self.lookup_services()
        self._dirty = True  # so that set_dirty announces the change
        self.set_dirty(False)
        return target

    def validate(self) -> list[Problem]:
        """Every problem a run would refuse to start with (``studio.app.preflight``), and warnings."""
        return preflight(self.graph, self.lookup_services()).problems

    # -- settings and services ------------------------------------------------------------------
    def apply_settings(self, settings: Settings) -> None:
        """New preferences: the next queued run (and every file lookup) uses them."""
        self.settings = settings
        self.graph.services = self.lookup_services()

    def find_model(self, kind: str, names: Sequence[str]) -> str | None:
        """The first of ``names`` installed as a ``kind`` model in this session's model folders."""
        from studio.diffusion.model_folders import installed

        return installed(self.lookup_services().model_roots, kind, names)

    def lookup_services(self) -> RunServices:
        return build_run_services(self.settings, self.models, workflow_path=self.path or self.source,
                                  output_dir=self.output_dir)

    def run_services(self) -> RunServices:
        return self.lookup_services()

    # -- the queue --------------------------------------------------------------------------------
    def enqueue(self, count: int = 1, targets: Iterable[str] | None = None) -> list[Job]:
        """Queue ``count`` runs of the document as it is now; between them (and after the last),
        seeds move on as their policies say, as ComfyUI's "control after generate" does. With
        ``targets``, each run is partial: only those nodes and what they need (cache still used),
        and only the seeds of nodes that ran move on."""
        targets = list(targets) if targets is not None else None
        jobs = []
        for _ in range(max(1, count)):
            services = self.run_services()
            # Nodes whose files a run cannot find fail with the pre-flight's message, unrun.
            snap = checked_snapshot(self.graph.snapshot(targets), self.graph, services)
            seeds = [f"{p} {snap.nodes[n].params.get(p)}" for n, p, _ in seed_params(self.graph) if n in snap.nodes]
            label = ", ".join(seeds)
            if targets is not None:
                label = "up to " + ", ".join(self.graph.title_of(t) for t in targets if t in self.graph.nodes) + (
                    f" ({label})" if label else "")
            job = self.queue.add(snap, services, label=label,
                                 workflow_path=str(self.path) if self.path else None)
            jobs.append(job)
            self.advance_seeds(set(snap.nodes))
            self.emit(sev.JobQueued(job))
        return jobs

    def advance_seeds(self, only: set[str] | None = None) -> None:
        for node_id, name, _old, new in list(seed_changes(self.graph, self.rng)):
            if only is None or node_id in only:
                self.graph.set_param(node_id, name, new)

    def cancel(self, job_id: int) -> None:
        if self.queue.cancel(job_id) is not None:
            self.emit(sev.QueueChanged())

    def cancel_all(self) -> None:
        if self.queue.cancel_all():
            self.emit(sev.QueueChanged())

    def clear_pending(self) -> None:
        if self.queue.clear_pending():
            self.emit(sev.QueueChanged())

    def clear_history(self) -> None:
        self.queue.clear_history()
        self.emit(sev.QueueChanged())

    def run_next(self) -> Job | None:
        """Run the oldest pending job here and now (the command line's runner)."""
        job = self.queue.take_next()
        if job is not None:
            self.execute(job)
        return job

    def execute(self, job: Job) -> ev.RunSummary:
        """Run one job that ``queue.take_next()`` handed out. Emits its events to the listeners."""
        snap = job.snapshot
        images: dict[str, Any] = {}
        paths: dict[str, list[str]] = {}

        def on_event(e: ev.Event) -> None:
            if isinstance(e, ev.Preview) and e.step < 0 and e.image is not None:
                images[e.node] = e.image
            elif isinstance(e, ev.OutputFile):
                paths.setdefault(e.node, []).append(e.path)
            self.emit(e)

        self.emit(sev.JobStarted(job))
        try:
            summary = self.executor.run(snap, on_event, job.cancel, services=job.services)
        except Exception as exc:  # the executor reports node errors itself; this is a last guard
            log.error("job %s failed outside any node", job.id, exc_info=True)
            summary = ev.RunSummary(-1, failed={"graph": f"{type(exc).__name__}: {exc}"})
        # Output nodes that came from the cache show what they showed (and wrote) when they ran.
        for node_id in summary.cached:
            node = snap.nodes.get(node_id)
            if node is not None and node.type is not None and not node.type.outputs:
                image, files = self._last_outputs.get(node_id, (None, []))
                if image is not None:
                    images.setdefault(node_id, image)
                if files:
                    paths.setdefault(node_id, list(files))
        for node_id in set(images) | set(paths):
            self._last_outputs[node_id] = (images.get(node_id), paths.get(node_id, []))
        for node_id in snap.order:
            if node_id in images or node_id in paths:
                title = snap.nodes[node_id].title
                shown: list[str] | list[None] = paths.get(node_id) or [None]
                job.results.extend(Result(node_id, title, images.get(node_id), f) for f in shown)
        self.queue.finish(job, summary)
        self.emit(sev.JobFinished(job))
        return summary
