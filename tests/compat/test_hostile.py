"""Hostile and broken input: every failure is one clean WorkflowError, never a crash."""

from __future__ import annotations

import contextlib
import copy
import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.compat import import_a1111, import_comfyui, load_any
from studio.core.pngmeta import MAX_TEXT_BYTES
from studio.core.registry import default_registry
from studio.core.workflow import WorkflowError

from .helpers import CORPUS, FLOWS

REG = default_registry()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
DOCS = {f"{flow}.{fmt}": json.loads((CORPUS / f"{flow}.{fmt}.json").read_text())
        for flow in FLOWS for fmt in ("api", "ui")}


def _paths(value, prefix=()):
    """Every location inside a document, as a tuple of keys/indexes."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc, path, value):
    if not path:
        return value
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _clean(fn, *args):
    with contextlib.suppress(WorkflowError):  # the only failure allowed
        fn(*args, REG)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_comfyui_fuzz_mutated_corpus(data):
    name = data.draw(st.sampled_from(sorted(DOCS)))
    doc = DOCS[name]
    path = data.draw(st.sampled_from(_paths(doc)))
    _clean(import_comfyui, _replace(doc, path, data.draw(JSON)))


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_comfyui_fuzz_arbitrary_json(value):
    _clean(import_comfyui, value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.fixed_dictionaries(
    {"class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "ControlNetApplyAdvanced", "Canny", "Mystery"])},
    optional={"inputs": st.dictionaries(st.sampled_from(["seed", "steps", "denoise", "text", "model", "image",
                                                         "start_percent", "low_threshold"]),
                                        JSON | st.tuples(st.text(max_size=3), st.integers(-2, 3)).map(list))}),
    max_size=5))
def test_comfyui_fuzz_api_shaped(value):
    _clean(import_comfyui, value)


A1111_SAMPLES = [(CORPUS.parent / "test_a1111.py").read_text().split('"""')[i] for i in (3, 5, 7)]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | st.sampled_from(A1111_SAMPLES).flatmap(
    lambda t: st.tuples(st.integers(0, len(t)), st.integers(0, len(t)), st.text(max_size=20)).map(
        lambda c: t[:c[0]] + c[2] + t[c[1]:])))
def test_a1111_fuzz(text):
    _clean(import_a1111, text)


@pytest.mark.parametrize("value", [None, 3, "text", [], [1, 2], {"nodes": "x", "links": []}, {"a": {"class_type": 4}}])
def test_wrong_shapes_are_clean_errors(value):
    with pytest.raises(WorkflowError):
        import_comfyui(value, REG)
    if not isinstance(value, str):  # any text is a prompt to A1111
        with pytest.raises(WorkflowError):
            import_a1111(value, REG)


def test_wrong_value_types_name_the_path():
    doc = copy.deepcopy(DOCS["txt2img.api"])
    doc["3"]["inputs"]["steps"] = "twenty"
    with pytest.raises(WorkflowError, match=r'\$\["3"\]\.inputs\.steps: expected a number'):
        import_comfyui(doc, REG)
    doc = copy.deepcopy(DOCS["txt2img.ui"])
    ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    ks["widgets_values"][2] = None  # steps
    with pytest.raises(WorkflowError, match=r"widgets_values\[2\] \(steps\)"):
        import_comfyui(doc, REG)


def test_deeply_nested_json_is_refused():
    deep: object = "x"
    for _ in range(10_000):
        deep = [deep]
    doc = copy.deepcopy(DOCS["txt2img.api"])
    doc["3"]["inputs"]["extra"] = deep
    with pytest.raises(WorkflowError, match="nested"):
        import_comfyui(doc, REG)


def test_deeply_nested_json_file_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(WorkflowError):
        load_any(path, REG)


def test_links_to_missing_nodes():
    doc = copy.deepcopy(DOCS["txt2img.api"])
    doc["3"]["inputs"]["model"] = ["99", 0]
    with pytest.raises(WorkflowError, match="node '99'"):
        import_comfyui(doc, REG)
    doc = copy.deepcopy(DOCS["txt2img.ui"])
    doc["links"] = [lk for lk in doc["links"] if lk[0] != 1]  # an input refers to a link that is gone
    with pytest.raises(WorkflowError, match="link 1"):
        import_comfyui(doc, REG)
    doc = copy.deepcopy(DOCS["txt2img.ui"])
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != 4]
    with pytest.raises(WorkflowError, match="node 4"):
        import_comfyui(doc, REG)


