"""One in-process worker (``--cluster local``): the plan runs here, one entry after another.

The entry runs in a thread so that Ctrl+C reaches the main thread at once, even while a library
call (a model load) holds the worker's attention; cancelling stops the run within a step.
"""

from __future__ import annotations

import threading

from studio.core.settings import Settings

from .plan import RunSpec
from .worker import BatchWorker, RunOutcome


class LocalPool:
    def __init__(self, document: str, settings: Settings, source: str | None = None) -> None:
        self.worker = BatchWorker(document, settings, source, name="local")
        self._thread: threading.Thread | None = None
        self._spec: RunSpec | None = None
        self._result: list[RunOutcome | BaseException] = []

    def workers(self) -> list[str]:
        return [self.worker.name]

    def submit(self, worker: str, spec: RunSpec) -> None:
        assert self._thread is None, "the local worker runs one entry at a time"
        self._spec, self._result = spec, []

        def target() -> None:
            try:
                self._result.append(self.worker.run(spec))
            except BaseException as exc:  # handed to the scheduler, which reports it
                self._result.append(exc)

        self._thread = threading.Thread(target=target, name="latent-studio-batch", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> list[tuple[str, RunSpec, RunOutcome | BaseException]]:
        if self._thread is None or self._spec is None:
            return []
        self._thread.join(timeout)
        if self._thread.is_alive():
            return []
        spec, self._thread, self._spec = self._spec, None, None
        outcome = self._result[0] if self._result else RuntimeError("the run ended without an outcome")
        return [(self.worker.name, spec, outcome)]

    def cancel(self) -> None:
        self.worker.cancel()
        if self._thread is not None:
            self._thread.join(30)

    def close(self) -> None:
        self.worker.close()
