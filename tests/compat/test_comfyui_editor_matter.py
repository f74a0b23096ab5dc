"""ComfyUI editor matter survives an import: reroutes, notes, bypassed and muted nodes, collapse,
colours and groups are kept as in the file, and the run plan routes around them as ComfyUI does."""

from __future__ import annotations

import copy
import json

import pytest

from studio.compat import import_comfyui
from studio.compat.comfyui import PLACEHOLDER_PREFIX, TRANSLATORS, UNSUPPORTED
from studio.core.plan import plan_run
from studio.core.registry import default_registry
from studio.core.workflow import dumps, loads

from .helpers import comfy_view

REG = default_registry()

# Saved from ComfyUI's editor: the default text-to-image graph with a LoRA (bypassed while testing),
# the latent wire routed through two Reroutes, a muted preview, a Note, a Markdown note, a collapsed
# red negative prompt, a green positive one, and three groups ("Negative" nested in "Prompts").
WORKFLOW = r"""
{
  "last_node_id": 21, "last_link_id": 15,
  "nodes": [
    {"id": 3, "type": "KSampler", "pos": [1120, 190], "size": [315, 262], "flags": {}, "order": 9, "mode": 0,
     "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                {"name": "positive", "type": "CONDITIONING", "link": 2},
                {"name": "negative", "type": "CONDITIONING", "link": 3},
                {"name": "latent_image", "type": "LATENT", "link": 4}],
     "outputs": [{"name": "LATENT", "type": "LATENT", "links": [5], "slot_index": 0}],
     "properties": {"Node name for S&R": "KSampler"},
     "widgets_values": [805211734407731, "fixed", 24, 6.5, "dpmpp_2m", "karras", 1]},
    {"id": 4, "type": "CheckpointLoaderSimple", "pos": [20, 440], "size": [315, 98], "flags": {}, "order": 0,
     "mode": 0,
     "outputs": [{"name": "MODEL", "type": "MODEL", "links": [6], "slot_index": 0},
                 {"name": "CLIP", "type": "CLIP", "links": [7], "slot_index": 1},
                 {"name": "VAE", "type": "VAE", "links": [9], "slot_index": 2}],
     "properties": {"Node name for S&R": "CheckpointLoaderSimple"},
     "widgets_values": ["dreamshaper_8.safetensors"]},
    {"id": 5, "type": "EmptyLatentImage", "pos": [480, 690], "size": [315, 106], "flags": {}, "order": 1,
     "mode": 0, "outputs": [{"name": "LATENT", "type": "LATENT", "links": [10], "slot_index": 0}],
     "properties": {"Node name for S&R": "EmptyLatentImage"}, "widgets_values": [512, 768, 1]},
    {"id": 6, "type": "CLIPTextEncode", "pos": [420, 150], "size": [422, 164], "flags": {}, "order": 6,
     "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 11}],
     "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [2], "slot_index": 0}],
     "title": "Positive", "properties": {"Node name for S&R": "CLIPTextEncode"},
     "widgets_values": ["a lighthouse on a cliff at dusk, volumetric light"],
     "color": "#232", "bgcolor": "#353"},
    {"id": 7, "type": "CLIPTextEncode", "pos": [420, 400], "size": [425, 180], "flags": {"collapsed": true},
     "order": 7, "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 12}],
     "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3], "slot_index": 0}],
     "properties": {"Node name for S&R": "CLIPTextEncode"}, "widgets_values": ["blurry, watermark"],
     "color": "#322", "bgcolor": "#533"},
    {"id": 8, "type": "VAEDecode", "pos": [1480, 190], "size": [210, 46], "flags": {}, "order": 10, "mode": 0,
     "inputs": [{"name": "samples", "type": "LATENT", "link": 5}, {"name": "vae", "type": "VAE", "link": 9}],
     "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [13, 14], "slot_index": 0}],
     "properties": {"Node name for S&R": "VAEDecode"}, "widgets_values": []},
    {"id": 9, "type": "SaveImage", "pos": [1730, 190], "size": [315, 270], "flags": {}, "order": 11, "mode": 0,
     "inputs": [{"name": "images", "type": "IMAGE", "link": 13}],
     "properties": {"Node name for S&R": "SaveImage"}, "widgets_values": ["lighthouse"]},
    {"id": 10, "type": "Lora Loader", "pos": [20, 600], "size": [315, 126], "flags": {}, "order": 4, "mode": 4,
     "inputs": [{"name": "model", "type": "MODEL", "link": 6}, {"name": "clip", "type": "CLIP", "link": 7}],
     "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                 {"name": "CLIP", "type": "CLIP", "links": [11, 12], "slot_index": 1}],
     "properties": {"Node name for S&R": "Lora Loader"},
     "widgets_values": ["add_detail.safetensors", 0.8, 0.8]},
    {"id": 11, "type": "PreviewImage", "pos": [1730, 520], "size": [210, 246], "flags": {}, "order": 12,
     "mode": 2, "inputs": [{"name": "images", "type": "IMAGE", "link": 14}],
     "properties": {"Node name for S&R": "PreviewImage"}, "widgets_values": []},
    {"id": 13, "type": "Note", "pos": [20, 150], "size": [340, 130], "flags": {}, "order": 2, "mode": 0,
     "properties": {"text": ""},
     "widgets_values": ["The LoRA is bypassed while testing prompts (Ctrl+B to bring it back).\nPreview is muted."],
     "color": "#432", "bgcolor": "#653"},
    {"id": 14, "type": "MarkdownNote", "pos": [1120, 520], "size": [400, 160], "flags": {}, "order": 3,
     "mode": 0, "properties": {},
     "widgets_values": ["## Settings\n\n* **24** steps, DPM++ 2M Karras\n* CFG 6.5"]},
    {"id": 20, "type": "Reroute", "pos": [860, 700], "size": [75, 26], "flags": {}, "order": 5, "mode": 0,
     "inputs": [{"name": "", "type": "*", "link": 10}],
     "outputs": [{"name": "", "type": "LATENT", "links": [15], "slot_index": 0}],
     "properties": {"showOutputText": false, "horizontal": false}},
    {"id": 21, "type": "Reroute", "pos": [1000, 470], "size": [75, 26], "flags": {}, "order": 8, "mode": 0,
     "inputs": [{"name": "", "type": "*", "link": 15}],
     "outputs": [{"name": "", "type": "LATENT", "links": [4], "slot_index": 0}],
     "properties": {"showOutputText": false, "horizontal": false}}
  ],
  "links": [
    [1, 10, 0, 3, 0, "MODEL"], [2, 6, 0, 3, 1, "CONDITIONING"], [3, 7, 0, 3, 2, "CONDITIONING"],
    [4, 21, 0, 3, 3, "LATENT"], [5, 3, 0, 8, 0, "LATENT"], [6, 4, 0, 10, 0, "MODEL"], [7, 4, 1, 10, 1, "CLIP"],
    [9, 4, 2, 8, 1, "VAE"], [10, 5, 0, 20, 0, "LATENT"], [11, 10, 1, 6, 0, "CLIP"], [12, 10, 1, 7, 0, "CLIP"],
    [13, 8, 0, 9, 0, "IMAGE"], [14, 8, 0, 11, 0, "IMAGE"], [15, 20, 0, 21, 0, "LATENT"]
  ],
  "groups": [
    {"title": "Model", "bounding": [0, 360, 360, 390], "color": "#3f789e", "font_size": 24, "flags": {}},
    {"title": "Prompts", "bounding": [400, 70, 470, 540], "color": "#8A8", "font_size": 24, "flags": {}},
    {"title": "Negative", "bounding": [410, 330, 450, 270], "color": "#a1309b", "font_size": 24, "flags": {}}
  ],
  "config": {},
  "extra": {"ds": {"scale": 0.83, "offset": [120.5, 40.25]}},
  "version": 0.4
}
"""
IDS = ["3", "4", "5", "6", "7", "8", "9", "10", "11", "13", "14", "20", "21"]
NOTE = "The LoRA is bypassed while testing prompts (Ctrl+B to bring it back).\nPreview is muted."
MARKDOWN = "## Settings\n\n* **24** steps, DPM++ 2M Karras\n* CFG 6.5"


