"""The evaluator thread: runs the executor off the GUI thread and reports through queued signals.

The GUI thread never runs a node. Preview frames are coalesced: the worker keeps only the latest
frame and signals once until the GUI has taken it, so a slow GUI drops stale frames instead of
slowing the sampler.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core import events as ev
from studio.core.context import CancelToken
from studio.core.executor import Executor
from studio.core.graph import GraphSnapshot


class _Worker(QObject):
    run_started = Signal(int, list)
    node_started = Signal(str)
    progress = Signal(str, float, str)
    node_finished = Signal(str, bool)
    node_error = Signal(str, str)
    node_log = Signal(str, str, str)
    cancelled = Signal()
    run_finished = Signal(object)
    preview_ready = Signal()
    warmed_up = Signal()

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        self.executor = executor
        self.cancel_token = CancelToken()
        self._preview_lock = threading.Lock()
        self._latest_preview: ev.Preview | None = None
        self._preview_signalled = False
        self.previews_emitted = 0

    @Slot(object, object)
    def run(self, snapshot: GraphSnapshot, token: CancelToken) -> None:
        self.cancel_token = token
        try:
            self.executor.run(snapshot, self._on_event, token)
        except Exception as exc:  # the executor reports node errors itself; this is a last guard
            self.run_finished.emit(ev.RunSummary(-1, failed={"graph": f"{type(exc).__name__}: {exc}"}))

    @Slot()
    def warm_up(self) -> None:
        """Import the generation libraries ahead of the first run. Importing torch and diffusers
        holds the GIL for long stretches, which would stall the GUI if it happened mid-run."""
        try:
            import diffusers.models.unets.unet_2d_condition  # noqa: F401
            import transformers.models.clip.modeling_clip  # noqa: F401

            import studio.diffusion.component_loading  # noqa: F401
            import studio.diffusion.sampling  # noqa: F401
            from studio.diffusion.clip_tokenizer import tokenizers_for

            tokenizers_for("sdxl")  # cached; building the vocabulary is pure Python
        except Exception:  # a broken install shows up as a node error on the first run instead
            pass
        self.warmed_up.emit()

    def take_preview(self) -> ev.Preview | None:
        with self._preview_lock:
            frame, self._latest_preview = self._latest_preview, None
            self._preview_signalled = False
            return frame

    def _on_event(self, e: ev.Event) -> None:
        kind = e.kind
        if kind == "preview":
            self.previews_emitted += 1
            with self._preview_lock:
                self._latest_preview = e  # type: ignore[assignment]
                if self._preview_signalled:
                    return
                self._preview_signalled = True
            self.preview_ready.emit()
        elif kind == "progress":
            self.progress.emit(e.node, e.fraction, e.text)  # type: ignore[attr-defined]
        elif kind == "node_started":
            self.node_started.emit(e.node)  # type: ignore[attr-defined]
        elif kind == "node_finished":
            self.node_finished.emit(e.node, e.cached)  # type: ignore[attr-defined]
        elif kind == "node_error":
            self.node_error.emit(e.node, e.message)  # type: ignore[attr-defined]
        elif kind == "node_log":
            self.node_log.emit(e.node, e.level, e.message)  # type: ignore[attr-defined]
        elif kind == "run_started":
            self.run_started.emit(e.run_id, list(e.to_execute))  # type: ignore[attr-defined]
        elif kind == "cancelled":
            self.cancelled.emit()
        elif kind == "run_finished":
            self.run_finished.emit(e.summary)  # type: ignore[attr-defined]


class Evaluator(QObject):
    """GUI-side handle of the evaluator thread. One run at a time; a run asked for during a run
    is queued (only the newest request is kept)."""

    _request = Signal(object, object)
    _warm = Signal()
    queued = Signal()

    def __init__(self, services: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.executor = Executor(services=services)
        self.thread = QThread()
        self.thread.setObjectName("latent-studio-evaluator")
        self.worker = _Worker(self.executor)
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.run)
        self._warm.connect(self.worker.warm_up)
        self.worker.run_finished.connect(self._on_finished)
        self.thread.start()
        self._busy = False
        self._pending: GraphSnapshot | None = None
        self._token = CancelToken()

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, snapshot: GraphSnapshot) -> bool:
        """Start a run, or queue it behind the current one. Returns True if it started now."""
        if self._busy:
            self._pending = snapshot
            self.queued.emit()
            return False
        self._busy = True
        self._token = CancelToken()
        self._request.emit(snapshot, self._token)
        return True

    def warm_up(self) -> None:
        """Load the heavy libraries in the evaluator thread while the user is still looking around."""
        self._warm.emit()

    def cancel(self) -> None:
        self._pending = None
        self._token.cancel()

    @Slot(object)
    def _on_finished(self, summary: Any) -> None:
        self._busy = False
        if self._pending is not None:
            snap, self._pending = self._pending, None
            self.submit(snap)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self.cancel()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            self.thread.terminate()
            self.thread.wait()
