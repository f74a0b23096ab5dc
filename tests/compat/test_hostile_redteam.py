"""Regressions from a red-team pass over the command line: hostile workflows that ended in a traceback,
an internal error or an unbounded allocation. Each file is built here, in ``tmp_path``."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from studio.cli import main

FORMAT = "latent-studio.workflow"


def _png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + bytes(3 * 4) for _ in range(4))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _node(nid: str, type_id: str, **params: object) -> dict:
    return {"id": nid, "type": type_id, "version": "1.1.0" if type_id == "image.save" else "1.0.0",
            "pos": [0, 0], "params": params}


def _flow(tmp_path: Path, first: dict, port: str = "image") -> Path:
    """``first`` → image.save, written as our workflow next to a small ``in.png``."""
    _png(tmp_path / "in.png")
    doc = {"format": FORMAT, "version": 1,
           "nodes": [first, _node("save", "image.save", prefix="rt")],
           "links": [{"from": [first["id"], port], "to": ["save", "images"]}]}
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _run(tmp_path: Path, flow: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", str(flow), "--output-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --- file names the system refuses ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x" * 100_000, "~no-such-user-anywhere/in.png"], ids=["too-long", "unknown-user"])
def test_an_image_name_the_system_refuses_is_a_clean_node_failure(tmp_path, capsys, name):
    code, text = _run(tmp_path, _flow(tmp_path, _node("load", "image.load", image=name)), capsys)
    assert code == 2  # refused by the pre-flight, before anything runs
    assert "Traceback" not in text and "image not found" in text
    assert len(text) < 5000  # the 100,000-character name is shortened in the message


# --- lone surrogates: JSON can spell them, no file can hold them ------------------------------------


def _with_escape(doc: dict, plain: str, escaped: str) -> str:
    text = json.dumps(doc)
    assert plain in text
    return text.replace(plain, escaped)


def test_a_lone_surrogate_in_our_workflow_is_refused_naming_the_field(tmp_path, capsys):
    flow = _flow(tmp_path, _node("load", "image.load", image="in.png"))
    flow.write_text(_with_escape(json.loads(flow.read_text()), '"rt"', '"r\\ud800t"'), encoding="utf-8")
    out = tmp_path / "imported.json"
    assert main(["import", str(flow), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "surrogate" in err and "$.nodes[1].params.prefix" in err and "internal error" not in err
    assert not out.exists()
    assert main(["validate", str(flow)]) == 2


def test_a_lone_surrogate_in_a_comfyui_prompt_is_refused(tmp_path, capsys):
    api = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "cat SURROGATE dog"}}}
    path = tmp_path / "api.json"
    path.write_text(_with_escape(api, "SURROGATE", "\\udfff"), encoding="utf-8")
    out = tmp_path / "imported.json"
    assert main(["import", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "surrogate" in err and "internal error" not in err and not out.exists()


def test_a_surrogate_pair_is_an_ordinary_character(tmp_path, capsys):
    flow = _flow(tmp_path, _node("load", "image.load", image="in.png"))
    flow.write_text(_with_escape(json.loads(flow.read_text()), '"rt"', '"r\\ud83d\\ude00t"'), encoding="utf-8")
    out = tmp_path / "imported.json"
    assert main(["import", str(flow), "-o", str(out)]) == 0
    assert "r\U0001F600t" in out.read_text(encoding="utf-8")


# --- the keypoints JSON of "Draw Pose" ------------------------------------------------------------


_PERSON = {"pose_keypoints_2d": [10, 10, 1] * 18}
POSES = {
    "nested": "[" * 100_000 + "]" * 100_000,
    "huge-canvas": json.dumps({"width": 10**9, "height": 10**9, "people": [_PERSON]}),
    "canvas-over-budget": json.dumps({"width": 65536, "height": 65536, "people": [_PERSON]}),
    "canvas-not-a-number": json.dumps({"width": [1], "height": {"a": 1}, "people": [_PERSON]}),
    "canvas-infinite": '{"width": Infinity, "height": 64, "people": []}',
    "people-not-a-list": json.dumps({"width": 64, "height": 64, "people": 5}),
    "many-people": json.dumps({"width": 64, "height": 64, "people": [_PERSON] * 100_000}),
    "huge-coordinates": json.dumps({"width": 64, "height": 64,
                                    "people": [{"pose_keypoints_2d": [1e308, -1e308, 1] * 18}]}),
}


@pytest.mark.parametrize("keypoints", POSES.values(), ids=POSES.keys())
def test_hostile_keypoints_are_a_clean_node_failure(tmp_path, capsys, keypoints):
    flow = _flow(tmp_path, _node("pose", "pose.draw", keypoints=keypoints, width=0, height=0))
    code, text = _run(tmp_path, flow, capsys)
    assert code == 1
    assert "Traceback" not in text and "out of memory" not in text
    assert "failed: Draw Pose" in text


def test_keypoints_far_off_the_canvas_still_draw(tmp_path, capsys):
    """A 1-pixel JSON canvas drawn 8192 wide multiplies x by 8192: beyond what cv2's integers hold."""
    keypoints = json.dumps({"width": 1, "height": 1, "people": [{"pose_keypoints_2d": [1e6, -1e6, 1] * 18}]})
    flow = _flow(tmp_path, _node("pose", "pose.draw", keypoints=keypoints, width=8192, height=8))
    code, text = _run(tmp_path, flow, capsys)
    assert code == 0, text
    assert len(list((tmp_path / "out").glob("rt_*.png"))) == 1


