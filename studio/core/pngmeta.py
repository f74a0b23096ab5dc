"""Text chunks in PNG files: the workflow (compressed iTXt) and a human-readable parameters text.

Written and read by hand rather than through Pillow so that reading is bounded: chunks are read
one at a time from the file, every text chunk's size and decompressed size are capped, and image
data is skipped without being loaded.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WORKFLOW_KEY = "latent-studio.workflow"
PARAMETERS_KEY = "parameters"
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # a text chunk larger than this is refused unread
MAX_TEXT_BYTES = 32 * 1024 * 1024  # and so is one that inflates beyond this
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


class PngMetadataError(ValueError):
    """A PNG whose metadata cannot be read safely; the message says why."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def itxt_chunk(key: str, text: str, *, compressed: bool = True) -> bytes:
    body = text.encode("utf-8")
    if compressed:
        body = zlib.compress(body, 9)
    data = key.encode("latin-1") + b"\0" + bytes([1 if compressed else 0, 0]) + b"\0" + b"\0" + body
    return _chunk(b"iTXt", data)


def add_text_chunks(png: bytes, texts: list[tuple[str, str, bool]]) -> bytes:
    """Insert ``(key, text, compressed)`` iTXt chunks right after the PNG header chunk."""
    if not png.startswith(PNG_SIGNATURE):
        raise PngMetadataError("not a PNG file")
    (ihdr_len,) = struct.unpack(">I", png[8:12])
    cut = 8 + 12 + ihdr_len
    extra = b"".join(itxt_chunk(k, t, compressed=c) for k, t, c in texts)
    return png[:cut] + extra + png[cut:]


def embed_workflow(png: bytes, workflow_text: str | None, parameters_text: str | None = None) -> bytes:
    texts = [(WORKFLOW_KEY, workflow_text, True)] if workflow_text else []
    if parameters_text:
        texts.append((PARAMETERS_KEY, parameters_text, False))
    return add_text_chunks(png, texts)


def _inflate(data: bytes, what: str, limit: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise PngMetadataError(f"{what} is corrupt: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise PngMetadataError(f"{what} inflates beyond {limit // 2**20} MiB; refused")
    return out


def _decode_text_chunk(kind: bytes, data: bytes, limit: int) -> tuple[str, str]:
    key_end = data.find(b"\0")
    if key_end < 1 or key_end > 79:
        raise PngMetadataError(f"{kind.decode()} chunk has a malformed keyword")
    key = data[:key_end].decode("latin-1")
    rest = data[key_end + 1:]
    what = f"text chunk {key!r}"
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise PngMetadataError(f"{what} uses an unknown compression method")
        return key, _inflate(rest[1:], what, limit).decode("latin-1")
    # iTXt: flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        raise PngMetadataError(f"{what} is truncated")
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise PngMetadataError(f"{what} is truncated")
    body = parts[2]
    if flag:
        if method != 0:
            raise PngMetadataError(f"{what} uses an unknown compression method")
        body = _inflate(body, what, limit)
    try:
        return key, body.decode("utf-8")
    except UnicodeDecodeError:
        raise PngMetadataError(f"{what} is not UTF-8 text") from None


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise PngMetadataError(f"file ends inside {what}")
    return data


def read_text_chunks(source: str | Path | bytes, *, max_chunk: int = MAX_CHUNK_BYTES,
                     max_text: int = MAX_TEXT_BYTES) -> dict[str, str]:
    """All text chunks of a PNG as ``{keyword: text}``; the first chunk of a keyword wins."""
    if isinstance(source, bytes):
        return _read_chunks(io.BytesIO(source), max_chunk, max_text)
    try:
        with open(source, "rb") as f:
            return _read_chunks(f, max_chunk, max_text)
    except OSError as exc:
        raise PngMetadataError(f"cannot read {source}: {exc.strerror or exc}") from None


def _read_chunks(f: BinaryIO, max_chunk: int, max_text: int) -> dict[str, str]:
    if f.read(8) != PNG_SIGNATURE:
        raise PngMetadataError("not a PNG file")
    texts: dict[str, str] = {}
    total = 0
    while True:
        header = f.read(8)
        if not header:
            break  # no IEND: tolerate, we have what we need
        if len(header) != 8:
            raise PngMetadataError("file ends inside a chunk header")
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        if kind in TEXT_CHUNKS:
            if length > max_chunk:
                raise PngMetadataError(f"a {kind.decode()} chunk of {length} bytes is over the "
                                       f"{max_chunk // 2**20} MiB limit; refused")
            data = _read_exact(f, length, f"a {kind.decode()} chunk")
            (crc,) = struct.unpack(">I", _read_exact(f, 4, "a chunk checksum"))
            if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
                raise PngMetadataError(f"a {kind.decode()} chunk fails its checksum (damaged file)")
            key, text = _decode_text_chunk(kind, data, max_text)
            total += len(text)
            if total > max_text:
                raise PngMetadataError(f"text chunks add up to more than {max_text // 2**20} MiB; refused")
            texts.setdefault(key, text)
        else:
            f.seek(length + 4, io.SEEK_CUR)
    return texts


def is_png(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False