def _doc() -> dict:
    return json.loads(WORKFLOW)


def _import(doc: dict):
    graph, report = import_comfyui(doc, REG)
    nodes, links = comfy_view(graph, [str(i) for i in range(1, 60)])
    return graph, report, nodes, links


def _editor_state(graph, nodes) -> dict:
    return {cid: (n.type_id, n.mode, n.collapsed, n.color, n.title, n.pos, n.params.get("text"))
            for cid, n in nodes.items()}


def test_every_node_of_the_file_is_kept_with_its_mode_style_and_wires():
    graph, report, nodes, links = _import(_doc())
    assert sorted(nodes, key=int) == IDS
    assert _editor_state(graph, nodes) == {
        "3": ("sample.sampler", "normal", False, None, None, (1120.0, 190.0), None),
        "4": ("model.checkpoint", "normal", False, None, None, (20.0, 440.0), None),
        "5": ("latent.empty", "normal", False, None, None, (480.0, 690.0), None),
        "6": ("text.encode", "normal", False, "#223322", "Positive", (420.0, 150.0),
              "a lighthouse on a cliff at dusk, volumetric light"),
        "7": ("text.encode", "normal", True, "#332222", None, (420.0, 400.0), "blurry, watermark"),
        "8": ("latent.vae_decode", "normal", False, None, None, (1480.0, 190.0), None),
        "9": ("image.save", "normal", False, None, None, (1730.0, 190.0), None),
        "10": (PLACEHOLDER_PREFIX + "Lora Loader", "bypass", False, None, None, (20.0, 600.0), None),
        "11": ("image.preview", "mute", False, None, None, (1730.0, 520.0), None),
        "13": ("util.note", "normal", False, "#443322", None, (20.0, 150.0), NOTE),
        "14": ("util.note", "normal", False, None, None, (1120.0, 520.0), MARKDOWN),
        "20": ("util.reroute", "normal", False, None, None, (860.0, 700.0), None),
        "21": ("util.reroute", "normal", False, None, None, (1000.0, 470.0), None),
    }
    # wired exactly as in the file: into and out of the bypassed LoRA, the muted preview, the reroutes
    assert links == {
        ("10", "MODEL", "3", "model"), ("6", "conditioning", "3", "positive"),
        ("7", "conditioning", "3", "negative"), ("21", "value", "3", "latent"), ("3", "latent", "8", "latent"),
        ("4", "model", "10", "model"), ("4", "clip", "10", "clip"), ("4", "vae", "8", "vae"),
        ("5", "latent", "20", "value"), ("10", "CLIP", "6", "clip"), ("10", "CLIP", "7", "clip"),
        ("8", "image", "9", "images"), ("8", "image", "11", "images"), ("20", "value", "21", "value")}
    assert nodes["10"].params["widgets_values"] == ["add_detail.safetensors", 0.8, 0.8]
    assert report.of_kind("dropped") == [] and report.of_kind("approximated") == []
    (lora,) = report.of_kind("unmapped")
    assert lora.startswith("Lora Loader #10: unknown node type; kept as a placeholder")


