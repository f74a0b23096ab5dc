"""Run a blocking job (hashing, downloading) off the GUI thread with superqt's worker, and hear
about it through Qt signals, which Qt queues to the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import FunctionWorker, create_worker

from studio.core.context import CancelToken


class BackgroundJob(QObject):
    """``work(progress, cancel)`` in superqt's thread pool; ``progress`` reports anything the job
    likes, ``cancel`` is checked by the job. Errors become ``failed(message)``, never a crash."""

    progress = Signal(object)  # whatever the job reports
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, work: Callable[[Callable[[Any], None], CancelToken], Any], parent: QObject | None = None):
        super().__init__(parent)
        self._work = work
        self.cancel_token = CancelToken()
        self._done = threading.Event()
        self._started = False
        # Errors are ours to report (``failed``), not superqt's to re-raise in the event loop.
        self._worker: FunctionWorker = create_worker(self._call, _start_thread=False,
                                                     _ignore_errors=True)
        self._worker.returned.connect(self.succeeded.emit)
        self._worker.errored.connect(lambda exc: self.failed.emit(str(exc) or type(exc).__name__))
        self._worker.finished.connect(self.finished.emit)

    def _call(self) -> Any:
        try:
            return self._work(self.progress.emit, self.cancel_token)
        finally:
            self._done.set()

    def start(self) -> BackgroundJob:
        self._started = True
        self._worker.start()
        return self

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job's function to return (the finished signals follow through the event loop)."""
        if not self._started:
            return True
        return self._done.wait(timeout)
