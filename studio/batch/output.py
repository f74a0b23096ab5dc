"""Writing what workers return into the output folder, in plan order.

Workers save into scratch folders, so every run's file comes back as ``prefix_00001.png``. The
driver numbers them as the save node would in one process: the next free number for the prefix in
the target folder, never replacing a file. Results are written in plan order (a finished run waits
for the runs before it), so a batch names its files as ``run --sweep`` names the same runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from studio.core.atomic import atomic_write_bytes

from .worker import RunOutcome

_NUMBERED = re.compile(r"^(?P<prefix>.+)_(?P<n>\d{5,})(?P<suffix>\.[^.]+)$")


class UnsafeName(ValueError):
    """A worker returned a name that would leave the output folder."""


def _safe_relative(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or not rel.parts or any(p in ("..", "") for p in rel.parts) or "\0" in name:
        raise UnsafeName(f"a worker returned the file name {name!r}, which leaves the output folder")
    return rel


def _next_free(folder: Path, prefix: str) -> int:
    """One past the highest ``prefix_NNNNN.*`` number in ``folder``."""
    start = len(prefix) + 1
    best = 0
    for name in os.listdir(folder) if folder.is_dir() else ():
        if name.startswith(prefix + "_"):
            digits = name[start:].split(".", 1)[0]
            if digits.isdigit():
                best = max(best, int(digits))
    return best + 1


def write_group(folder: Path, prefix: str, files: list[tuple[str, bytes]]) -> list[Path]:
    """Files that share one number (an image and its sidecar ``.json``), under the first number free
    for all of them; sidecars first, so whoever sees the image finds its JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(files, key=lambda f: f[0].endswith(".png"))
    n = _next_free(folder, prefix)
    while True:
        targets = [folder / f"{prefix}_{n:05d}{suffix}" for suffix, _ in ordered]
        if any(t.exists() or t.is_symlink() for t in targets):
            n += 1
            continue
        written: list[Path] = []
        try:
            for target, (_, data) in zip(targets, ordered, strict=True):
                written.append(atomic_write_bytes(target, data, exclusive=True))
        except FileExistsError:  # someone else took the number meanwhile
            for path in written:
                path.unlink(missing_ok=True)
            n += 1
            continue
        return sorted(written, key=lambda p: p.suffix != ".png")


def write_outcome(out_dir: Path, outcome: RunOutcome) -> list[Path]:
    """Every file of one run, renumbered into ``out_dir``; returns the paths written, images first."""
    groups: dict[tuple[PurePosixPath, str, str], list[tuple[str, bytes]]] = {}
    single: list[tuple[PurePosixPath, bytes]] = []
    for name, data in outcome.files:
        rel = _safe_relative(name)
        m = _NUMBERED.match(rel.name)
        if m:
            groups.setdefault((rel.parent, m["prefix"], m["n"]), []).append((m["suffix"], data))
        else:
            single.append((rel, data))
    written: list[Path] = []
    for (parent, prefix, _n), files in groups.items():
        written += write_group(out_dir / parent, prefix, files)
    for rel, data in single:  # not a numbered name: kept, or numbered when taken
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            written += write_group(target.parent, f"{target.stem}", [(target.suffix, data)])
        else:
            written.append(atomic_write_bytes(target, data, exclusive=True))
    return written


class OrderedWriter:
    """Holds finished runs until every run before them has finished, then writes them in order."""

    def __init__(self, out_dir: Path, total: int, on_written: Callable[[RunOutcome, list[Path]], None]) -> None:
        self.out_dir, self.total, self.on_written = out_dir, total, on_written
        self._waiting: dict[int, RunOutcome | None] = {}
        self._next = 0

    def add(self, index: int, outcome: RunOutcome | None) -> None:
        """A run's final outcome (None: it failed for good; nothing to write)."""
        self._waiting[index] = outcome
        while self._next in self._waiting:
            done = self._waiting.pop(self._next)
            if done is not None:  # a run whose save node came from the cache wrote nothing
                self.on_written(done, write_outcome(self.out_dir, done))
            self._next += 1

    def flush(self) -> None:
        """Write whatever finished even though runs before it never will (a cancelled batch)."""
        for index in sorted(self._waiting):
            done = self._waiting.pop(index)
            if done is not None:
                self.on_written(done, write_outcome(self.out_dir, done))
