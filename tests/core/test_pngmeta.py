import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from studio.core.pngmeta import (
    PARAMETERS_KEY,
    WORKFLOW_KEY,
    PngMetadataError,
    add_text_chunks,
    embed_workflow,
    read_text_chunks,
)


def _png(w=16, h=8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_embed_and_read_back():
    workflow = '{"format": "latent-studio.workflow", "ü": "ünïcode"}' * 50
    data = embed_workflow(_png(), workflow, "a cat\nSteps: 20, Seed: 1")
    texts = read_text_chunks(data)
    assert texts[WORKFLOW_KEY] == workflow
    assert texts[PARAMETERS_KEY] == "a cat\nSteps: 20, Seed: 1"
    # The workflow chunk is compressed iTXt; the image itself is untouched and still decodes.
    assert b"iTXt" + WORKFLOW_KEY.encode() + b"\0\x01\x00" in data
    im = Image.open(io.BytesIO(data))
    assert im.size == (16, 8) and np.asarray(im).shape == (8, 16, 3)
    # Pillow reads the same text (interoperability with other tools).
    assert im.text[PARAMETERS_KEY].startswith("a cat")


def test_reads_text_from_other_tools():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("prompt", '{"1": {}}')
    info.add_text("workflow", "x" * 3000, zip=True)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=info)
    texts = read_text_chunks(buf.getvalue())
    assert texts["prompt"] == '{"1": {}}' and texts["workflow"] == "x" * 3000


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_oversized_chunks_are_refused_unread():
    png = _png()
    cut = 33
    huge_header = struct.pack(">I", 200 * 2**20) + b"iTXt"
    with pytest.raises(PngMetadataError, match="over the"):
        read_text_chunks(png[:cut] + huge_header + b"\0" * 16)


def test_zip_bombs_are_refused():
    bomb = zlib.compress(b"\0" * (40 * 2**20), 9)
    data = b"bomb\0" + b"\x01\x00" + b"\0\0" + bomb
    png = _png()
    with pytest.raises(PngMetadataError, match="inflates beyond"):
        read_text_chunks(png[:33] + _chunk(b"iTXt", data) + png[33:])


def test_damaged_and_foreign_files():
    with pytest.raises(PngMetadataError, match="not a PNG"):
        read_text_chunks(b"GIF89a....")
    data = embed_workflow(_png(), "{}")
    corrupt = bytearray(data)
    corrupt[60] ^= 0xFF  # inside the workflow chunk
    with pytest.raises(PngMetadataError, match="checksum"):
        read_text_chunks(bytes(corrupt))
    with pytest.raises(PngMetadataError, match="ends inside"):
        read_text_chunks(data[:70])
    with pytest.raises(PngMetadataError, match="not a PNG"):
        add_text_chunks(b"nope", [])
