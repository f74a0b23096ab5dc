"""The evaluator thread: runs the session's queued jobs off the GUI thread.

Every event of the session (the executor's run events and the queue's own) reaches the GUI through
one Qt signal, ``event``, carrying the event object unchanged; the window dispatches on its type.
The GUI thread never runs a node. Preview frames are coalesced: only the latest frame is kept and
signalled once until the GUI takes it, so a slow GUI drops stale frames instead of slowing the
sampler.

With Preferences ▸ "Run queued jobs on" set (``Settings.cluster``), the thread hands each job to a
``ClusterRunner`` instead: the job runs on a Ray worker, its step previews stay there, and the
window hears ``ClusterRun`` before it and ``ClusterNote`` lines for what went wrong.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from studio.app import Job, Session
from studio.app import events as sev
from studio.batch.queue_runner import ClusterRunner
from studio.core import events as ev

log = logging.getLogger(__name__)
INSTALL_RAY = "pip install 'latent-studio[cluster]'"
SWITCH_BACK = "empty Preferences ▸ Run queued jobs on to run on this machine"


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """``job`` is about to run on the cluster at ``address``; its step previews stay there."""

    job: Job
    address: str


@dataclass(frozen=True, slots=True)
class ClusterNote:
    """One line for Problems & Log about a job sent to a cluster."""

    level: str
    text: str


def ray_installed() -> bool:
    from studio.batch.ray_pool import ray_available

    return ray_available()


class _Worker(QObject):
    warmed_up = Signal()

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.runner: Any = None  # the ClusterRunner of the last cluster address used (keeps its workers)

    @Slot(object)
    def run(self, job: Job) -> None:
        address = self.session.settings.cluster
        if address:
            self._run_on_cluster(address, job)
        else:
            self.session.execute(job)

    def _runner_for(self, address: str) -> Any:
        if self.runner is not None and self.runner.address != address:
            self.close_runner()
        if self.runner is None:
            self.runner = ClusterRunner(address)
        return self.runner

    def _run_on_cluster(self, address: str, job: Job) -> None:
        if not ray_installed():
            self._fail(job, f"Job {job.id} was not run: it goes to the cluster {address!r}, which needs Ray "
                            f"installed here ({INSTALL_RAY}); or {SWITCH_BACK}")
            return
        self.session.emit(ClusterRun(job, address))
        try:
            summary = self._runner_for(address).execute(self.session, job)
        except Exception as exc:  # the window stays up and later jobs still run
            self.close_runner()
            self._fail(job, _cluster_failure(job, address, f"{type(exc).__name__}: {exc}"))
            return
        for key, message in summary.failed.items():
            if key == "cluster":
                self.session.emit(ClusterNote("error", _cluster_failure(job, address, message)))
            else:
                node = job.snapshot.nodes.get(key)
                title = node.title if node is not None else key
                self.session.emit(ClusterNote("error", f"{title}: {message} (job {job.id}, on the cluster {address})"))

    def _fail(self, job: Job, text: str) -> None:
        if job.summary is None:  # not finished by the runner: finish it here, or the queue would stall
            self.session.queue.finish(job, ev.RunSummary(job.id, failed={"cluster": text}))
            self.session.emit(sev.JobFinished(job))
        self.session.emit(ClusterNote("error", text))

    @Slot()
    def close_runner(self) -> None:
        """Stop the cluster workers (and a Ray instance started for them); never fails."""
        runner, self.runner = self.runner, None
        if runner is not None:
            try:
                runner.close()
            except Exception:  # quitting or switching must not fail on a cluster that went away
                log.warning("closing the cluster runner failed", exc_info=True)

    @Slot()
    def warm_up(self) -> None:
        """Import the generation libraries ahead of the first run. Importing torch and diffusers
        holds the GIL for long stretches, which would stall the GUI if it happened mid-run."""
        try:
            import diffusers.loaders.single_file_utils  # noqa: F401
            import diffusers.models.unets.unet_2d_condition  # noqa: F401
            import transformers.models.clip.modeling_clip  # noqa: F401

            # diffusers' lazy package imports every autoencoder / ControlNet module on first access
            from diffusers import AutoencoderKL, ControlNetModel  # noqa: F401

            import studio.diffusion.component_loading  # noqa: F401
            import studio.diffusion.sampling  # noqa: F401
            from studio.diffusion.clip_tokenizer import tokenizers_for

            tokenizers_for("sdxl")  # cached; building the vocabulary is pure Python
            from transformers import CLIPTextModel, CLIPTextModelWithProjection

            from studio.diffusion.loaders import clip_layout_probe

            for cls in (CLIPTextModel, CLIPTextModelWithProjection):  # the first model build traces
                clip_layout_probe(cls)  # torch's reference ops for ~35 ms: do it now, not mid-run
            with contextlib.suppress(ImportError):  # optional: models are then built with real weights
                import accelerate  # noqa: F401
        except Exception:  # a broken install shows up as a node error on the first run instead
            pass
        # The libraries just imported are some 400,000 long-lived objects: a full garbage collection
        # walking them holds the GIL for 0.2-0.5 s, whichever thread triggers it. Frozen, they are
        # left out of collections from now on (they live as long as the app anyway).
        gc.freeze()
        self.warmed_up.emit()


def _cluster_failure(job: Job, address: str, reason: str) -> str:
    return (f"Job {job.id} failed on the cluster {address!r}: {reason} (is the cluster running, with Ray "
            f"installed: {INSTALL_RAY}? Or {SWITCH_BACK})")


class Evaluator(QObject):
    """GUI-side handle of the evaluator thread: starts the session's queued jobs one at a time."""

    # Shadows QObject.event() in the stubs; the name is the public signal the window and tests connect to.
    event = Signal(object)  # type: ignore[assignment]  # every session and run event, unchanged
    preview_ready = Signal()
    _request = Signal(object)
    _warm = Signal()
    # Shadows QObject.thread() on purpose: the evaluator's own thread, which callers and tests use.
    thread: QThread  # type: ignore[assignment]

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.thread = QThread()
        self.thread.setObjectName("latent-studio-evaluator")
        self.worker = _Worker(session)
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.run)
        self._warm.connect(self.worker.warm_up)
        self._preview_lock = threading.Lock()
        self._latest_preview: ev.Preview | None = None
        self._preview_signalled = False
        self.previews_emitted = 0
        self._busy = False
        self._closed = False
        session.listeners.append(self._on_session_event)
        self.event.connect(self._after_event)
        self.thread.start()

    @property
    def executor(self) -> Any:
        return self.session.executor

    @property
    def busy(self) -> bool:
        """A job is running or waiting."""
        return self._busy or bool(self.session.queue.pending())

    # -- called from any thread ------------------------------------------------------------------
    def _on_session_event(self, e: Any) -> None:
        if isinstance(e, sev.GraphEdited):
            return  # the canvas listens to the graph itself
        if isinstance(e, ev.Preview):
            self.previews_emitted += 1
            with self._preview_lock:
                self._latest_preview = e
                if self._preview_signalled:
                    return
                self._preview_signalled = True
            self.preview_ready.emit()
            return
        self.event.emit(e)

    def take_preview(self) -> ev.Preview | None:
        with self._preview_lock:
            frame, self._latest_preview = self._latest_preview, None
            self._preview_signalled = False
            return frame

    # -- GUI thread ------------------------------------------------------------------------------
    def pump(self) -> None:
        """Start the next queued job if none is running."""
        if self._busy or self._closed:
            return
        job = self.session.queue.take_next()
        if job is not None:
            self._busy = True
            self._request.emit(job)

    @Slot(object)
    def _after_event(self, e: Any) -> None:
        if isinstance(e, sev.JobFinished):
            self._busy = False
            self.pump()
        elif isinstance(e, sev.JobQueued | sev.QueueChanged):
            self.pump()

    def warm_up(self) -> None:
        """Load the heavy libraries in the evaluator thread while the user is still looking around."""
        self._warm.emit()

    def cancel(self) -> None:
        """Cancel the running job and everything waiting."""
        self.session.cancel_all()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._closed = True
        self.session.cancel_all()
        if self._on_session_event in self.session.listeners:
            self.session.listeners.remove(self._on_session_event)
        # Closed in the evaluator thread as it ends: Ray's local processes die with the thread that
        # started them, too abruptly to stop their own helpers, so ray.shutdown must come first.
        self.thread.finished.connect(self.worker.close_runner, Qt.ConnectionType.DirectConnection)
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            self.thread.terminate()
            self.thread.wait()
        self.worker.close_runner()  # the thread was terminated, or this does nothing
