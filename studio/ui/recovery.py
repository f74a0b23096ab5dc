"""Crash recovery: the open graph is written to a recovery file every few seconds while it has
unsaved changes; a clean exit removes it, so finding one at start-up means a session died.

Each running studio (process) has its own files, named by its process id, and holds a lock on
its own lock file for as long as it runs. A start-up offers only the files of instances whose lock
is free, i.e. that are no longer running, so closing one studio never touches another's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from studio.core.atomic import atomic_write_text
from studio.core.graph import Graph
from studio.core.settings import config_dir
from studio.core.workflow import dumps

_PREFIX = "autosave-"
_LEGACY = "autosave"  # the single shared file of older versions: its owner is unknown, so offer it
_TAG = re.compile(r"[0-9]+-[0-9a-f]+")

_own_lock: FileLock | None = None


@dataclass
class Recovery:
    workflow: Path
    original_path: str | None
    saved_at: float
    instance: str = ""  # whose file it is: "<pid>-<random>" (or the legacy name)


def recovery_dir() -> Path:
    return config_dir() / "recovery"


_own: tuple[int, str] | None = None


def _instance() -> str:
    """This process's tag: its pid (for people) and a random part (a pid can be reused)."""
    global _own
    if _own is None or _own[0] != os.getpid():
        _own = (os.getpid(), f"{os.getpid()}-{secrets.token_hex(4)}")
    return _own[1]


def _files(instance: str) -> tuple[Path, Path, Path]:
    folder = recovery_dir()
    stem = _LEGACY if instance == _LEGACY else _PREFIX + instance
    return folder / f"{stem}.json", folder / f"{stem}.meta.json", folder / f"{stem}.lock"


def _hold_own_lock() -> None:
    """Mark this process as running for as long as it lives (the OS frees the lock when it dies)."""
    global _own_lock
    lock_path = _files(_instance())[2]
    if _own_lock is None or _own_lock.lock_file != str(lock_path):
        lock = FileLock(lock_path, thread_local=False)
        try:
            lock.acquire(timeout=5)
        except Timeout:
            raise OSError(f"the recovery lock {lock_path} is held by another process") from None
        _own_lock = lock


def _is_running(instance: str) -> bool:
    if instance == _instance():
        return False  # this process's own file is left by a window that did not close cleanly
    if instance == _LEGACY:
        return False
    lock_path = _files(instance)[2]
    if not lock_path.exists():
        return False
    probe = FileLock(lock_path, thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False
    probe.release()
    return False


def write(graph: Graph, original_path: str | None) -> Path:
    recovery_dir().mkdir(parents=True, exist_ok=True)
    _hold_own_lock()
    target, meta, _ = _files(_instance())
    atomic_write_text(target, dumps(graph))
    atomic_write_text(meta, json.dumps({"path": original_path, "time": time.time()}))
    return target


def find_all() -> list[Recovery]:
    """Recovery files of instances that are no longer running, the most recent first."""
    folder = recovery_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("autosave*.json"):
        if path.name.endswith(".meta.json"):
            continue
        instance = path.stem[len(_PREFIX):] if path.stem.startswith(_PREFIX) else path.stem
        if instance != _LEGACY and not _TAG.fullmatch(instance):
            continue
        if _is_running(instance):
            continue
        found.append(_read(instance))
    for lock in folder.glob(f"{_PREFIX}*.lock"):  # lock files of instances that exited cleanly
        instance = lock.stem[len(_PREFIX):]
        if instance != _instance() and not _files(instance)[0].exists() and not _is_running(instance):
            with contextlib.suppress(OSError):
                lock.unlink()
    return sorted((r for r in found if r is not None), key=lambda r: r.saved_at, reverse=True)


def find() -> Recovery | None:
    """The most recent recovery file left by an instance that is no longer running, if any."""
    found = find_all()
    return found[0] if found else None


def _read(instance: str) -> Recovery | None:
    target, meta_path, _ = _files(instance)
    meta: dict = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(meta_path.read_text(encoding="utf-8"))
        meta = loaded if isinstance(loaded, dict) else {}
    try:
        mtime = target.stat().st_mtime
    except OSError:
        return None
    path = meta.get("path") if isinstance(meta.get("path"), str) else None
    saved = meta.get("time")
    return Recovery(target, path, float(saved) if isinstance(saved, int | float) else mtime, instance)


def claim(found: Recovery) -> None:
    """Take over a restored file as this instance's own, so it stays protected until the next
    autosave replaces it, and is removed by this instance's clean exit."""
    if found.instance == _instance():
        return
    recovery_dir().mkdir(parents=True, exist_ok=True)
    _hold_own_lock()
    src, src_meta, src_lock = _files(found.instance)
    dst, dst_meta, _ = _files(_instance())
    with contextlib.suppress(OSError):
        os.replace(src, dst)
        os.replace(src_meta, dst_meta)
    with contextlib.suppress(OSError):
        src_lock.unlink()


def discard(found: Recovery | None = None) -> None:
    """Remove ``found`` (another, dead instance's file), or by default this instance's own."""
    instance = found.instance if found is not None and found.instance else _instance()
    target, meta, lock = _files(instance)
    for path in (target, meta):
        with contextlib.suppress(OSError):
            path.unlink()
    if instance != _instance():
        with contextlib.suppress(OSError):
            lock.unlink()
