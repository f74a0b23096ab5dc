"""Group nodes (``extra.groupNodes``) expanded into their members, written by hand in the format the
ComfyUI editor saves: members by index, inner links, ``external`` outputs, instances of type
``workflow>NAME`` (older: ``workflow/NAME``) whose widget values are the members' one after another."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry
from studio.core.workflow import WorkflowError

from .helpers import comfy_view

REG = default_registry()
CK = "v1-5-pruned-emaonly.safetensors"


def _inp(name: str, kind: str, link: int | None = None, widget: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "type": kind, "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def _out(name: str, kind: str, links: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "type": kind, "links": links or [], "slot_index": 0}


def _member(kind: str, pos: list[float], inputs: list[dict], outputs: list[dict], widgets: list[Any] | None,
            index: int) -> dict[str, Any]:
    node = {"id": 100 + index, "type": kind, "pos": pos, "size": [300, 100], "flags": {}, "order": index, "mode": 0,
            "inputs": inputs, "outputs": outputs, "properties": {"Node name for S&R": kind}, "index": index}
    if widgets is not None:
        node["widgets_values"] = widgets
    return node


def _groups(seed_as_input: bool) -> dict[str, Any]:
    loader = {
        "nodes": [
            _member("CheckpointLoaderSimple", [0, 0], [],
                    [_out("MODEL", "MODEL"), _out("CLIP", "CLIP", [1, 2]), _out("VAE", "VAE")], ["old.safetensors"], 0),
            _member("CLIPTextEncode", [400, 0], [_inp("clip", "CLIP", 1)], [_out("CONDITIONING", "CONDITIONING")],
                    ["stored positive"], 1),
            _member("CLIPTextEncode", [400, 200], [_inp("clip", "CLIP", 2)], [_out("CONDITIONING", "CONDITIONING")],
                    ["stored negative"], 2),
        ],
        "links": [[0, 1, 1, 0, 100, "CLIP"], [0, 1, 2, 0, 100, "CLIP"]],
        "external": [[0, 0, "MODEL"], [0, 2, "VAE"]],
    }
    sampler_inputs = [_inp("model", "MODEL"), _inp("positive", "CONDITIONING"), _inp("negative", "CONDITIONING"),
                      _inp("latent_image", "LATENT")]
    if seed_as_input:
        sampler_inputs.append(_inp("seed", "INT", widget=True))
    sampler = {
        "nodes": [
            _member("KSampler", [0, 0], sampler_inputs, [_out("LATENT", "LATENT", [3])],
                    [1, "fixed", 10, 5, "euler", "normal", 1], 0),
            _member("VAEDecode", [350, 0], [_inp("samples", "LATENT", 3), _inp("vae", "VAE")],
                    [_out("IMAGE", "IMAGE")], None, 1),
            _member("Note", [0, 300], [], [], ["what this group does"], 2),
        ],
        "links": [[0, 0, 1, 0, 100, "LATENT"], [None, None, 1, 1, 4, "VAE"]],  # a wire from outside: no source
        "external": [[0, 0, "LATENT"]],
    }
    return {"Loader+Prompts": loader, "Sampler+Decode": sampler}


def _workflow(seed_as_input: bool = False, *, sampler_type: str = "workflow/Sampler+Decode") -> dict[str, Any]:
    sampler_widgets: list[Any] = [20, 7.5, "dpmpp_2m", "karras", 1, 777, "fixed"] if seed_as_input else [
        777, "randomize", 20, 7.5, "dpmpp_2m", "karras", 1]
    sampler_inputs = [_inp("model", "MODEL", 1), _inp("positive", "CONDITIONING", 2),
                      _inp("negative", "CONDITIONING", 3), _inp("latent_image", "LATENT", 4), _inp("vae", "VAE", 5)]
    links = [[1, 10, 0, 11, 0, "MODEL"], [2, 10, 2, 11, 1, "CONDITIONING"], [3, 10, 3, 11, 2, "CONDITIONING"],
             [4, 5, 0, 11, 3, "LATENT"], [5, 10, 1, 11, 4, "VAE"], [6, 11, 1, 9, 0, "IMAGE"],
             [7, 11, 0, 12, 0, "LATENT"], [8, 10, 1, 12, 1, "VAE"], [9, 12, 0, 13, 0, "IMAGE"]]
    nodes: list[dict[str, Any]] = [
        {"id": 10, "type": "workflow>Loader+Prompts", "pos": [100, 100], "size": [300, 300], "flags": {}, "order": 0,
         "mode": 0, "inputs": [],
         "outputs": [_out("MODEL", "MODEL", [1]), _out("VAE", "VAE", [5, 8]),
                     _out("CONDITIONING", "CONDITIONING", [2]),
                     _out("CLIPTextEncode CONDITIONING", "CONDITIONING", [3])],
         "properties": {}, "widgets_values": [CK, "a castle on a hill", "blurry"]},
        {"id": 5, "type": "EmptyLatentImage", "pos": [100, 500], "size": [300, 100], "flags": {}, "order": 1,
         "mode": 0, "outputs": [_out("LATENT", "LATENT", [4])], "properties": {}, "widgets_values": [512, 512, 1]},
        {"id": 11, "type": sampler_type, "pos": [600, 100], "size": [300, 300], "flags": {}, "order": 2, "mode": 0,
         "inputs": sampler_inputs, "outputs": [_out("LATENT", "LATENT", [7]), _out("IMAGE", "IMAGE", [6])],
         "properties": {}, "widgets_values": sampler_widgets},
        {"id": 9, "type": "SaveImage", "pos": [1000, 100], "size": [300, 100], "flags": {}, "order": 3, "mode": 0,
         "inputs": [_inp("images", "IMAGE", 6)], "properties": {}, "widgets_values": ["grouped"]},
        {"id": 12, "type": "VAEDecode", "pos": [1000, 400], "size": [200, 50], "flags": {}, "order": 4, "mode": 0,
         "inputs": [_inp("samples", "LATENT", 7), _inp("vae", "VAE", 8)], "outputs": [_out("IMAGE", "IMAGE", [9])],
         "properties": {}},
        {"id": 13, "type": "PreviewImage", "pos": [1300, 400], "size": [200, 50], "flags": {}, "order": 5, "mode": 0,
         "inputs": [_inp("images", "IMAGE", 9)], "properties": {}},
    ]
    if seed_as_input:
        nodes[2]["inputs"].append(_inp("seed", "INT", 10, widget=True))
        nodes.append({"id": 14, "type": "PrimitiveNode", "pos": [300, 700], "size": [200, 80], "flags": {},
                      "order": 6, "mode": 0, "outputs": [{"name": "INT", "type": "INT", "links": [10],
                                                           "widget": {"name": "seed"}}],
                      "properties": {}, "widgets_values": [777, "fixed"]})
        links.append([10, 14, 0, 11, 5, "INT"])
    return {"last_node_id": 14, "last_link_id": 10, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {"groupNodes": _groups(seed_as_input)}, "version": 0.4}


IDS = ["10:0", "10:1", "10:2", "11:0", "11:1", "11:2", "5", "9", "12", "13"]
LINKS = {
    ("10:0", "clip", "10:1", "clip"), ("10:0", "clip", "10:2", "clip"),
    ("10:0", "model", "11:0", "model"), ("10:1", "conditioning", "11:0", "positive"),
    ("10:2", "conditioning", "11:0", "negative"), ("5", "latent", "11:0", "latent"),
    ("11:0", "latent", "11:1", "latent"), ("10:0", "vae", "11:1", "vae"), ("11:1", "image", "9", "images"),
    ("11:0", "latent", "12", "latent"), ("10:0", "vae", "12", "vae"), ("12", "image", "13", "images"),
}


@pytest.mark.parametrize("seed_as_input", [False, True])
def test_group_instances_become_their_members_wired_through(seed_as_input):
    graph, report = import_comfyui(_workflow(seed_as_input), REG)
    nodes, links = comfy_view(graph, IDS)
    assert links == LINKS
    assert nodes["10:0"].type_id == "model.checkpoint" and nodes["10:0"].params["checkpoint"] == CK
    assert (nodes["10:1"].params["text"], nodes["10:2"].params["text"]) == ("a castle on a hill", "blurry")
    smp = nodes["11:0"].params
    assert (smp["seed"], smp["steps"], smp["cfg"], smp["sampler"], smp["scheduler"]) == (
        777, 20, 7.5, "dpmpp_2m", "karras")
    assert smp["seed_control"] == ("fixed" if seed_as_input else "randomize")
    assert nodes["11:2"].type_id == "editor.note" or "note" in nodes["11:2"].type_id
    # members keep their layout, moved to where the instance stood
    assert nodes["10:0"].pos == (100.0, 100.0) and nodes["10:2"].pos == (500.0, 300.0)
    assert not [line for line in report.lines if "workflow>" in line or "workflow/" in line or "unknown" in line]
    assert any("group node 'Loader+Prompts' (#10) expanded into its 3 member nodes" in i
               for i in report.of_kind("info"))
    assert [p.message for p in graph.validate() if p.severity == "error" and "missing" not in p.message
            and "not found" not in p.message] == []


def test_the_file_is_not_changed():
    doc = _workflow()
    before = copy.deepcopy(doc)
    import_comfyui(doc, REG)
    assert doc == before


def test_widget_values_that_do_not_line_up_keep_the_stored_ones():
    doc = _workflow()
    doc["nodes"][0]["widgets_values"] = [CK, "only two values"]
    graph, report = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert nodes["10:0"].params["checkpoint"] == "old.safetensors"
    assert nodes["10:1"].params["text"] == "stored positive"
    assert any("'Loader+Prompts' (#10): its widget values do not line up" in a for a in report.of_kind("approximated"))


def test_a_muted_instance_mutes_its_members():
    doc = _workflow()
    doc["nodes"][2]["mode"] = 2
    graph, _ = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert nodes["11:0"].mode == nodes["11:1"].mode != nodes["10:0"].mode


def test_an_undefined_group_stays_a_placeholder():
    doc = _workflow(sampler_type="workflow>Nowhere")
    graph, report = import_comfyui(doc, REG)
    assert any("workflow>Nowhere" in u for u in report.of_kind("unmapped"))
    assert "10:0" in comfy_view(graph, IDS + ["11"])[0]


def test_a_definition_that_names_a_missing_member_is_refused():
    doc = _workflow()
    doc["extra"]["groupNodes"]["Loader+Prompts"]["links"].append([0, 1, 7, 0, 100, "CLIP"])
    with pytest.raises(WorkflowError, match="member 7"):
        import_comfyui(doc, REG)


@pytest.mark.parametrize("junk", [
    {"nodes": "x"}, {"nodes": [{"type": "KSampler", "inputs": 5}]}, {"nodes": [], "links": [["a", 0, 0, 0]]}, 7,
])
def test_malformed_definitions_are_refused_with_a_path(junk):
    doc = _workflow()
    doc["extra"]["groupNodes"]["Loader+Prompts"] = junk
    with pytest.raises(WorkflowError, match=r"groupNodes\['Loader\+Prompts'\]"):
        import_comfyui(doc, REG)


def test_a_primitive_inside_the_group_feeds_its_value_to_the_widget():
    doc = _workflow()
    sampler = doc["extra"]["groupNodes"]["Sampler+Decode"]
    sampler["nodes"][0]["inputs"].append(_inp("seed", "INT", 9, widget=True))
    sampler["nodes"].append(_member("PrimitiveNode", [0, 200], [], [
        {"name": "INT", "type": "INT", "links": [9], "widget": {"name": "seed"}}], [1, "fixed"], 3))
    sampler["links"].append([3, 0, 0, 4, 103, "INT"])
    # the group's widgets: the sampler's but its seed, then the primitive's value and control
    doc["nodes"][2]["widgets_values"] = [20, 7.5, "dpmpp_2m", "karras", 1, 555, "randomize"]
    graph, report = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, [*IDS, "11:3"])
    smp = nodes["11:0"].params
    assert (smp["seed"], smp["seed_control"], smp["steps"], smp["sampler"]) == (555, "randomize", 20, "dpmpp_2m")
    assert "11:3" not in nodes  # the primitive itself is no node of ours
    assert not any("line up" in a for a in report.of_kind("approximated"))


def test_an_expansion_beyond_the_node_budget_is_refused_quickly():
    import time

    doc = _workflow()
    many = [dict(doc["nodes"][0], id=1000 + i, outputs=[], widgets_values=[]) for i in range(40_000)]
    doc["nodes"] = many
    doc["links"] = []
    t0 = time.perf_counter()
    with pytest.raises(WorkflowError, match="more than 100000 nodes"):
        import_comfyui(doc, REG)
    assert time.perf_counter() - t0 < 5
