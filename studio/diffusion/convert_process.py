"""Convert a checkpoint into the conversion cache in a separate process.

Converting a full-size checkpoint takes seconds of key renaming, casting and writing, and parts of it
hold the GIL for tens of milliseconds at a time: releasing the memory map of a multi-gigabyte source
file (the kernel tears down its page tables inside a tensor deallocator), diffusers' converters, the
safetensors writer. In the GUI's process that stalls the event loop even though loading runs in the
evaluator thread. A spawned child does the conversion and writes the cache entries; the caller then
memory-maps them, which holds the GIL only briefly. The child runs at a lower CPU priority, so on a
small machine the GUI keeps its core.

Any failure other than a ``ModelError`` (no way to start a process, a child killed for memory, a full
disk) only means the caller converts in its own process, as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError
from .families import ModelInfo

log = logging.getLogger(__name__)

# Below this size a conversion is quick and its GIL holds are short; a child's start-up (importing
# torch and diffusers) would cost more than it saves.
MIN_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class ConvertJob:
    """Everything a child needs to convert some components of one file into the cache (picklable)."""

    kind: str  # checkpoint | vae | controlnet
    info: ModelInfo
    dtype: Any  # torch.dtype
    allow_ckpt: bool
    folder: Path
    max_bytes: int
    keys: dict[str, str]  # component name -> cache key


def available() -> bool:
    """A frozen app would start itself again as the child, so it converts in its own process."""
    return not getattr(sys, "frozen", False)


def run(job: ConvertJob) -> bool:
    """Convert ``job`` in a child process. True when the child finished (its entries may still be
    missing, say on a full disk); False when no child could do it. A ``ModelError`` is raised."""
    if not available():
        return False
    try:
        ctx = multiprocessing.get_context("spawn")  # fork would copy a threaded (Qt, torch) process
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_lower_priority) as pool:
            pool.submit(_convert, job).result()
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any trouble with the child: convert here instead
        log.warning("converting %s in a separate process failed (%s: %s); converting in-process",
                    job.info.path.name, type(exc).__name__, exc)
        return False
    return True


def _lower_priority() -> None:
    if hasattr(os, "nice"):  # not on Windows
        with contextlib.suppress(OSError):
            os.nice(5)


def _convert(job: ConvertJob) -> None:
    import torch

    from .component_loading import convert_into_cache

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the GUI
    convert_into_cache(job)
