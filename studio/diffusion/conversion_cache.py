"""Converted weights kept on disk, so a checkpoint is converted once rather than at every start.

Converting an original-layout checkpoint means renaming keys, splitting OpenCLIP's fused attention
weights, reshaping VAE attention and casting to the working dtype (fp16 → bf16 on CPU, say). The
result is saved per (source path, size, mtime, component, dtype) as a diffusers-layout safetensors
file and later memory-mapped as is. Files already in the right layout and dtype are not cached. The
folder is capped in size; the least recently used entries go first.

Writing a full-size checkpoint's entries takes longer than converting it (about 4 GB for SD1.5 in
fp32), so a load that converts in its own process hands them to a background writer and returns:
the first load costs what diffusers' ``from_single_file`` costs, and the next start maps the files.
The entries are the loaded model's own tensors, so code that changes weights in place (LoRA, model
merging) calls ``wait_for_writes`` first; a process waits for the writer before it exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION = "1"  # bump when a conversion changes


class ConversionCache:
    def __init__(self, folder: Path | None, max_bytes: int = 20 * 1024**3, *, convert_in_child: bool = False) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        # The window's process converts large files in a child process, which keeps the event loop free
        # (see ``convert_process``); a headless process converts in its own and writes afterwards.
        self.convert_in_child = convert_in_child

    @staticmethod
    def key(path: Path, component: str, dtype: str) -> str:
        st = path.stat()
        raw = f"{VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{component}|{dtype}"
        return f"{path.stem[:40]}-{component}-{hashlib.sha1(raw.encode()).hexdigest()[:16]}"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        f = self.folder / f"{key}.safetensors"
        if not f.is_file():
            return None
        from safetensors.torch import load_file

        try:
            weights = load_file(str(f), device="cpu")
        except Exception:  # a damaged cache entry is only a lost shortcut
            f.unlink(missing_ok=True)
            return None
        os.utime(f)  # recently used
        return weights

    def put(self, key: str, weights: dict[str, Any]) -> None:
        if self.folder is None:
            return
        from safetensors.torch import save_file

        # a child process, another thread or another app may write the same entry
        tmp = self.folder / f"{key}.{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp))
            tmp.replace(self.folder / f"{key}.safetensors")
        except OSError:  # a full disk or an unusable folder must not stop loading
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        self._prune(self.folder)

    def put_later(self, key: str, weights: dict[str, Any]) -> None:
        """``put`` from the background writer; the tensors must stay unchanged until it is done
        (``wait_for_writes``)."""
        if self.folder is not None:
            _writer.submit(self, key, weights)

    def _prune(self, folder: Path) -> None:
        files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for f in files:
            total += f.stat().st_size
            if total > self.max_bytes:
                with contextlib.suppress(OSError):  # still mapped by a loaded model (Windows)
                    f.unlink(missing_ok=True)


class _BackgroundWriter:
    """One thread at a time writes queued entries in order, then ends. It is not a daemon: a process
    (a command-line run) finishes its writes before it exits rather than leaving half an entry."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[ConversionCache, str, dict[str, Any]]] = deque()
        self._busy = False

    def submit(self, cache: ConversionCache, key: str, weights: dict[str, Any]) -> None:
        with self._cond:
            self._queue.append((cache, key, weights))
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._drain, name="conversion-cache-writer").start()

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    return
                cache, key, weights = self._queue[0]
            t = time.perf_counter()
            try:
                cache.put(key, weights)
            except Exception:  # noqa: BLE001 - a lost cache entry only costs the next start a conversion
                log.exception("writing the conversion cache entry %s failed", key)
            log.debug("conversion cache: wrote %s in %.1f s", key, time.perf_counter() - t)
            with self._cond:
                self._queue.popleft()

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy, timeout)

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._busy


_writer = _BackgroundWriter()


def wait_for_writes(timeout: float | None = None) -> bool:
    """Block until every queued cache entry is written; False if ``timeout`` ran out first."""
    return _writer.wait(timeout)


def writes_pending() -> bool:
    return _writer.pending
