import json
from pathlib import Path

import pytest

from studio.core.graph import Graph
from studio.core.workflow import WorkflowError, document_to_graph, dumps, load, loads, save

DATA = Path(__file__).parent / "data"
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _sample_graph(reg) -> Graph:
    g = Graph(reg)
    load_n = g.add_node("image.load", (0, 0), {"image": "images/sample.png"})
    canny = g.add_node("preprocess.canny", (300, 10.5), {"low": 42}, title="Edges")
    save_n = g.add_node("image.save", (600, 0))
    g.connect(load_n.id, "image", canny.id, "image")
    g.connect(canny.id, "image", save_n.id, "images")
    g.add_group("Inputs", (-20, -40, 280, 200), "#445566")
    g.models = [{"file": "sd15.safetensors", "kind": "checkpoint", "family": "sd15", "size": 123,
                 "sha256": "ab" * 32}]
    g.extra = {"view": {"zoom": 1.5, "center": [10, 20]}}
    return g


def test_save_load_save_is_byte_identical(reg, tmp_path):
    g = _sample_graph(reg)
    first = tmp_path / "a.json"
    save(g, first)
    again = tmp_path / "b.json"
    save(load(first, reg), again)
    assert first.read_bytes() == again.read_bytes()


def test_document_has_every_section(reg):
    doc = json.loads(dumps(_sample_graph(reg)))
    assert doc["format"] == "latent-studio.workflow" and doc["version"] == 1
    assert {"nodes", "links", "groups", "models", "environment", "rng", "extra"} <= set(doc)
    node = doc["nodes"][1]
    assert node["type"] == "preprocess.canny" and node["version"] == "1.0.0" and node["params"]["low"] == 42
    assert node["title"] == "Edges" and node["pos"] == [300.0, 10.5]
    assert doc["models"][0]["sha256"] == "ab" * 32
    env = doc["environment"]
    assert env["app"].startswith("latent-studio ") and env["python"] and "device" in env and "dtype" in env
    assert doc["rng"]["noise"] == "cpu"


def test_version_0_files_are_migrated(reg):
    g = load(DATA / "version0.json", reg)
    assert set(g.nodes) == {"load", "edges", "save"}
    assert g.nodes["edges"].title == "Edges"
    assert g.nodes["edges"].params == {"low": 50, "high": 150, "blur": 0.0}
    assert g.nodes["load"].pos == (10.0, 20.0)
    assert {(lk.src, lk.dst_port) for lk in g.links.values()} == {("load", "image"), ("edges", "images")}
    assert json.loads(dumps(g))["version"] == 1
    assert not [p for p in g.validate() if p.severity == "error"]


def test_unknown_node_types_survive_as_placeholders(reg, tmp_path):
    doc = json.loads(dumps(_sample_graph(reg)))
    canny_id = doc["nodes"][1]["id"]
    doc["nodes"][1]["type"] = "thirdparty.fancy_edges"
    doc["nodes"][1]["version"] = "3.1.4"
    doc["nodes"][1]["params"] = {"strength": [1, 2, {"x": None}], "mode": "wild"}
    doc["nodes"][1]["custom_field"] = {"keep": True}
    doc["future_section"] = {"anything": 1}
    text = json.dumps(doc, indent=2)
    g = loads(text, reg)
    node = g.nodes[canny_id]
    assert g.node_type(node) is None
    assert node.placeholder_inputs == ("image",) and node.placeholder_outputs == ("image",)
    problems = [p for p in g.validate() if p.node_id == canny_id]
    assert problems and "unknown node type 'thirdparty.fancy_edges'" in problems[0].message
    saved = json.loads(dumps(g))
    # Kept as it was, plus its ports in order (a bypass of it routes by position).
    assert saved["nodes"][1] == {**doc["nodes"][1], "ports": {"inputs": ["image"], "outputs": ["image"]}}
    assert saved["links"] == doc["links"] and saved["future_section"] == {"anything": 1}
    assert dumps(loads(dumps(g), reg)) == dumps(g)


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d.pop("format"), "$.format", "not a Latent Studio workflow"),
        (lambda d: d.update(version="1"), "$.version", "whole number"),
        (lambda d: d.update(version=99), "$.version", "newer"),
        (lambda d: d["nodes"][0].pop("id"), "$.nodes[0].id", "expected text"),
        (lambda d: d["nodes"][1].update(pos=[1]), "$.nodes[1].pos", "expected 2 numbers"),
        (lambda d: d["nodes"][2].update(params=[]), "$.nodes[2].params", "expected an object"),
        (lambda d: d["links"][0]["from"].__setitem__(0, "nope"), "$.links[0].from[0]", "no node with id 'nope'"),
        (lambda d: d["links"].append(dict(d["links"][0])), "$.links[2].to", "two wires"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "$.nodes[3].id", "duplicate node id"),
        (lambda d: d["groups"][0].update(rect="big"), "$.groups[0].rect", "expected a list"),
        (lambda d: d.update(nodes={}), "$.nodes", "expected a list"),
    ],
)
def test_malformed_files_raise_one_error_with_a_json_path(reg, mutate, path, words):
    doc = json.loads(dumps(_sample_graph(reg)))
    mutate(doc)
    with pytest.raises(WorkflowError) as info:
        document_to_graph(doc, reg)
    assert info.value.path == path
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"{\"format\": ", "not valid JSON"),
        (b"[]", "expected an object"),
        (b'{"format": "latent-studio.workflow", "version": 1, "nodes": [], "x": NaN}', "NaN"),
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b'{"nodes": [], "links": []}', "ComfyUI"),
    ],
)
def test_broken_text_raises_workflow_error(reg, data, words):
    with pytest.raises(WorkflowError, match=words):
        loads(data, reg)


def test_missing_file_is_a_workflow_error(reg, tmp_path):
    with pytest.raises(WorkflowError, match="cannot read"):
        load(tmp_path / "nope.json", reg)


def test_shipped_example_is_valid(reg):
    g = load(RESOURCES / "workflows" / "canny.json", reg)
    assert not g.validate()
    assert [g.nodes[n].type_id for n in g.topological_order()] == ["image.load", "preprocess.canny", "image.save"]


def test_an_unknown_nodes_port_order_survives_save_and_load(reg):
    """A bypassed unknown node routes by position: its port order must not depend on the order in
    which its wires happen to be listed in the file."""
    doc = json.loads(dumps(_sample_graph(reg)))
    node = doc["nodes"][1]
    node["type"] = "thirdparty.pair"
    node["ports"] = {"inputs": ["first", "image", "unwired"], "outputs": ["extra", "image"]}
    g = loads(json.dumps(doc), reg)
    placeholder = g.nodes[node["id"]]
    assert placeholder.placeholder_inputs == ("first", "image", "unwired")
    assert placeholder.placeholder_outputs == ("extra", "image")
    again = json.loads(dumps(loads(dumps(g), reg)))
    assert again["nodes"][1]["ports"] == node["ports"]
    node["ports"] = {"inputs": "image"}
    with pytest.raises(WorkflowError, match=r"\$\.nodes\[1\]\.ports\.inputs"):
        loads(json.dumps(doc), reg)