def test_cycles_are_refused():
    doc = copy.deepcopy(DOCS["txt2img.api"])
    doc["5"] = {"class_type": "LatentUpscale", "inputs": {"samples": ["3", 0], "upscale_method": "bilinear",
                                                          "width": 512, "height": 512, "crop": "disabled"}}
    with pytest.raises(WorkflowError, match="loop"):
        import_comfyui(doc, REG)


def test_a_reroute_loop_is_refused():
    doc = copy.deepcopy(DOCS["txt2img.ui"])
    reroute = next(n for n in doc["nodes"] if n["type"] == "Reroute")
    doc["links"].append([50, reroute["id"], 0, reroute["id"], 0, "*"])
    reroute["inputs"][0]["link"] = 50
    with pytest.raises(WorkflowError, match="loop"):
        import_comfyui(doc, REG)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_huge_png_chunks_are_refused(tmp_path):
    png = (CORPUS / "controlnet_canny.comfyui.png").read_bytes()
    bomb = zlib.compress(b"{" * (MAX_TEXT_BYTES + 2**20), 1)  # a small chunk that inflates past the limit
    head = png[:33]
    path = tmp_path / "bomb.png"
    path.write_bytes(head + _chunk(b"zTXt", b"workflow\0\0" + bomb) + png[33:])
    with pytest.raises(WorkflowError, match="inflates"):
        load_any(path, REG)
    path.write_bytes(head + struct.pack(">I", 2**31) + b"tEXt" + b"x" * 64)
    with pytest.raises(WorkflowError, match="limit"):
        load_any(path, REG)


def test_truncated_and_foreign_files(tmp_path):
    png = (CORPUS / "controlnet_canny.comfyui.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(png[:120])
    with pytest.raises(WorkflowError):
        load_any(path, REG)
    path = tmp_path / "plain.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(WorkflowError, match="not a Latent Studio workflow"):
        load_any(path, REG)
    path = tmp_path / "binary.bin"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(WorkflowError):
        load_any(path, REG)
    with pytest.raises(WorkflowError, match="no such file"):
        load_any(tmp_path / "missing.json", REG)


def test_seed_policy_comes_from_control_after_generate():
    graph, _ = import_comfyui(copy.deepcopy(DOCS["txt2img.ui"]), REG)  # its KSampler says "randomize"
    (sampler,) = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    assert sampler.params["seed_control"] == "randomize"
    graph, _ = import_comfyui(copy.deepcopy(DOCS["txt2img.api"]), REG)  # API prompts do not say
    (sampler,) = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    assert sampler.params["seed_control"] == "fixed"
    for flag, policy in ((True, "randomize"), (False, "fixed")):  # old files stored a flag
        doc = copy.deepcopy(DOCS["txt2img.ui"])
        ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
        ks["widgets_values"][1] = flag
        graph, _ = import_comfyui(doc, REG)
        (sampler,) = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
        assert sampler.params["seed_control"] == policy
        assert sampler.params["steps"] == ks["widgets_values"][2]  # the flag is not taken for steps


def test_placeholder_port_names_stay_distinct():
    from studio.compat.comfyui import _unique

    assert _unique(["IMAGE", "IMAGE", "IMAGE 1", "MASK", "IMAGE"]) == ["IMAGE", "IMAGE 1", "IMAGE 1 2", "MASK",
                                                                      "IMAGE 4"]
    names = _unique(["x"] * 200 + ["x 5"])
    assert len(set(names)) == len(names) == 201


def test_fast_node_ids_are_the_uuid5_ids():
    import uuid

    from studio.compat.comfyui import NAMESPACE, uuid5_text

    for name in ("node/1", "node/ü", "node/" + "x" * 500, ""):
        assert uuid5_text(name) == str(uuid.uuid5(NAMESPACE, name))


def test_report_lines_stay_unique_and_in_order():
    from studio.compat.report import ImportReport, Note

    report = ImportReport("x", [Note("info", "first")])
    for text in ("a", "b", "a", "first", "c", "b"):
        report.info(text)
    report.dropped("a")
    assert report.lines == ["info: first", "info: a", "info: b", "info: c", "dropped: a"]


def test_canny_thresholds_far_out_of_range_are_clamped():
    doc = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
           "2": {"class_type": "Canny", "inputs": {"image": ["1", 0], "low_threshold": 1e308,
                                                   "high_threshold": -1e308}}}
    graph, _ = import_comfyui(doc, REG)
    (canny,) = [n for n in graph.nodes.values() if n.type_id == "preprocess.canny"]
    assert (canny.params["low"], canny.params["high"]) == (255, 0)