def test_the_plan_routes_the_sampler_through_reroutes_and_the_bypassed_node():
    graph, _, nodes, _ = _import(_doc())
    plan = plan_run(graph)
    ids = {n.id: cid for cid, n in nodes.items()}

    def fed(cid: str) -> dict[str, tuple[str, str]]:
        return {port: (ids[src], out) for port, (src, out) in plan.inputs[nodes[cid].id].items()}

    assert fed("3") == {"model": ("4", "model"), "positive": ("6", "conditioning"),
                        "negative": ("7", "conditioning"), "latent": ("5", "latent")}
    assert fed("6") == fed("7") == {"clip": ("4", "clip")}
    assert {ids[n]: why for n, why in plan.skipped.items()} == {
        "10": "bypassed", "11": "muted", "13": "a note", "14": "a note", "20": "a reroute", "21": "a reroute"}
    assert [p for p in graph.validate() if p.severity == "error"] == []


def test_groups_keep_title_rect_colour_and_order():
    graph, _, _, _ = _import(_doc())
    assert [(g.title, g.rect, g.color) for g in graph.groups] == [
        ("Model", (0.0, 360.0, 360.0, 390.0), "#3f789e"),
        ("Prompts", (400.0, 70.0, 470.0, 540.0), "#88aa88"),
        ("Negative", (410.0, 330.0, 450.0, 270.0), "#a1309b"),  # drawn after (over) the group it sits in
    ]


def test_save_and_load_keep_the_editor_matter():
    graph, _, nodes, _ = _import(_doc())
    again = loads(dumps(graph, environment={}), REG)
    nodes_again, links_again = comfy_view(again, IDS)
    assert _editor_state(again, nodes_again) == _editor_state(graph, nodes)
    assert links_again == comfy_view(graph, IDS)[1]
    assert [(g.title, g.rect, g.color) for g in again.groups] == [(g.title, g.rect, g.color) for g in graph.groups]
    assert plan_run(again).inputs == plan_run(graph).inputs
    assert plan_run(again).skipped == plan_run(graph).skipped


