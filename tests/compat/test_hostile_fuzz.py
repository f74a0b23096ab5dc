"""Fuzzing at the edges: integers to 10^400, floats to 1e308, output slots to 2^64, numbers JSON
cannot hold (1e999, thousands of digits). Every input gives a graph (that validates and saves) or one
WorkflowError, never anything else. Each test also runs with ten times the examples under
``-m slow``."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.compat import import_comfyui
from studio.compat.detect import load_document
from studio.core.graph import Graph
from studio.core.nodetype import Input
from studio.core.registry import default_registry
from studio.core.types import Kind, PortType
from studio.core.workflow import WorkflowError, document_to_graph, dumps, parse_json

REG = default_registry()
SCALES = [1, pytest.param(10, marks=pytest.mark.slow)]

BIG_INTS = st.integers(-(10**400), 10**400)
EDGE_FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e308, -1e308, 1.7976931348623157e308, 5e-324, -0.0])
LEAVES = st.none() | st.booleans() | BIG_INTS | st.integers(-(2**64), 2**64) | EDGE_FLOATS | st.text(max_size=8)
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=4), max_leaves=16)
SLOTS = st.integers(-(2**64), 2**64) | st.integers(-2, 300)
CLASSES = st.sampled_from(["KSampler", "CLIPTextEncode", "ControlNetApplyAdvanced", "Canny", "LatentUpscaleBy",
                           "EmptyLatentImage", "Mystery", "Reroute"])
# Text that JSON accepts but Python turns into something a workflow cannot hold.
HOSTILE_NUMBERS = st.sampled_from(["1e999", "-1e999", "1" * 5000, "-" + "9" * 400, "1e308", "2e308", "1e-400"])


def _fuzz(strategy, body, examples: int) -> None:
    settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])(given(strategy)(body))()


def _answered(graph: Graph) -> None:
    graph.validate()
    dumps(graph, environment={})


def _import(data) -> None:
    try:
        graph, _report = import_comfyui(data, REG)
    except WorkflowError:
        return
    _answered(graph)


@st.composite
def _api_doc(draw) -> dict:
    ids = draw(st.lists(st.sampled_from(["1", "2", "3", "4"]), min_size=1, max_size=4, unique=True))
    doc = {}
    for cid in ids:
        inputs = {}
        for name in draw(st.lists(st.sampled_from(["seed", "steps", "cfg", "denoise", "low_threshold", "scale_by",
                                                   "model", "image", "positive", "samples", "text"]), max_size=4)):
            inputs[name] = draw(st.one_of(LEAVES, st.tuples(st.sampled_from(ids), SLOTS).map(list)))
        doc[cid] = {"class_type": draw(CLASSES), "inputs": inputs}
    return doc


@pytest.mark.parametrize("scale", SCALES)
def test_api_prompts_with_edge_numbers_and_slots(scale):
    _fuzz(_api_doc(), _import, 150 * scale)


@st.composite
def _ui_doc(draw) -> dict:
    n = draw(st.integers(1, 4))
    nodes = []
    for i in range(1, n + 1):
        node = {"id": i, "type": draw(CLASSES), "mode": draw(st.sampled_from([0, 0, 2, 4])),
                "widgets_values": draw(st.lists(LEAVES, max_size=8))}
        if draw(st.booleans()):
            node["outputs"] = [{"name": draw(st.text(max_size=3)), "type": "*"} for _ in range(draw(st.integers(0, 3)))]
        if draw(st.booleans()):
            node["inputs"] = [{"name": draw(st.sampled_from(["model", "image", "samples", "x"])), "type": "*",
                               "link": draw(st.none() | st.integers(1, 4))} for _ in range(draw(st.integers(0, 3)))]
        nodes.append(node)
    links = [[k, draw(st.integers(1, n)), draw(SLOTS), draw(st.integers(1, n)), draw(SLOTS), "*"]
             for k in range(1, draw(st.integers(0, 4)) + 1)]
    return {"nodes": nodes, "links": links, "version": 0.4}


@pytest.mark.parametrize("scale", SCALES)
def test_ui_files_with_edge_numbers_and_slots(scale):
    _fuzz(_ui_doc(), _import, 150 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_json_text_with_numbers_python_cannot_keep(scale):
    """Numbers spliced into real documents as text: `1e999` parses to infinity, 5,000 digits to an
    error, and both must end as one WorkflowError naming where."""
    ours = json.dumps({"format": "latent-studio.workflow", "version": 1, "nodes": [
        {"id": "a", "type": "preprocess.canny", "params": {"blur": 0.5, "low": 10}}], "extra": {"zoom": 1}})
    comfy = json.dumps({"1": {"class_type": "Canny", "inputs": {"low_threshold": 0.5, "high_threshold": 0.7}}})

    def body(args):
        template, target, number = args
        text = template.replace(target, number, 1)
        try:
            graph, _report = load_document(parse_json(text), REG, checked=True)
        except WorkflowError as exc:
            assert "$" in str(exc)
            return
        _answered(graph)

    cases = st.tuples(st.just(ours), st.sampled_from(["0.5", "10", "1}"]), HOSTILE_NUMBERS) | st.tuples(
        st.just(comfy), st.sampled_from(["0.5", "0.7"]), HOSTILE_NUMBERS)
    _fuzz(cases, body, 40 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_our_format_values_at_the_edges_validate_and_save(scale):
    """Values handed over as Python objects (no JSON text): whatever a parameter holds, validation
    reports a problem instead of failing, and the graph saves."""

    def body(args):
        params, extra = args
        doc = {"format": "latent-studio.workflow", "version": 1, "extra": extra, "nodes": [
            {"id": "a", "type": "preprocess.canny", "params": params},
            {"id": "b", "type": "sample.sampler", "params": params}]}
        try:
            graph = document_to_graph(doc, REG)
        except WorkflowError:
            return
        _answered(graph)

    params = st.dictionaries(st.sampled_from(["low", "high", "blur", "seed", "steps", "cfg", "denoise", "sampler",
                                              "unknown"]), LEAVES, max_size=5)
    _fuzz(st.tuples(params, st.dictionaries(st.text(max_size=4), LEAVES, max_size=3)), body, 150 * scale)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kind", [Kind.INT, Kind.SEED, Kind.FLOAT, Kind.BOOL, Kind.STRING, Kind.ENUM])
def test_a_parameter_judges_any_value_with_a_short_message(kind, scale):
    decl = Input("p", PortType(kind), None, 0, 10, choices=("a", "b") if kind is Kind.ENUM else None)

    def body(value):
        message = decl.problem(value)
        assert message is None or len(message) < 300
        if kind is Kind.FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
            assert (message is None) == ((isinstance(value, int) or math.isfinite(value)) and 0 <= value <= 10)

    values = LEAVES | st.floats() | st.lists(BIG_INTS, max_size=3) | st.text(min_size=500, max_size=600)
    _fuzz(values, body, 100 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_arbitrary_json_never_escapes_as_another_error(scale):
    _fuzz(JSON, _import, 100 * scale)
