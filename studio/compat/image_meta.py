"""Workflows and parameters carried in the EXIF of WebP and JPEG files.

ComfyUI saves WebP images with its editor workflow in EXIF tag 0x010F (Make) as ``workflow:<json>``
and its API prompt in 0x0110 (Model) as ``prompt:<json>`` (further extra keys count down from
0x010F). A1111 writes its ``parameters`` text into the EXIF UserComment (0x9286 in the Exif IFD) of
JPEG and WebP files, behind an 8-byte character-set header (``UNICODE\\0``: UTF-16, ``ASCII\\0\\0\\0``);
some ComfyUI savers put a JSON object with ``prompt`` and ``workflow`` there instead.

The EXIF block is found by walking the file's container by hand (RIFF chunks, JPEG segments), so
that no pixels are decoded and nothing larger than the PNG reader allows is read; Pillow then parses
the block. The result has the keys the PNG path uses: ``workflow``, ``prompt``, ``parameters``.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

from studio.core.pngmeta import MAX_CHUNK_BYTES, MAX_TEXT_BYTES, PARAMETERS_KEY

WEBP, JPEG = "WebP", "JPEG"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_MAKE, _MODEL = 0x010F, 0x0110
_COMFY_TAGS = range(0x0100, 0x0111)  # 0x0110 and 0x010F, and the extra keys counting down from 0x010F
_COMFY_KEYS = ("workflow", "prompt")
_MAX_SEGMENTS = 100_000  # a JPEG of tiny segments would otherwise take long to walk
_EXIF_HEADER = b"Exif\x00\x00"


class ImageMetadataError(ValueError):
    """A WebP or JPEG file whose metadata cannot be read safely; the message says why."""


def image_kind(path: str | Path) -> str | None:
    """``"WebP"`` or ``"JPEG"`` by the file's first bytes; None for anything else (or unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    return None


def read_image_texts(path: str | Path) -> dict[str, str]:
    """The texts a WebP or JPEG file carries, as ``{"workflow"|"prompt"|"parameters": text}``;
    empty when it carries none. Raises ImageMetadataError for a file that cannot be read safely."""
    kind = image_kind(path)
    if kind is None:
        raise ImageMetadataError("not a WebP or JPEG file")
    try:
        with open(path, "rb") as f:
            block = _webp_exif(f) if kind == WEBP else _jpeg_exif(f)
    except OSError as exc:
        raise ImageMetadataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except struct.error:
        raise ImageMetadataError(f"the {kind} file ends inside its header") from None
    return exif_texts(block) if block else {}


def _webp_exif(f: BinaryIO) -> bytes | None:
    """The payload of the EXIF chunk of a RIFF/WebP file, or None."""
    f.seek(12)
    while True:
        header = f.read(8)
        if len(header) < 8:
            return None
        fourcc, size = header[:4], struct.unpack("<I", header[4:])[0]
        if fourcc == b"EXIF":
            if size > MAX_CHUNK_BYTES:
                raise ImageMetadataError(f"an EXIF chunk of {size} bytes is over the {MAX_CHUNK_BYTES // 2**20} MiB "
                                         "limit; refused")
            data = f.read(size)
            if len(data) != size:
                raise ImageMetadataError("the file ends inside its EXIF chunk")
            return data
        f.seek(size + (size & 1), io.SEEK_CUR)  # chunks are padded to an even size


def _jpeg_exif(f: BinaryIO) -> bytes | None:
    """The first APP1 segment that holds EXIF (a segment holds at most 64 KiB), or None."""
    f.seek(2)
    for _ in range(_MAX_SEGMENTS):
        byte = f.read(1)
        if byte != b"\xff":
            return None  # not at a marker: the file is damaged; whatever came before is all there is
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker or marker in (b"\xda", b"\xd9"):  # start of scan or end of image: no metadata after
            return None
        if marker in (b"\x01", *(bytes([m]) for m in range(0xD0, 0xD8))):
            continue  # markers without a length
        (length,) = struct.unpack(">H", f.read(2))
        if length < 2:
            return None
        if marker == b"\xe1":
            data = f.read(length - 2)
            if data.startswith(_EXIF_HEADER):
                return data
        else:
            f.seek(length - 2, io.SEEK_CUR)
    raise ImageMetadataError(f"more than {_MAX_SEGMENTS:,} segments before the image data; refused")


def exif_texts(block: bytes) -> dict[str, str]:
    """ComfyUI's ``key:json`` tags and A1111's UserComment from an EXIF block (with or without its
    ``Exif\\0\\0`` header)."""
    from PIL import Image

    exif = Image.Exif()
    try:
        with warnings.catch_warnings():  # a damaged entry is skipped; what is readable is used
            warnings.simplefilter("ignore")
            exif.load(block)
            tags = {tag: exif.get(tag) for tag in _COMFY_TAGS}
            comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except (ValueError, TypeError, KeyError, IndexError, OSError, SyntaxError, struct.error, EOFError):
        raise ImageMetadataError("the EXIF data is damaged") from None
    texts: dict[str, str] = {}
    for tag in (_MAKE, _MODEL, *_COMFY_TAGS):  # the documented tags first
        value = tags.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            key, sep, text = value.partition(":")
            if sep and key in _COMFY_KEYS and key not in texts:
                texts[key] = _bounded(text.rstrip("\x00"))
    if isinstance(comment, bytes | str):
        text = _bounded(user_comment(comment, big_endian=getattr(exif, "endian", "<") == ">"))
        found = _comment_workflow(text)
        for key, value in found.items():
            texts.setdefault(key, value)
        if text.strip() and not found:
            texts.setdefault(PARAMETERS_KEY, text)
    return texts


def _comment_workflow(text: str) -> dict[str, str]:
    """Some ComfyUI savers put ``{"prompt": {…}, "workflow": {…}}`` into the UserComment instead."""
    if not text.lstrip().startswith("{"):
        return {}
    from studio.core.workflow import WorkflowError, parse_json

    try:
        doc = parse_json(text)
    except WorkflowError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key in _COMFY_KEYS if isinstance(value := doc.get(key), dict | str)}


def user_comment(raw: bytes | str, *, big_endian: bool) -> str:
    """An EXIF UserComment: an 8-byte character set (UNICODE, ASCII, JIS or undefined), then text.
    UTF-16 is meant to follow the EXIF byte order, but writers disagree: the order that reads as more
    plain text wins."""
    if isinstance(raw, str):
        return raw.rstrip("\x00")
    charset, body = raw[:8], raw[8:]
    if charset == b"UNICODE\x00":
        body = body[: len(body) // 2 * 2]
        first, second = ("utf-16-be", "utf-16-le") if big_endian else ("utf-16-le", "utf-16-be")
        text = max((body.decode(first, "replace"), body.decode(second, "replace")), key=_plainness)
    elif charset == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("shift_jis", "replace")
    elif charset in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        text = body.decode("utf-8", "replace")
    else:  # no header at all: some writers store the text alone
        text = raw.decode("utf-8", "replace")
    return text.rstrip("\x00")


def _plainness(text: str) -> int:
    """How much of ``text`` is printable ASCII (sampled: the start decides)."""
    return sum(1 for ch in text[:4096] if " " <= ch <= "~" or ch in "\n\t")


def _bounded(text: str) -> str:
    if len(text) > MAX_TEXT_BYTES:
        raise ImageMetadataError(f"an EXIF text is over the {MAX_TEXT_BYTES // 2**20} MiB limit; refused")
    return text