def test_colours_are_sanitised_to_rrggbb():
    doc = _doc()
    by_id = {n["id"]: n for n in doc["nodes"]}
    by_id[3].update(color="#AbCdEf")
    by_id[4].update(color="red", bgcolor="#335")  # not a colour: the body colour stands in
    by_id[5].update(color="#11223344")  # with alpha: not one ComfyUI writes for a node
    by_id[8]["color"] = ["#322"]
    doc["groups"][0]["color"] = "rgb(1, 2, 3)"
    doc["groups"][1]["color"] = 7
    graph, _, nodes, _ = _import(doc)
    assert (nodes["3"].color, nodes["4"].color, nodes["5"].color, nodes["8"].color) == (
        "#abcdef", "#333355", None, None)
    assert [g.color for g in graph.groups] == [None, None, "#a1309b"]


def test_a_bypass_our_node_cannot_do_is_imported_muted_and_reported():
    doc = _doc()
    by_id = {n["id"]: n for n in doc["nodes"]}
    by_id[8]["mode"] = 4  # VAE Decode: no IMAGE input to pass on, in ComfyUI as here
    graph, report, nodes, _ = _import(doc)
    assert nodes["8"].mode == "mute"
    line = next(a for a in report.of_kind("approximated") if "VAEDecode #8" in a)
    assert "bypassed in ComfyUI" in line and "no IMAGE input" in line and "imported muted" in line
    plan = plan_run(graph)
    assert plan.skipped[nodes["9"].id].startswith("needs VAE Decode")  # what needs it does not run
    assert [p for p in graph.validate() if p.severity == "error"] == []


def _upscale_doc(image_type: str = "IMAGE") -> dict:
    """An unknown upscaler (model input first, image second) bypassed between a decode and a save."""
    doc = _doc()
    doc["nodes"].append({"id": 30, "type": "UpscaleModelLoader", "pos": [1480, 300], "mode": 0,
                         "outputs": [{"name": "UPSCALE_MODEL", "type": "UPSCALE_MODEL", "links": [31]}],
                         "widgets_values": ["4x-UltraSharp.pth"]})
    doc["nodes"].append({"id": 31, "type": "ImageUpscaleWithModelBatched", "pos": [1600, 300], "mode": 4,
                         "inputs": [{"name": "upscale_model", "type": "UPSCALE_MODEL", "link": 31},
                                    {"name": "image", "type": image_type, "link": 32}],
                         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [33]}]})
    doc["links"] += [[31, 30, 0, 31, 0, "UPSCALE_MODEL"], [32, 8, 0, 31, 1, "IMAGE"], [33, 31, 0, 9, 0, "IMAGE"]]
    by_id = {n["id"]: n for n in doc["nodes"]}
    by_id[9]["inputs"][0]["link"] = 33
    by_id[8]["outputs"][0]["links"] = [14, 32]
    doc["links"] = [lk for lk in doc["links"] if lk[0] != 13]
    return doc


def test_a_bypassed_unknown_node_passes_on_the_input_comfyui_picks_by_type():
    graph, report, nodes, _ = _import(_upscale_doc())
    up = nodes["31"]
    assert up.mode == "bypass" and up.placeholder_inputs == ("image", "upscale_model")
    assert any("ImageUpscaleWithModelBatched #31: inputs listed as image, upscale_model" in i for i in report.of_kind("info"))
    plan = plan_run(graph)
    assert plan.inputs[nodes["9"].id]["images"] == (nodes["8"].id, "image")  # the image, not the model
    assert graph.bypass_source(up, "IMAGE") == "image"


def test_a_bypassed_unknown_node_that_cannot_pass_on_what_comfyui_does_is_muted():
    # No input of the IMAGE type: ComfyUI's bypass hands the save nothing, ours would hand it a model.
    graph, report, nodes, _ = _import(_upscale_doc(image_type="LATENT"))
    assert nodes["31"].mode == "mute"
    assert any("ImageUpscaleWithModelBatched #31: bypassed in ComfyUI" in a and "imported muted" in a
               for a in report.of_kind("approximated"))
    assert nodes["9"].id in plan_run(graph).skipped


