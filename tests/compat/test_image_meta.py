"""Workflows and parameters in WebP and JPEG files: ComfyUI's EXIF tags and A1111's UserComment, in
real files written with Pillow."""

from __future__ import annotations

import contextlib
import json
import random
import struct
from pathlib import Path

import pytest
from PIL import Image

from studio.app import Session
from studio.compat import load_any
from studio.compat.image_meta import ImageMetadataError, image_kind, read_image_texts, user_comment
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.workflow import WorkflowError

from .helpers import CORPUS

REG = default_registry()
A1111 = ("a lighthouse on a cliff at dusk, (stormy sea:1.2)\nNegative prompt: blurry\n"
         "Steps: 24, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 512x768, "
         "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")


def _comfy_webp(path: Path, *, workflow: str | None, prompt: str | None) -> Path:
    """As ComfyUI's WebP saver writes it: ``workflow:`` in 0x010F (Make), ``prompt:`` in 0x0110 (Model)."""
    image = Image.new("RGB", (16, 16), (200, 120, 40))
    exif = image.getexif()
    if prompt is not None:
        exif[0x0110] = f"prompt:{prompt}"
    if workflow is not None:
        exif[0x010F] = f"workflow:{workflow}"
    image.save(path, "WEBP", exif=exif)
    return path


def _a1111_file(path: Path, fmt: str, comment: bytes) -> Path:
    """As A1111 writes JPEG and WebP: the parameters in the Exif IFD's UserComment."""
    image = Image.new("RGB", (16, 16), (30, 60, 90))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    image.save(path, fmt, exif=exif)
    return path


def _tiff_with_comment(endian: str, comment: bytes) -> bytes:
    """A minimal EXIF block in the given byte order: IFD0 → Exif IFD → UserComment."""
    e = "<" if endian == "II" else ">"
    head = endian.encode() + struct.pack(f"{e}HI", 42, 8)
    ifd0 = struct.pack(f"{e}H", 1) + struct.pack(f"{e}HHII", 0x8769, 4, 1, 26) + struct.pack(f"{e}I", 0)
    exif_ifd = struct.pack(f"{e}H", 1) + struct.pack(f"{e}HHII", 0x9286, 7, len(comment), 44) + struct.pack(f"{e}I", 0)
    return b"Exif\x00\x00" + head + ifd0 + exif_ifd + comment


def test_comfyui_webp_opens_its_editor_workflow(tmp_path):
    ui = (CORPUS / "controlnet_canny.ui.json").read_text()
    api = (CORPUS / "controlnet_canny.api.json").read_text()
    path = _comfy_webp(tmp_path / "ComfyUI_00001_.webp", workflow=json.dumps(json.loads(ui)), prompt=api)
    assert image_kind(path) == "WebP"
    texts = read_image_texts(path)
    assert json.loads(texts["workflow"]) == json.loads(ui) and json.loads(texts["prompt"]) == json.loads(api)
    graph, report = load_any(path, REG)
    assert report is not None and report.source == "ComfyUI (UI workflow, schema 0.4)"
    png_graph, _ = load_any(CORPUS / "controlnet_canny.ui.json", REG)
    assert set(graph.nodes) == set(png_graph.nodes) and set(graph.links) == set(png_graph.links)


def test_comfyui_webp_with_only_a_prompt_or_a_broken_workflow_uses_the_prompt(tmp_path):
    api = (CORPUS / "txt2img.api.json").read_text()
    _, report = load_any(_comfy_webp(tmp_path / "a.webp", workflow=None, prompt=api), REG)
    assert report.source == "ComfyUI (API prompt)"
    _, report = load_any(_comfy_webp(tmp_path / "b.webp", workflow="{broken", prompt=api), REG)
    assert report.source == "ComfyUI (API prompt)"
    assert any("could not be read" in line and "EXIF tag" in line for line in report.of_kind("info"))


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", "jpg"), ("WEBP", "webp")])
@pytest.mark.parametrize("header", ["UNICODE-BE", "UNICODE-LE", "ASCII"])
def test_a1111_user_comment_in_jpeg_and_webp(tmp_path, fmt, suffix, header):
    if header == "ASCII":
        comment = b"ASCII\x00\x00\x00" + A1111.encode()
    else:  # A1111 (piexif) writes UTF-16 big-endian; other writers little-endian
        comment = b"UNICODE\x00" + A1111.encode("utf-16-be" if header == "UNICODE-BE" else "utf-16-le")
    path = _a1111_file(tmp_path / f"00001-1234.{suffix}", fmt, comment)
    assert read_image_texts(path) == {"parameters": A1111}
    graph, report = load_any(path, REG)
    assert report.source == "A1111 parameters"
    (sampler,) = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    assert (sampler.params["seed"], sampler.params["steps"], sampler.params["cfg"]) == (1234, 24, 6.5)
    assert (sampler.params["sampler"], sampler.params["scheduler"]) == ("dpmpp_2m", "karras")


