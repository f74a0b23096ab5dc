"""Workers as Ray actors: one per GPU of the cluster (or ``workers`` CPU actors when it has none).

Ray is imported here and only here, when a batch asks for a cluster. Each actor holds a
``BatchWorker``: its own session, executor cache and model manager, which stay warm between the
runs it is given. Actors return what they wrote as bytes; they never write into the driver's folders.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

from studio.core.settings import Settings

from .plan import RunSpec
from .schedule import WorkerLost
from .worker import BatchWorker, RunOutcome

log = logging.getLogger(__name__)

# A local Ray instance started for one batch: results are small PNGs, so a small object store will do.
LOCAL_OBJECT_STORE_BYTES = 100 * 2**20


class ClusterError(Exception):
    """No Ray cluster could be reached or started, or no worker could start on it."""


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def connect(address: str, *, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at ``address`` (``auto``: a running one if there is one, else a local
    instance started here). Returns whether this process started Ray (and so must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    common: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address != "auto":
        try:
            ray.init(address=address)  # Ray Client: the server's own logging settings apply
        except Exception as exc:
            raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc}") from None
        return True
    try:
        ray.init(address="auto", **common)
        return True
    except ConnectionError:
        pass  # no cluster is running: start one on this machine
    except Exception as exc:
        raise ClusterError(f"cannot reach the running Ray cluster: {exc}") from None
    ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False, **common)
    return True


class RayPool:
    def __init__(self, document: str, settings: Settings, source: str | None = None, *,
                 workers: int | None = None, start_timeout: float = 300.0) -> None:
        import ray

        gpus = int(ray.cluster_resources().get("GPU", 0))
        if workers is None:
            workers = gpus or 1
        per_actor: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}
        if gpus and workers <= gpus:
            per_actor["num_gpus"] = 1
            kind = "gpu"
        else:
            kind = "cpu"
        remote = ray.remote(BatchWorker)
        names = [f"{kind}-{i + 1}" for i in range(workers)]
        threads = _driver_threads()
        self._actors: dict[str, Any] = {
            n: remote.options(**per_actor).remote(document, settings, source, n, omp_threads=threads) for n in names}
        self._running: dict[Any, tuple[str, RunSpec]] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self._start(start_timeout)

    def _start(self, timeout: float) -> None:
        """Wait for every actor to be up; drop those that cannot start (and say why)."""
        import ray

        refs = {self._actors[n].info.remote(): n for n in self._actors}
        ready, not_ready = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        problems = []
        for ref in ready:
            name = refs[ref]
            try:
                self.infos[name] = ray.get(ref)
            except Exception as exc:
                problems.append(f"{name}: {exc}")
                self._drop(name)
        for ref in not_ready:
            problems.append(f"{refs[ref]}: did not start within {timeout:.0f} s (not enough free CPUs or GPUs?)")
            self._drop(refs[ref])
        if not self._actors:
            raise ClusterError("no worker could start: " + "; ".join(problems))
        for problem in problems:
            log.warning("batch worker did not start: %s", problem)

    def _drop(self, name: str) -> None:
        import ray

        actor = self._actors.pop(name, None)
        if actor is not None:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)

    def workers(self) -> list[str]:
        return list(self._actors)

    def submit(self, worker: str, spec: RunSpec) -> None:
        self._running[self._actors[worker].run.remote(spec)] = (worker, spec)

    def wait(self, timeout: float) -> list[tuple[str, RunSpec, RunOutcome | BaseException]]:
        import ray
        from ray.exceptions import RayActorError

        if not self._running:
            return []
        ready, rest = ray.wait(list(self._running), num_returns=1, timeout=timeout)
        if ready and rest:  # whatever else is done too, without waiting again
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        out: list[tuple[str, RunSpec, RunOutcome | BaseException]] = []
        for ref in ready:
            worker, spec = self._running.pop(ref)
            try:
                out.append((worker, spec, ray.get(ref)))
            except RayActorError as exc:
                self._drop(worker)
                out.append((worker, spec, WorkerLost(f"{worker} stopped ({type(exc).__name__})")))
            except Exception as exc:
                out.append((worker, spec, exc))
        return out

    def cancel(self) -> None:
        """Stop everything now: running entries end with their actors."""
        for name in list(self._actors):
            self._drop(name)
        self._running.clear()

    def close(self) -> None:
        import ray

        for name, actor in list(self._actors.items()):
            with contextlib.suppress(Exception):  # tidying up; a worker that is gone has nothing to tidy
                ray.get(actor.close.remote(), timeout=10)
            self._drop(name)


def _driver_threads() -> str | None:
    """The CPU thread count the workers compute with: the driver's own torch setting where torch is
    loaded here (a run in this process would use it), else its OMP_NUM_THREADS, else torch's default.
    On a CPU the thread count changes how sums are split, so it has to match for identical bytes."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.get_num_threads())
    return os.environ.get("OMP_NUM_THREADS")
