"""SHA-256 of model files, computed once per file and remembered by (path, size, mtime).

Model files are gigabytes, so a hash is read in chunks (with progress and cancel) and kept in a small
JSON cache under the data folder (``cache/model-hashes.json``). The cache is advisory: a missing,
corrupt or concurrently rewritten file only means a hash is computed again, never a wrong answer,
because an entry counts only while the file's size and modification time are unchanged.

A1111 writes ``Model hash: 6ce0161689`` into its images: that "AutoV2" hash is the first 10 hex
digits of the file's SHA-256 (``short_hash``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from studio.core.context import CancelledError
from studio.core.settings import data_dir

from .errors import ModelError

CHUNK = 8 * 1024 * 1024
SHORT_LEN = 10  # A1111's AutoV2 "Model hash"
MAX_ENTRIES = 5000  # oldest entries are dropped beyond this

HashProgress = Callable[[int, int], None]  # (bytes hashed, file size)


class Cancel(Protocol):
    """Anything with a ``cancelled`` flag (``studio.core.context.CancelToken``)."""

    @property
    def cancelled(self) -> bool: ...


def short_hash(sha256: str) -> str:
    """The 10-hex "AutoV2" prefix A1111 prints as ``Model hash``."""
    return sha256[:SHORT_LEN].lower()


def hash_matches(sha256: str, recorded: str) -> bool:
    """Whether a full SHA-256 matches a recorded one, full or AutoV2 (10+ hex digits)."""
    recorded = recorded.strip().lower()
    return len(recorded) >= SHORT_LEN and sha256.lower().startswith(recorded)


def sha256_file(path: str | Path, progress: HashProgress | None = None, cancel: Cancel | None = None,
                chunk_size: int = CHUNK) -> str:
    """Hash a regular file in chunks; ``cancel`` is checked between chunks (``CancelledError``).

    Reads at most the size the file had when opened (``/dev/zero`` or a growing file cannot keep it
    reading forever); a device, FIFO or socket is refused with ``ModelError`` without blocking.
    """
    from .safetensors_header import open_regular

    path = Path(path)
    fd, st = open_regular(path)
    total = st.st_size
    h = hashlib.sha256()
    done = 0
    with os.fdopen(fd, "rb") as f:
        while done < total:
            if cancel is not None and cancel.cancelled:
                raise CancelledError(f"hashing {path.name} was cancelled")
            block = f.read(min(chunk_size, total - done))
            if not block:
                break  # shrank while being read: the cache will not remember this hash
            h.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return h.hexdigest()


def default_cache_path() -> Path:
    return data_dir() / "cache" / "model-hashes.json"


class HashCache:
    """Path → SHA-256, valid while the file's size and mtime are unchanged.

    Several processes may share the file: each save re-reads it, merges its own new entries and
    replaces it atomically, so concurrent writers lose at most an entry (recomputed later).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_cache_path()
        self._entries: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    # -- lookups ------------------------------------------------------------------------------
    def get(self, path: str | Path) -> str | None:
        """The cached hash of ``path`` if still valid; never reads the file's contents."""
        key, st = self._key(path)
        if st is None:
            return None
        entry = self._load().get(key)
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            sha = entry.get("sha256")
            return sha if isinstance(sha, str) and len(sha) == 64 else None
        return None

    def hash(self, path: str | Path, progress: HashProgress | None = None, cancel: Cancel | None = None) -> str:
        """The file's SHA-256: from the cache, or computed once and remembered."""
        cached = self.get(path)
        if cached:
            return cached
        key, before = self._key(path)
        if before is None:
            raise FileNotFoundError(f"model file not found: {path}")
        if not stat.S_ISREG(before.st_mode):
            raise ModelError(f"{Path(path).name} is not a regular file; only model files are hashed")
        sha = sha256_file(path, progress, cancel)
        _, after = self._key(path)
        if after is not None and (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
            self._remember(key, after, sha)  # a file changing while it was read is not remembered
        return sha

    def put(self, path: str | Path, sha256: str) -> None:
        """Record a hash known by other means (a verified download)."""
        key, st = self._key(path)
        if st is not None:
            self._remember(key, st, sha256.lower())

    # -- storage ------------------------------------------------------------------------------
    @staticmethod
    def _key(path: str | Path) -> tuple[str, os.stat_result | None]:
        p = Path(path).expanduser()
        try:
            real = p.resolve()
            return str(real), real.stat()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
            return str(p), None

    def _load(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            return self._entries

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return {}  # absent or corrupt: start afresh, it is only a cache
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict):
            return {}
        return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, dict)}

    def _remember(self, key: str, st: os.stat_result, sha: str) -> None:
        entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha, "seen": time.time()}
        self._load()
        with self._lock:
            assert self._entries is not None
            self._entries[key] = entry
            merged = self._read()  # what other processes wrote meanwhile
            merged.update(self._entries)
            if len(merged) > MAX_ENTRIES:
                keep = sorted(merged.items(), key=lambda kv: kv[1].get("seen", 0), reverse=True)[:MAX_ENTRIES]
                merged = dict(keep)
            self._entries = merged
            self._write(merged)

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".model-hashes-", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": 1, "files": entries}, f, indent=0)
            os.replace(tmp, self.path)
        except OSError:
            # A read-only data folder costs recomputation, not a failure.
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


_default: HashCache | None = None
_default_lock = threading.Lock()


def default_cache() -> HashCache:
    """The process-wide cache at the default location (follows ``LATENT_STUDIO_HOME``)."""
    global _default
    with _default_lock:
        if _default is None or _default.path != default_cache_path():
            _default = HashCache()
        return _default


def file_hash(path: str | Path, progress: HashProgress | None = None, cancel: Cancel | None = None,
              cache: HashCache | None = None) -> str:
    """SHA-256 of a model file, through the default cache unless one is given."""
    return (cache or default_cache()).hash(path, progress, cancel)
