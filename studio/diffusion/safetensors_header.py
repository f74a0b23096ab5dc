"""Read a ``.safetensors`` header without torch: tensor names, dtypes, shapes and metadata.

The format is an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
Written by hand (a few lines) because ``safetensors.safe_open`` needs a framework to be imported
and this module is used to type graph ports and list model folders cheaply.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit


@dataclass(frozen=True, slots=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Header:
    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int

    def shape(self, key: str) -> tuple[int, ...] | None:
        info = self.tensors.get(key)
        return info.shape if info else None


def read_header(path: str | Path, max_bytes: int = MAX_HEADER_BYTES) -> Header:
    """Parse and sanity-check the header; raise ModelError naming the file when it is not usable."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(f"{name} is not a safetensors file (only {len(head)} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n < 2 or n > max_bytes:
                raise ModelError(f"{name} is not a safetensors file (implausible header length {n})")
            if 8 + n > size:
                raise ModelError(f"{name} is truncated: its header needs {n} bytes, the file has {size - 8}")
            raw = f.read(n)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a folder, not a model file") from None
    except OSError as exc:
        raise ModelError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("header is not an object")
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{name} is not a safetensors file (its header is not JSON)") from None
    meta = doc.pop("__metadata__", None) or {}
    tensors: dict[str, TensorInfo] = {}
    data_size = size - 8 - n
    try:
        for key, spec in doc.items():
            start, end = (int(x) for x in spec["data_offsets"])
            tensors[key] = TensorInfo(str(spec["dtype"]), tuple(int(s) for s in spec["shape"]), start, end)
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{name} is not a safetensors file (malformed entry {key!r})") from None
    needed = max((t.end for t in tensors.values()), default=0)
    if needed > data_size:
        raise ModelError(f"{name} is truncated: {needed} bytes of tensor data expected, {data_size} present")
    return Header(path, tensors, {str(k): str(v) for k, v in dict(meta).items()}, size)