@pytest.mark.parametrize("endian", ["II", "MM"])
def test_unicode_comment_follows_the_exif_byte_order(tmp_path, endian):
    text = "a café at night, ünïcödé"
    encoded = text.encode("utf-16-le" if endian == "II" else "utf-16-be")
    block = _tiff_with_comment(endian, b"UNICODE\x00" + encoded)
    path = tmp_path / "made.jpg"
    Image.new("RGB", (8, 8)).save(path, "JPEG", exif=block)
    assert read_image_texts(path) == {"parameters": text}
    assert user_comment(b"UNICODE\x00" + encoded, big_endian=endian == "MM") == text


def test_files_without_metadata_say_so(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg", "JPEG")
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.webp", "WEBP")
    for name, kind in (("plain.jpg", "JPEG"), ("plain.webp", "WebP")):
        assert read_image_texts(tmp_path / name) == {}
        with pytest.raises(WorkflowError, match=f"this {kind} carries no workflow"):
            load_any(tmp_path / name, REG)


def test_an_oversized_or_cut_exif_chunk_is_refused_without_reading_it(tmp_path):
    huge = tmp_path / "huge.webp"  # claims a 4 GiB EXIF chunk
    huge.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8) + b"WEBP" + b"EXIF" + struct.pack("<I", 0xFFFFFFF0))
    with pytest.raises(ImageMetadataError, match="over the"):
        read_image_texts(huge)
    cut = tmp_path / "cut.webp"
    cut.write_bytes(b"RIFF" + struct.pack("<I", 100) + b"WEBP" + b"EXIF" + struct.pack("<I", 64) + b"Exif")
    with pytest.raises(WorkflowError, match="ends inside its EXIF chunk"):
        load_any(cut, REG)
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff\xe1" + struct.pack(">H", 20) + b"Exif\x00\x00II*\x00\xff\xff\xff\x7f\x00\x00")
    with pytest.raises(WorkflowError):
        load_any(damaged, REG)


def test_session_opens_a_webp_as_an_unsaved_import(tmp_path):
    api = (CORPUS / "txt2img.api.json").read_text()
    path = _comfy_webp(tmp_path / "ComfyUI_00002_.webp", workflow=None, prompt=api)
    session = Session(REG, Settings())
    report = session.open(path)
    assert report is not None and session.path is None and session.dirty
    assert len(session.graph.nodes) == 7


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG"])
def test_damaged_files_fail_cleanly(tmp_path, fmt):
    api = (CORPUS / "txt2img.api.json").read_text()
    if fmt == "WEBP":
        good = _comfy_webp(tmp_path / "good.webp", workflow=None, prompt=api).read_bytes()
    else:
        good = _a1111_file(tmp_path / "good.jpg", "JPEG", b"ASCII\x00\x00\x00" + A1111.encode()).read_bytes()
    rng = random.Random(7)
    path = tmp_path / f"damaged.{fmt.lower()}"
    for _ in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256)
        cut = rng.choice([len(data), rng.randrange(12, len(data))])
        path.write_bytes(bytes(data[:cut]))
        with contextlib.suppress(WorkflowError):  # a clean refusal, or a graph: nothing else
            load_any(path, REG)


def test_a_comfyui_workflow_as_json_in_the_user_comment(tmp_path):
    ui = json.loads((CORPUS / "lora.ui.json").read_text())
    api = json.loads((CORPUS / "lora.api.json").read_text())
    comment = b"UNICODE\x00" + json.dumps({"prompt": api, "workflow": ui}).encode("utf-16-be")
    path = _a1111_file(tmp_path / "saved.webp", "WEBP", comment)
    texts = read_image_texts(path)
    assert set(texts) == {"workflow", "prompt"} and json.loads(texts["workflow"]) == ui
    graph, report = load_any(path, REG)
    assert report.source.startswith("ComfyUI (UI workflow") and len(graph.nodes) == 11