def test_a_reroute_feeding_a_widget_keeps_the_value_and_reports_the_dropped_wire():
    doc = _doc()
    by_id = {n["id"]: n for n in doc["nodes"]}
    doc["nodes"].append({"id": 40, "type": "PrimitiveNode", "pos": [700, 20], "mode": 0,
                         "outputs": [{"name": "INT", "type": "INT", "links": [40],
                                      "widget": {"name": "seed"}}], "widgets_values": [805211734407731, "fixed"]})
    doc["nodes"].append({"id": 41, "type": "Reroute", "pos": [900, 60], "mode": 0,
                         "inputs": [{"name": "", "type": "*", "link": 40}],
                         "outputs": [{"name": "", "type": "INT", "links": [41]}]})
    doc["nodes"].append({"id": 42, "type": "Reroute", "pos": [1000, 60], "mode": 0,
                         "inputs": [{"name": "", "type": "*", "link": 41}],
                         "outputs": [{"name": "", "type": "INT", "links": [42]}]})
    by_id[3]["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 42})
    doc["links"] += [[40, 40, 0, 41, 0, "INT"], [41, 41, 0, 42, 0, "INT"], [42, 42, 0, 3, 4, "INT"]]
    graph, report, nodes, links = _import(doc)
    assert nodes["3"].params["seed"] == 805211734407731 and "40" not in nodes
    assert (nodes["41"].type_id, nodes["42"].type_id) == ("util.reroute", "util.reroute")
    assert ("41", "value", "42", "value") in links and not [lk for lk in links if lk[2] == "3" and lk[3] == "seed"]
    dropped = report.of_kind("dropped")
    assert "KSampler #3: parameter 'seed' was wired from Reroute #42; the wire is dropped and the saved value kept" \
        in dropped
    assert any(d.startswith("Reroute #41: its input is fed by PrimitiveNode #40") for d in dropped)
    assert [p for p in graph.validate() if p.severity == "error"] == []


def test_a_reroute_chain_fed_by_nothing_is_a_problem_for_what_it_feeds():
    doc = _doc()
    by_id = {n["id"]: n for n in doc["nodes"]}
    by_id[20]["inputs"][0]["link"] = None  # the latent chain now starts nowhere
    doc["links"] = [lk for lk in doc["links"] if lk[0] != 10]
    graph, _, nodes, _ = _import(doc)
    problems = [p for p in graph.validate() if p.severity == "error"]
    assert [(p.node_id, p.port) for p in problems] == [(nodes["3"].id, "latent")]
    assert "not connected" in problems[0].message


def _one_node_prompt(class_type: str) -> dict:
    return {"1": {"class_type": class_type, "inputs": {}}}


# Classes that become several nodes of ours (see their own tests).
MULTI_NODE = {"IPAdapterUnifiedLoader", "MiDaS-NormalMapPreprocessor", "BAE-NormalMapPreprocessor",
              "AIO_Preprocessor"}


@pytest.mark.parametrize("class_type", sorted(set(TRANSLATORS) - UNSUPPORTED - MULTI_NODE))
def test_every_translated_class_is_an_alias_of_the_type_it_becomes(class_type):
    graph, _ = import_comfyui(_one_node_prompt(class_type), REG)
    (node,) = graph.nodes.values()
    assert not node.type_id.startswith(PLACEHOLDER_PREFIX), f"{class_type} became a placeholder"
    assert class_type in REG.get(node.type_id).aliases, f"add {class_type!r} to the aliases of {node.type_id}"


def test_the_alias_check_covers_every_translator():
    placeholders = {"HypernetworkLoader", "UltimateSDUpscale", "SelfAttentionGuidance", "HyperTile", "TomePatchModel"}
    assert placeholders == UNSUPPORTED
    assert len(set(TRANSLATORS) - UNSUPPORTED) >= 35


def test_editor_notes_and_reroutes_come_from_their_comfyui_names():
    for class_type, type_id in (("Reroute", "util.reroute"), ("Note", "util.note"), ("MarkdownNote", "util.note")):
        assert class_type in REG.get(type_id).aliases
    doc = copy.deepcopy(_doc())
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] in (13, 14)]
    doc["links"], doc["groups"] = [], []
    graph, report = import_comfyui(doc, REG)
    assert sorted(n.params["text"] for n in graph.nodes.values()) == sorted([NOTE, MARKDOWN])
    assert report.lines == []