# --- torch's CPU allocator ---------------------------------------------------------------------------


def test_a_cpu_allocation_failure_counts_as_out_of_memory():
    from studio.core.executor import _is_out_of_memory

    message = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
               "you tried to allocate 2147483648 bytes. Error code 12 (Cannot allocate memory)")
    assert _is_out_of_memory(RuntimeError(message))
    assert not _is_out_of_memory(RuntimeError("shape mismatch"))


# --- terminal escapes in what a file names --------------------------------------------------------


def test_control_characters_in_titles_reach_the_terminal_as_text(tmp_path, capsys):
    load = _node("load", "image.load", image="in.png")
    load["title"] = "\x1b]0;retitled\x07\x1b[2J\u202eevil"
    code, text = _run(tmp_path, _flow(tmp_path, load), capsys)
    assert code == 0
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;retitled" in text


@pytest.mark.parametrize("field", ["prefix", "folder"])
def test_a_save_name_with_control_characters_is_refused(tmp_path, capsys, field):
    flow = _flow(tmp_path, _node("load", "image.load", image="in.png"))
    doc = json.loads(flow.read_text())
    doc["nodes"][1]["params"][field] = "name\x1b[31m\nnext"
    flow.write_text(json.dumps(doc))
    code, text = _run(tmp_path, flow, capsys)
    assert code == 2 and "control characters" in text  # refused before running
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


@pytest.mark.parametrize(("node_type", "params", "field"), [
    ("image.save", {"folder": "../../escape"}, "folder"),
    ("image.save", {"folder": "/tmp/anywhere"}, "folder"),
    ("image.save", {"folder": "~/x"}, "folder"),
    ("image.save", {"prefix": "a/../../b"}, "prefix"),
    ("image.save", {"prefix": "p" * 300}, "prefix"),
    ("model.checkpoint", {"checkpoint": "../../etc/hostname"}, "checkpoint"),
    ("model.checkpoint", {"checkpoint": "/dev/zero"}, "checkpoint"),
    ("model.vae", {"vae": "/proc/self/environ"}, "vae"),
    ("model.controlnet", {"controlnet": "a/../../../b.safetensors"}, "controlnet"),
])
def test_validate_refuses_what_run_would_refuse(tmp_path, node_type, params, field):
    """A file that ``run`` refuses must not validate "ok"."""
    from studio.core.graph import Graph
    from studio.core.registry import default_registry
    from studio.core.workflow import save

    g = Graph(default_registry())
    node = g.add_node(node_type, params=params)
    problems = [p for p in g.validate() if p.severity == "error" and p.node_id == node.id and p.port == field]
    assert problems, g.validate()
    save(g, tmp_path / "flow.json")
    res = subprocess.run([sys.executable, "-m", "studio", "validate", str(tmp_path / "flow.json")],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, LATENT_STUDIO_HOME=str(tmp_path / "home")))
    assert res.returncode == 2 and "Traceback" not in res.stdout + res.stderr
    assert field in res.stdout


def test_validate_accepts_ordinary_names(tmp_path):
    from studio.core.graph import Graph
    from studio.core.registry import default_registry

    g = Graph(default_registry())
    save = g.add_node("image.save", params={"folder": "portraits/2026", "prefix": "face"})
    ckpt = g.add_node("model.checkpoint", params={"checkpoint": "sd15/some model.safetensors"})
    assert not [p for p in g.validate() if p.node_id in (save.id, ckpt.id) and p.port in ("folder", "prefix",
                                                                                        "checkpoint")]


def test_a_comfyui_value_far_outside_our_range_is_refused_not_clamped(tmp_path):
    from studio.compat import load_any
    from studio.core.registry import default_registry

    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 1_000_000_000, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
            "latent_image": ["5", 0]}},
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(prompt))
    graph, report = load_any(path, default_registry())
    [sampler] = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    assert sampler.params["steps"] == 1_000_000_000  # kept, so that validate refuses it
    assert any(p.port == "steps" and p.severity == "error" for p in graph.validate())
    assert any("far outside our range" in line for line in report.lines)
    prompt["3"]["inputs"]["steps"] = 1500  # another tool's wider range: clamped, as before
    path.write_text(json.dumps(prompt))
    graph, report = load_any(path, default_registry())
    [sampler] = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    assert sampler.params["steps"] == 1000
