"""Read a ``.safetensors`` header without torch: tensor names, dtypes, shapes and metadata.

The format is an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
Parsing and validation (offsets covering the file, dtypes, shapes, string-only metadata) are left to
``safetensors.safe_open(framework="numpy")``, which needs no torch. Files come from strangers, so
before it runs we check here what it does not bound tightly: the path is a regular file (never a
FIFO or device, which would block or never end) and the declared header length is plausible, so a
header claiming gigabytes is refused before a byte of it is read.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

# Real headers are well under a megabyte (an SDXL checkpoint's is ~250 KB; training metadata in a
# LoRA can add a few MB). The format itself allows 100 MB, which is far more than we want to parse
# just to list a folder.
MAX_HEADER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Header:
    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int

    def shape(self, key: str) -> tuple[int, ...] | None:
        info = self.tensors.get(key)
        return info.shape if info else None


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor for ``path`` and its stat, refusing anything but a regular file.

    ``O_NONBLOCK`` keeps opening a FIFO from waiting for a writer; the type is checked on the open
    descriptor, so a file swapped for a device after a check is still refused. Raises ``ModelError``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a folder, not a model file") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise ModelError(f"{path} is a folder, not a model file")
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ModelError(f"{path.name} is not a regular file (a device, pipe or socket cannot be a model)")
    return fd, st


def read_header(path: str | Path, max_bytes: int = MAX_HEADER_BYTES) -> Header:
    """Parse and sanity-check the header; raise ModelError naming the file when it is not usable."""
    path = Path(path)
    name = path.name
    fd, st = open_regular(path)
    size = st.st_size
    try:
        with os.fdopen(fd, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(head) < 8:
        raise ModelError(f"{name} is not a safetensors file (only {len(head)} bytes)")
    (n,) = struct.unpack("<Q", head)
    if n < 2 or n > max_bytes:
        raise ModelError(f"{name} is not a safetensors file (implausible header length {n})")
    if 8 + n > size:
        raise ModelError(f"{name} is truncated: its header needs {n} bytes, the file has {size - 8}")
    return _parse(path, size)


def _parse(path: Path, size: int) -> Header:
    from safetensors import SafetensorError, safe_open

    name = path.name
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {}
            for key in f.keys():  # noqa: SIM118 (safe_open is not iterable)
                part = f.get_slice(key)
                tensors[key] = TensorInfo(str(part.get_dtype()), tuple(int(s) for s in part.get_shape()))
    except SafetensorError as exc:
        raise ModelError(f"{name} {_explain(str(exc))}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {name}: {exc.strerror or exc}") from None
    return Header(path, tensors, {str(k): str(v) for k, v in meta.items()}, size)


def _explain(message: str) -> str:
    """safetensors' error in words a user can act on (its own text kept, shortened, for the details)."""
    detail = message.removeprefix("Error while deserializing header: ").strip()
    if len(detail) > 160:
        detail = detail[:157] + "…"
    if "not fully covered" in detail or "incomplete" in detail.lower():
        return f"is truncated or damaged: its tensors do not match the file's size ({detail})"
    return f"is not a safetensors file (its header is malformed: {detail})"
