"""Text chunks in PNG files: the workflow (compressed iTXt) and a human-readable parameters text.

Written with Pillow's ``PngInfo``; read by hand so that reading is bounded: chunks are read one at
a time from the file, every text chunk's size and decompressed size are capped, and image data is
skipped without being loaded. Writer and reader share the limits: whatever the studio writes, it
can open again, and what it would not open, it refuses to write.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL.PngImagePlugin import PngInfo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WORKFLOW_KEY = "latent-studio.workflow"
PARAMETERS_KEY = "parameters"
# One text may be as large as a workflow file may be (studio.core.workflow.MAX_FILE_BYTES); the JSON
# parser's value budget, not this size, is what bounds the memory a workflow costs.
MAX_TEXT_BYTES = 64 * 1024 * 1024  # one text, once inflated
MAX_CHUNK_BYTES = MAX_TEXT_BYTES + 1024 * 1024  # one chunk as stored: room for zlib's worst case
MAX_TOTAL_TEXT = MAX_TEXT_BYTES + 16 * 1024 * 1024  # all text chunks of a file together
MAX_CHUNKS = 200_000  # a PNG of tiny chunks would otherwise take seconds to walk
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


class PngMetadataError(ValueError):
    """A PNG whose metadata cannot be read safely; the message says why."""


class PngTextTooLarge(PngMetadataError):
    """A text too large to embed: a PNG carrying it could not be opened again."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_info(texts: list[tuple[str, str, bool]]) -> PngInfo:
    """Pillow's ``PngInfo`` with one iTXt chunk per ``(key, text, compressed)``, for
    ``Image.save(..., pnginfo=...)``. Raises PngTextTooLarge for texts the reader would refuse."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    total = 0
    for key, text, compressed in texts:
        body = text.encode("utf-8")
        total += len(body)
        if len(body) > MAX_TEXT_BYTES or total > MAX_TOTAL_TEXT:
            raise PngTextTooLarge(f"the {key!r} text is {len(body) / 2**20:.1f} MiB; a PNG carries at most "
                                  f"{MAX_TEXT_BYTES // 2**20} MiB of text, so it is not embedded")
        info.add_itxt(key, body, zip=compressed)
    for kind, data, *_ in info.chunks:
        if len(data) > MAX_CHUNK_BYTES:  # zlib never grows data this much; kept so the rule is stated once
            raise PngTextTooLarge(f"a {kind.decode()} chunk of {len(data) / 2**20:.1f} MiB is over the "
                                  f"{MAX_CHUNK_BYTES // 2**20} MiB limit")
    return info


def itxt_chunk(key: str, text: str, *, compressed: bool = True) -> bytes:
    """One complete iTXt chunk (length, type, data, CRC)."""
    ((kind, data, *_),) = png_info([(key, text, compressed)]).chunks
    return _chunk(kind, data)


def add_text_chunks(png: bytes, texts: list[tuple[str, str, bool]]) -> bytes:
    """Insert ``(key, text, compressed)`` iTXt chunks right after the PNG header chunk, without
    re-encoding the image."""
    if not png.startswith(PNG_SIGNATURE) or len(png) < 33 or png[12:16] != b"IHDR":
        raise PngMetadataError("not a PNG file")
    (ihdr_len,) = struct.unpack(">I", png[8:12])
    cut = 8 + 12 + ihdr_len
    extra = b"".join(_chunk(kind, data) for kind, data, *_ in png_info(texts).chunks)
    return png[:cut] + extra + png[cut:]


def embed_workflow(png: bytes, workflow_text: str | None, parameters_text: str | None = None) -> bytes:
    """The workflow (compressed) and the parameters text (plain, for other tools) added to a PNG.
    Raises PngTextTooLarge when they are more than a PNG may carry."""
    return add_text_chunks(png, metadata_texts(workflow_text, parameters_text))


def metadata_texts(workflow_text: str | None, parameters_text: str | None = None) -> list[tuple[str, str, bool]]:
    """The ``(key, text, compressed)`` list that ``png_info`` / ``add_text_chunks`` take."""
    texts = [(WORKFLOW_KEY, workflow_text, True)] if workflow_text else []
    if parameters_text:
        texts.append((PARAMETERS_KEY, parameters_text, False))
    return texts


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


# Keys whose text decides what a PNG opens as (ours, ComfyUI's, A1111's).
_WORKFLOW_KEYS = frozenset({WORKFLOW_KEY, PARAMETERS_KEY, "workflow", "prompt"})


def read_text_chunks(source: str | Path | bytes, *, max_chunk: int | None = None,
                     max_text: int | None = None) -> dict[str, str]:
    """All text chunks of a PNG as ``{keyword: text}``. Two different chunks of a workflow keyword
    are refused; for other keywords the first wins."""
    limits = (MAX_CHUNK_BYTES if max_chunk is None else max_chunk, MAX_TEXT_BYTES if max_text is None else max_text)
    if isinstance(source, bytes):
        return _read_chunks(io.BytesIO(source), *limits)
    try:
        with open(source, "rb") as f:
            return _read_chunks(f, *limits)
    except OSError as exc:
        raise PngMetadataError(f"cannot read {source}: {exc.strerror or exc}") from None


def _read_chunks(f: BinaryIO, max_chunk: int, max_text: int) -> dict[str, str]:
    if f.read(8) != PNG_SIGNATURE:
        raise PngMetadataError("not a PNG file")
    texts: dict[str, str] = {}
    total = 0
    for _ in range(MAX_CHUNKS):
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
            if total > MAX_TOTAL_TEXT:
                raise PngMetadataError(f"text chunks add up to more than {MAX_TOTAL_TEXT // 2**20} MiB; refused")
            if key in texts and key in _WORKFLOW_KEYS and texts[key] != text:
                # Readers disagree on which copy wins; a file that shows one workflow here and
                # another elsewhere is refused rather than guessed at.
                raise PngMetadataError(f"two different {key!r} text chunks; refused")
            texts.setdefault(key, text)
        else:
            f.seek(length + 4, io.SEEK_CUR)
    else:
        raise PngMetadataError(f"more than {MAX_CHUNKS:,} chunks; refused")
    return texts


def is_png(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False
