"""A corpus of hostile files, built on the spot: each builder writes one file and says what the studio
must answer. Shared by the limits test (time and memory per case) and the fuzz tests.

Every expectation is one of:
  ("refused", pattern)  loading raises WorkflowError whose message matches ``pattern``
  ("problem", pattern)  the file loads, and validation reports an error matching ``pattern``
  ("loads", pattern)    the file loads (validation may report anything); ``pattern`` matches a report
                        line, or is None
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from studio.core.jsonread import MAX_JSON_ITEMS
from studio.core.pngmeta import MAX_TEXT_BYTES

FORMAT = "latent-studio.workflow"
# Nodes in the long-chain cases. The files had 20,000 (minutes to import then, about a second
# now); half keeps a wide margin under the limits on a loaded machine, while anything quadratic still
# takes minutes at this size.
CHAIN = 10_000
HEAD = '{"format": "latent-studio.workflow", "version": 1, '  # the start of one of our files, as text
Expectation = tuple[str, str | None]
Builder = Callable[[Path], Path]
CASES: dict[str, tuple[Builder, Expectation]] = {}


def case(expect: str, pattern: str | None = None) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        CASES[fn.__name__] = (fn, (expect, pattern))
        return fn

    return register


def _json(folder: Path, name: str, doc: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with(texts: list[tuple[bytes, bytes]]) -> bytes:
    """A 1×1 PNG carrying raw ``(chunk type, chunk data)`` text chunks."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0\0")
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(_chunk(k, d) for k, d in texts)
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def ztxt(key: str, body: bytes) -> tuple[bytes, bytes]:
    return b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(body, 1)


def api_slot(slot: int) -> dict:
    return {"1": {"class_type": "Mystery", "inputs": {}},
            "2": {"class_type": "Other", "inputs": {"x": ["1", slot]}}}


def ui_doc(nodes: list[dict], links: list[list]) -> dict:
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "version": 0.4}


def ours(nodes: list[dict], links: list[dict] | None = None, **top: object) -> dict:
    return {"format": FORMAT, "version": 1, "nodes": nodes, "links": links or [], **top}


# --- ComfyUI: slots that would grow a list without end ---------------------------------------------


@case("refused", r"output 1000000000 of node '1'")
def api_slot_1e9(d: Path) -> Path:
    return _json(d, "slot.json", api_slot(10**9))


@case("refused", r"at most 256 outputs")
def api_slot_2_64(d: Path) -> Path:
    return _json(d, "slot.json", api_slot(2**64))


@case("refused", r"at most 256 outputs")
def api_slot_millions(d: Path) -> Path:
    return _json(d, "slot.json", api_slot(3_000_000))


@case("refused", r"slot 1000000000 of node 1 is out of range")
def ui_slot_1e9(d: Path) -> Path:
    nodes = [{"id": 1, "type": "Mystery", "outputs": []},
             {"id": 2, "type": "Other", "inputs": [{"name": "x", "type": "*", "link": 1}]}]
    return _json(d, "slot.json", ui_doc(nodes, [[1, 1, 10**9, 2, 0, "*"]]))


@case("refused", r"output 1000000000 of node '1'")
def png_slot_1e9(d: Path) -> Path:
    path = d / "slot.png"
    path.write_bytes(png_with([(b"tEXt", b"prompt\0" + json.dumps(api_slot(10**9)).encode())]))
    return path


# --- ComfyUI: big graphs that must import in linear time -------------------------------------------


@case("loads", r"converted for the karras scheduler")
def api_controlnet_chain_1600(d: Path) -> Path:
    """1,600 ControlNets in a row, listed downstream first (the worst order for a recursive walk)."""
    n = 1600
    doc: dict[str, dict] = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "b", "clip": ["ckpt", 1]}},
        "img": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "canny": {"class_type": "Canny", "inputs": {"image": ["img", 0], "low_threshold": 0.4,
                                                    "high_threshold": 0.8}},
        "cnl": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "c.safetensors"}},
        "lat": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    }
    prev = ("pos", 0), ("neg", 0)
    chain = {}
    for i in range(n):
        chain[f"cn{i}"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": [prev[0][0], prev[0][1]], "negative": [prev[1][0], prev[1][1]],
            "control_net": ["cnl", 0], "image": ["canny", 0], "strength": 0.5, "start_percent": 0.1,
            "end_percent": 0.9}}
        prev = (f"cn{i}", 0), (f"cn{i}", 1)
    doc["ks"] = {"class_type": "KSampler", "inputs": {
        "model": ["ckpt", 0], "positive": [prev[0][0], 0], "negative": [prev[1][0], 1], "latent_image": ["lat", 0],
        "seed": 1, "steps": 20, "cfg": 7, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1}}
    doc.update(reversed(list(chain.items())))
    return _json(d, "chain.json", doc)


