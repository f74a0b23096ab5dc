import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.core import pngmeta
from studio.core.pngmeta import (
    MAX_TEXT_BYTES,
    PARAMETERS_KEY,
    WORKFLOW_KEY,
    PngMetadataError,
    PngTextTooLarge,
    add_text_chunks,
    embed_workflow,
    png_info,
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
    bomb = zlib.compress(b"\0" * (MAX_TEXT_BYTES + 2**20), 1)
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


def test_what_the_studio_writes_it_reads_back_even_when_large_and_incompressible():
    # An 18 MB incompressible `extra` made a 19 MB chunk, over the old 16 MiB reading limit.
    noise = base64.b64encode(np.random.default_rng(1).bytes(17 * 2**20)).decode()  # ~17 MiB compressed
    workflow = '{"format": "latent-studio.workflow", "extra": {"blob": "' + noise + '"}}'
    data = embed_workflow(_png(), workflow, "a cat")
    assert len(data) > 16 * 2**20
    assert read_text_chunks(data)[WORKFLOW_KEY] == workflow


def test_writer_refuses_what_the_reader_would_refuse(monkeypatch):
    monkeypatch.setattr(pngmeta, "MAX_TEXT_BYTES", 4096)
    monkeypatch.setattr(pngmeta, "MAX_CHUNK_BYTES", 4096 + 1024)
    monkeypatch.setattr(pngmeta, "MAX_TOTAL_TEXT", 6000)
    fits = "x" * 4096
    data = embed_workflow(_png(), fits, "y" * 1000)
    assert read_text_chunks(data) == {WORKFLOW_KEY: fits, PARAMETERS_KEY: "y" * 1000}
    with pytest.raises(PngTextTooLarge, match="at most"):
        embed_workflow(_png(), fits + "x", None)
    with pytest.raises(PngTextTooLarge):  # each text fits, together they do not
        embed_workflow(_png(), fits, "y" * 2000)
    # and the reader refuses, with the same limits, a file another tool wrote past them
    info = PngInfo()
    info.add_itxt("workflow", "z" * 5000, zip=True)
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG", pnginfo=info)
    with pytest.raises(PngMetadataError, match="inflates beyond"):
        read_text_chunks(buf.getvalue())


def test_png_info_writes_through_pillow():
    buf = io.BytesIO()
    Image.new("RGB", (3, 2)).save(buf, "PNG", pnginfo=png_info([(WORKFLOW_KEY, "{}", True), (PARAMETERS_KEY, "ü", False)]))
    assert read_text_chunks(buf.getvalue()) == {WORKFLOW_KEY: "{}", PARAMETERS_KEY: "ü"}


def test_a_file_of_countless_tiny_chunks_is_refused(monkeypatch):
    monkeypatch.setattr(pngmeta, "MAX_CHUNKS", 50)
    png = _png()
    many = png[:33] + _chunk(b"teSt", b"") * 60 + png[33:]
    with pytest.raises(PngMetadataError, match="chunks"):
        read_text_chunks(many)
    read_text_chunks(png[:33] + _chunk(b"teSt", b"") * 10 + png[33:])


def test_two_different_workflow_chunks_are_refused():
    import io

    from PIL import Image

    from studio.core.pngmeta import PngMetadataError, add_text_chunks, read_text_chunks

    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG")
    one = add_text_chunks(buf.getvalue(), [("prompt", '{"1": {}}', False)])
    same_twice = add_text_chunks(one, [("prompt", '{"1": {}}', False)])
    assert read_text_chunks(same_twice)["prompt"] == '{"1": {}}'
    both = add_text_chunks(one, [("prompt", '{"2": {}}', False)])
    with pytest.raises(PngMetadataError, match="two different 'prompt'"):
        read_text_chunks(both)
