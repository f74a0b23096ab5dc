"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Each write goes to a uniquely named temporary file in the target's folder (so concurrent writers
never share one), is flushed to disk, then renamed over the target; the folder is synced so the
rename survives a power cut. A symlinked target is written through (the link stays a link) and an
existing file keeps its permission bits.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically and return the path written.

    ``exclusive``: never replace anything; raise ``FileExistsError`` when ``path`` exists (even as
    a dangling link). Otherwise an existing file is replaced and keeps its mode.
    """
    target = Path(path)
    if not exclusive:
        target = Path(os.path.realpath(target))  # write through a symlink, keep the link
    folder = target.parent
    mode: int | None = None
    if not exclusive:
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode & 0o7777
    tmp, fd = _temp_file(folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if exclusive:
            _publish_new(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_dir(folder)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      exclusive: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode(encoding), exclusive=exclusive)


def _temp_file(folder: Path) -> tuple[Path, int]:
    # Like tempfile.mkstemp, but created with 0o666 so the umask decides a new file's mode (mkstemp
    # makes 0o600). The name is short and fixed-length: a long target name never makes it too long.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
    while True:
        tmp = folder / f".tmp-{secrets.token_hex(6)}"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue


def _publish_new(tmp: Path, target: Path) -> None:
    """Give the finished ``tmp`` the name ``target`` only if nothing has that name yet."""
    try:
        os.link(tmp, target)  # atomic, and fails if the name is taken
    except FileExistsError:
        raise
    except (OSError, NotImplementedError):
        # No hard links on this file system: reserve the name exclusively, then fill it.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666))
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _sync_dir(folder: Path) -> None:
    if os.name == "nt":
        return  # folders cannot be opened for fsync on Windows
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