@case("loads")
def ui_long_chain(d: Path) -> Path:
    """CHAIN Invert Image nodes in a row, in a UI file, listed downstream first."""
    n = CHAIN
    nodes = [{"id": 1, "type": "LoadImage", "widgets_values": ["x.png", "image"],
              "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}, {"name": "MASK", "type": "MASK"}]}]
    links = []
    for i in range(2, n + 2):
        links.append([i - 1, i - 1, 0, i, 0, "IMAGE"])
        nodes.append({"id": i, "type": "ImageInvert", "inputs": [{"name": "image", "type": "IMAGE", "link": i - 1}],
                      "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [i]}]})
    nodes.append({"id": n + 2, "type": "PreviewImage", "inputs": [{"name": "images", "type": "IMAGE", "link": n + 1}]})
    links.append([n + 1, n + 1, 0, n + 2, 0, "IMAGE"])
    return _json(d, "chain.json", ui_doc(nodes[::-1], links))


@case("loads", r"unknown node type")
def ui_unknown_chain_without_inputs(d: Path) -> Path:
    """CHAIN unknown nodes whose inputs are known only from the links table."""
    n = CHAIN
    nodes = [{"id": i, "type": "Mystery"} for i in range(1, n + 1)]
    links = [[i, i, 0, i + 1, 0, "*"] for i in range(1, n)]
    return _json(d, "chain.json", ui_doc(nodes, links))


@case("loads")
def ui_bypassed_chain_fanning_out(d: Path) -> Path:
    """A chain of 5,000 bypassed nodes (kept bypassed), each also feeding a preview: every preview's
    input is traced through the chain when the run is planned."""
    n = 5000
    nodes = [{"id": 1, "type": "LoadImage", "widgets_values": ["x.png", "image"],
              "outputs": [{"name": "IMAGE", "type": "IMAGE"}, {"name": "MASK", "type": "MASK"}]}]
    links = []
    link_id = 0
    for i in range(2, n + 2):
        link_id += 1
        links.append([link_id, i - 1, 0, i, 0, "IMAGE"])
        nodes.append({"id": i, "type": "ImageInvert", "mode": 4,
                      "inputs": [{"name": "image", "type": "IMAGE", "link": link_id}],
                      "outputs": [{"name": "IMAGE", "type": "IMAGE"}]})
        link_id += 1
        links.append([link_id, i, 0, 100_000 + i, 0, "IMAGE"])
        nodes.append({"id": 100_000 + i, "type": "PreviewImage",
                      "inputs": [{"name": "images", "type": "IMAGE", "link": link_id}]})
    return _json(d, "fan.json", ui_doc(nodes, links))


def _bypassed_unknowns(n: int, k: int) -> dict:
    """``n`` bypassed unknown nodes with ``k`` typed inputs, fed by two sources in turn, and ``k``
    outputs typed as another position's input, each feeding a sink."""
    nodes: list[dict] = [{"id": 1, "type": "Source", "outputs": [{"name": "A", "type": "T"}, {"name": "B", "type": "T"}]}]
    links = []
    for j in range(n):
        node_id = 10 + 2 * j
        inputs, outputs, sink = [], [], []
        for i in range(k):
            links.append([len(links) + 1, 1, i % 2, node_id, i, "T"])
            inputs.append({"name": f"in{i}", "type": f"T{i}", "link": len(links)})
        for i in range(k):
            links.append([len(links) + 1, node_id, i, node_id + 1, i, "*"])
            outputs.append({"name": f"out{i}", "type": f"T{(7 * i + 3) % k}"})
            sink.append({"name": f"in{i}", "type": "*", "link": len(links)})
        nodes.append({"id": node_id, "type": "Mystery", "mode": 4, "inputs": inputs, "outputs": outputs})
        nodes.append({"id": node_id + 1, "type": "Sink", "inputs": sink})
    return ui_doc(nodes, links)


@case("loads", r"so that bypassing it passes on")
def ui_bypassed_unknown_nodes_reordered(d: Path) -> Path:
    """Every node's inputs are reordered so that its bypass routes as ComfyUI's does."""
    return _json(d, "reorder.json", _bypassed_unknowns(400, 16))


@case("loads", r"too many to route here")
def ui_bypassed_unknown_nodes_with_many_ports(d: Path) -> Path:
    """Bypassed unknown nodes of 200 ports each: muted, as routing them would cost the square of that."""
    return _json(d, "ports.json", _bypassed_unknowns(120, 200))


@case("loads", r"thresholds 1e\+308/1e\+308")
def api_canny_threshold_1e308(d: Path) -> Path:
    doc = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
           "2": {"class_type": "Canny", "inputs": {"image": ["1", 0], "low_threshold": 1e308,
                                                   "high_threshold": 1e308}}}
    return _json(d, "canny.json", doc)


@case("refused", r'\$\["2"\]\.inputs\.low_threshold: number out of range')
def api_canny_threshold_1e999(d: Path) -> Path:
    path = d / "canny.json"
    path.write_text('{"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}, "2": {"class_type": "Canny", '
                    '"inputs": {"image": ["1", 0], "low_threshold": 1e999, "high_threshold": 0.5}}}')
    return path


@case("refused", r"\$\.nodes\[0\]\.widgets_values\[1\]: number out of range")
def ui_widget_1e999(d: Path) -> Path:
    path = d / "ui.json"
    path.write_text('{"nodes": [{"id": 1, "type": "KSampler", "widgets_values": [1, -1e999]}], "links": []}')
    return path


# --- our own format ---------------------------------------------------------------------------------


@case("problem", r"unknown node type")
def ours_unknown_nodes_chain(d: Path) -> Path:
    n = CHAIN
    nodes = [{"id": f"n{i}", "type": "pack.mystery", "pos": [i, 0], "params": {"k": i}} for i in range(n)]
    links = [{"from": [f"n{i}", f"out{i % 7}"], "to": [f"n{i + 1}", f"in{i % 5}"]} for i in range(n - 1)]
    return _json(d, "unknown.json", ours(nodes, links))


@case("loads")
def ours_family_chain_downstream_first(d: Path) -> Path:
    """3,000 ControlNet applications in a row, listed downstream first: families resolve without
    recursing once per node."""
    n = 3000
    nodes = [{"id": "ck", "type": "model.checkpoint", "params": {"checkpoint": "m.safetensors"}},
             {"id": "pos", "type": "text.encode", "params": {"text": "a"}},
             {"id": "neg", "type": "text.encode", "params": {"text": "b"}},
             {"id": "img", "type": "image.load", "params": {"image": "x.png"}},
             {"id": "cnl", "type": "model.controlnet", "params": {"controlnet": "c.safetensors"}}]
    links = [{"from": ["ck", "clip"], "to": ["pos", "clip"]}, {"from": ["ck", "clip"], "to": ["neg", "clip"]}]
    prev = ("pos", "conditioning"), ("neg", "conditioning")
    for i in range(n):
        nodes.append({"id": f"cn{i}", "type": "control.apply", "params": {}})
        links += [{"from": list(prev[0]), "to": [f"cn{i}", "positive"]},
                  {"from": list(prev[1]), "to": [f"cn{i}", "negative"]},
                  {"from": ["cnl", "control_net"], "to": [f"cn{i}", "control_net"]},
                  {"from": ["img", "image"], "to": [f"cn{i}", "image"]}]
        prev = (f"cn{i}", "positive"), (f"cn{i}", "negative")
    return _json(d, "chain.json", ours(nodes[::-1], links))


@case("refused", r"more than 1,000,000 JSON values")
def ours_empty_objects_over_budget(d: Path) -> Path:
    path = d / "empty.json"
    path.write_text(HEAD + '"extra": {"x": [' + ",".join(["{}"] * (MAX_JSON_ITEMS + 10)) + "]}}")
    return path


@case("loads")
def ours_empty_objects_under_budget(d: Path) -> Path:
    """The largest document of empty objects the budget lets in (each "{}," counts twice before
    parsing): it must still be cheap."""
    path = d / "empty.json"
    path.write_text(HEAD + '"extra": {"x": [' + ",".join(["{}"] * (MAX_JSON_ITEMS // 2 - 100)) + "]}}")
    return path


@case("refused", r"more than 1,000,000 JSON values")
def png_inflating_to_empty_objects(d: Path) -> Path:
    """A few dozen KB of PNG that inflate to 40 MB of JSON: the budget refuses it before parsing."""
    body = b'{"format": "latent-studio.workflow", "version": 1, "extra": [' + b"{}," * (13 * 2**20) + b"{}]}"
    path = d / "bomb.png"
    path.write_bytes(png_with([ztxt("latent-studio.workflow", body)]))
    return path


@case("refused", r"inflates beyond")
def png_zip_bomb(d: Path) -> Path:
    path = d / "bomb.png"
    path.write_bytes(png_with([ztxt("prompt", b"[" * (MAX_TEXT_BYTES + 2**20))]))
    return path


@case("refused", r"\$\.nodes\[0\]\.params\.blur: number out of range")
def ours_float_param_huge_int(d: Path) -> Path:
    doc = ours([{"id": "a", "type": "preprocess.canny", "params": {"blur": 10**400}}])
    return _json(d, "big.json", doc)


@case("refused", r"thousands of digits")
def ours_int_of_5000_digits(d: Path) -> Path:
    path = d / "big.json"
    path.write_text(HEAD + '"extra": {"n": ' + "9" * 5000 + "}}")
    return path


@case("refused", r"\$\.extra\.zoom: number out of range")
def ours_extra_1e999(d: Path) -> Path:
    path = d / "inf.json"
    path.write_text(HEAD + '"extra": {"zoom": 1e999}}')
    return path


@case("refused", r"\$\.nodes\[0\]\.params\.nonsense: number out of range")
def ours_unknown_param_minus_1e999(d: Path) -> Path:
    path = d / "inf.json"
    path.write_text(HEAD + '"nodes": [{"id": "a", "type": "preprocess.canny", "params": {"nonsense": -1e999}}]}')
    return path


@case("problem", r"output 'nope' of Load Image \[src\], which has no such output")
def ours_link_from_missing_output(d: Path) -> Path:
    doc = ours([{"id": "src", "type": "image.load", "params": {"image": "x.png"}},
                {"id": "dst", "type": "preprocess.invert"}],
               [{"from": ["src", "nope"], "to": ["dst", "image"]}])
    return _json(d, "port.json", doc)


@case("refused", r"wired through 300 different outputs; at most 256")
def ours_unknown_node_with_countless_ports(d: Path) -> Path:
    nodes = [{"id": "u", "type": "pack.mystery"}] + [{"id": f"d{i}", "type": "pack.other"} for i in range(300)]
    links = [{"from": ["u", f"o{i}"], "to": [f"d{i}", "x"]} for i in range(300)]
    return _json(d, "ports.json", ours(nodes, links))


# --- A1111 parameters text ----------------------------------------------------------------------------

_SETTINGS = "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512"


@case("loads")
def a1111_unclosed_lora_tags(d: Path) -> Path:
    path = d / "lora.txt"
    path.write_text("<lora:" * ((2**20 - 200) // 6) + "\n" + _SETTINGS)
    return path


@case("loads", r"setting 'K49999'")
def a1111_50000_unknown_keys(d: Path) -> Path:
    path = d / "keys.txt"
    path.write_text("a cat\n" + _SETTINGS + "".join(f", K{i}: v" for i in range(50_000)))
    return path


@case("loads", r"setting 'Note'")
def a1111_value_of_countless_commas(d: Path) -> Path:
    path = d / "commas.txt"
    path.write_text("a cat\n" + _SETTINGS + ", Note: x" + ", y" * 300_000)
    return path


@case("loads")
def a1111_controlnet_unit_of_5000_digits(d: Path) -> Path:
    path = d / "unit.txt"
    path.write_text("a cat\n" + _SETTINGS + f', ControlNet {"7" * 5000}: "Module: canny, Model: c"')
    return path


@case("loads")
def a1111_model_of_spaces(d: Path) -> Path:
    path = d / "model.txt"
    path.write_text("a cat\n" + _SETTINGS + ', ControlNet 0: "Module: none, Model: x' + " " * 500_000 + 'y"')
    return path
