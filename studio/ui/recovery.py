"""Crash recovery: the open graph is written to a recovery file every few seconds while it has
unsaved changes; a clean exit removes it, so finding one at start-up means the last session died."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core.graph import Graph
from studio.core.settings import config_dir
from studio.core.workflow import dumps


@dataclass
class Recovery:
    workflow: Path
    original_path: str | None
    saved_at: float


def recovery_dir() -> Path:
    return config_dir() / "recovery"


def write(graph: Graph, original_path: str | None) -> Path:
    folder = recovery_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "autosave.json"
    tmp = folder / ".autosave.json.tmp"
    tmp.write_text(dumps(graph), encoding="utf-8")
    tmp.replace(target)
    (folder / "autosave.meta.json").write_text(json.dumps({"path": original_path, "time": time.time()}))
    return target


def find() -> Recovery | None:
    folder = recovery_dir()
    target = folder / "autosave.json"
    if not target.is_file():
        return None
    meta: dict = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((folder / "autosave.meta.json").read_text())
    path = meta.get("path") if isinstance(meta.get("path"), str) else None
    saved = meta.get("time") if isinstance(meta.get("time"), int | float) else target.stat().st_mtime
    return Recovery(target, path, float(saved))


def discard() -> None:
    for name in ("autosave.json", "autosave.meta.json"):
        (recovery_dir() / name).unlink(missing_ok=True)
