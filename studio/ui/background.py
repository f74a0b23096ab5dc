"""Run a blocking job (hashing, downloading) in a Python thread and hear about it through Qt
signals, which Qt queues to the GUI thread. Callers join the thread when they close."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.context import CancelToken


class BackgroundJob(QObject):
    progress = Signal(object)  # whatever the job reports
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, work: Callable[[Callable[[Any], None], CancelToken], Any], parent: QObject | None = None):
        super().__init__(parent)
        self._work = work
        self.cancel_token = CancelToken()
        self._thread = threading.Thread(target=self._run, name="latent-studio-job", daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            result = self._work(self.progress.emit, self.cancel_token)
        except Exception as exc:  # shown to the user as a message; never an unhandled thread error
            self.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()
