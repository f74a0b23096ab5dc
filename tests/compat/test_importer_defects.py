"""Importer defects seen in workflows people share: old "control after generate" flags, early sampler
names, A1111 wording, a relative output folder."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from studio.compat import import_comfyui, load_any
from studio.core.registry import default_registry

from .helpers import comfy_view

REG = default_registry()


def _node(nid: int, kind: str, pos: list[int], inputs: list[tuple[str, str, int | None]],
          outputs: list[tuple[str, str, list[int]]], widgets: list[Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": nid, "type": kind, "pos": pos, "size": [315, 100], "flags": {}, "order": 0, "mode": 0,
        "inputs": [{"name": n, "type": t, "link": lk} for n, t, lk in inputs],
        "outputs": [{"name": n, "type": t, "links": lks, "slot_index": i} for i, (n, t, lks) in enumerate(outputs)],
        "properties": {},
    }
    if widgets is not None:
        node["widgets_values"] = widgets
    return node


def default_template(control: Any = True) -> dict[str, Any]:
    """ComfyUI's default workflow as its older front end saved it: a flag after the seed."""
    return {
        "last_node_id": 9, "last_link_id": 9,
        "nodes": [
            _node(7, "CLIPTextEncode", [413, 389], [("clip", "CLIP", 5)], [("CONDITIONING", "CONDITIONING", [6])],
                  ["text, watermark"]),
            _node(6, "CLIPTextEncode", [415, 186], [("clip", "CLIP", 3)], [("CONDITIONING", "CONDITIONING", [4])],
                  ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]),
            _node(5, "EmptyLatentImage", [473, 609], [], [("LATENT", "LATENT", [2])], [512, 512, 1]),
            _node(3, "KSampler", [863, 186],
                  [("model", "MODEL", 1), ("positive", "CONDITIONING", 4), ("negative", "CONDITIONING", 6),
                   ("latent_image", "LATENT", 2)],
                  [("LATENT", "LATENT", [7])], [156680208700286, control, 20, 8, "euler", "normal", 1]),
            _node(8, "VAEDecode", [1209, 188], [("samples", "LATENT", 7), ("vae", "VAE", 8)],
                  [("IMAGE", "IMAGE", [9])]),
            _node(9, "SaveImage", [1451, 189], [("images", "IMAGE", 9)], [], ["ComfyUI"]),
            _node(4, "CheckpointLoaderSimple", [26, 474], [],
                  [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [3, 5]), ("VAE", "VAE", [8])],
                  ["v1-5-pruned-emaonly.safetensors"]),
        ],
        "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
                  [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"],
                  [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]],
        "groups": [], "config": {}, "extra": {}, "version": 0.4,
    }


def _sampler(graph: Any) -> Any:
    (sampler,) = [n for n in graph.nodes.values() if n.type_id == "sample.sampler"]
    return sampler


@pytest.mark.parametrize(("control", "policy"), [
    (True, "randomize"), (False, "fixed"), ("randomize", "randomize"), ("increment", "increment"),
    (None, None), ("increment-wrap", None),  # nothing, or a mode we do not know: skipped, not shifted
    ({"mode": "odd"}, None),  # anything in the slot, where every seed has its slot
])
def test_default_template_with_any_control_value_keeps_every_later_widget(control, policy):
    graph, report = import_comfyui(default_template(control), REG)
    params = _sampler(graph).params
    assert (params["seed"], params["steps"], params["cfg"]) == (156680208700286, 20, 8.0)
    assert (params["sampler"], params["scheduler"], params["denoise"]) == ("euler", "normal", 1.0)
    assert params["seed_control"] == (policy or "fixed")
    assert report.source == "ComfyUI (UI workflow, schema 0.4)"


def test_seed_without_its_control_slot_is_not_shifted():
    doc = default_template()
    ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    ks["widgets_values"] = [7, 25, 6.5, "dpmpp_2m", "karras", 0.75]  # no slot after the seed at all
    params = _sampler(import_comfyui(doc, REG)[0]).params
    assert (params["seed"], params["cfg"], params["sampler"], params["scheduler"]) == (7, 6.5, "dpmpp_2m", "karras")


def test_advanced_sampler_with_a_flag_after_its_seed():
    doc = default_template()
    ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    ks["type"] = "KSamplerAdvanced"
    ks["widgets_values"] = ["enable", 42, True, 30, 7, "dpmpp_2m", "karras", 0, 10000, "disable"]
    params = _sampler(import_comfyui(doc, REG)[0]).params
    assert (params["seed"], params["cfg"], params["sampler"], params["scheduler"]) == (42, 7.0, "dpmpp_2m", "karras")
    assert params["seed_control"] == "randomize"


def _png_with(tmp_path, **chunks: str):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    path = tmp_path / "ComfyUI_00001_.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_png_keeps_the_editor_workflow_with_flags_instead_of_the_prompt(tmp_path):
    ui = default_template(True)
    ui["nodes"][0]["title"] = "Negative"
    ui["groups"] = [{"title": "Prompts", "bounding": [400, 150, 450, 450], "color": "#3f789e"}]
    prompt = {"3": {"class_type": "KSampler", "inputs": {
        "seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}}
    graph, report = load_any(_png_with(tmp_path, prompt=json.dumps(prompt), workflow=json.dumps(ui)), REG)
    assert report is not None and report.source == "ComfyUI (UI workflow, schema 0.4)"
    assert not any("could not be read" in line for line in report.lines)
    nodes, _links = comfy_view(graph, ["3", "4", "5", "6", "7", "8", "9"])
    assert nodes["7"].title == "Negative" and nodes["3"].pos == (863.0, 186.0)
    assert [g.title for g in graph.groups] == ["Prompts"]
    assert _sampler(graph).params["seed"] == 156680208700286  # the workflow's, not the prompt's


def test_default_template_is_not_changed_by_import():
    doc = default_template()
    before = copy.deepcopy(doc)
    import_comfyui(doc, REG)
    assert doc == before


@pytest.mark.parametrize(("early", "ours", "approximated"), [
    ("sample_dpmpp_2m", "dpmpp_2m", False), ("sample_euler_ancestral", "euler_ancestral", False),
    ("sample_euler", "euler", False), ("sample_dpm_2", "dpm_2", False),
    ("sample_dpm_fast", "dpmpp_2m", True),
])
def test_early_sampler_names_lose_their_function_prefix(early, ours, approximated):
    doc = default_template("fixed")
    ks = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    ks["widgets_values"][4] = early
    graph, report = import_comfyui(doc, REG)
    assert _sampler(graph).params["sampler"] == ours
    notes = [line for line in report.of_kind("approximated") if early in line]
    assert bool(notes) == approximated and not any("unknown sampler" in line for line in notes)


def test_unknown_sampler_is_still_reported():
    doc = default_template("fixed")
    next(n for n in doc["nodes"] if n["type"] == "KSampler")["widgets_values"][4] = "sample_nonesuch"
    graph, report = import_comfyui(doc, REG)
    assert _sampler(graph).params["sampler"] == "euler"
    assert any("sample_nonesuch" in line and "unknown sampler" in line for line in report.of_kind("approximated"))


# --- A1111 report wording ---------------------------------------------------------------------------

A1111_HEAD = ("a lighthouse on a cliff at dusk\nNegative prompt: blurry\n"
              "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512")


def _a1111(text: str) -> tuple[Any, Any, dict[str, list[Any]]]:
    from studio.compat import import_a1111

    graph, report = import_a1111(text, REG)
    by_type: dict[str, list[Any]] = {}
    for node in graph.nodes.values():
        by_type.setdefault(node.type_id, []).append(node)
    return graph, report, by_type


def _guess(report: Any) -> str:
    (line,) = [a for a in report.of_kind("approximated") if a.startswith("checkpoint file name guessed")]
    return line


@pytest.mark.parametrize("tail", [
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.6.0",
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: add_detail: 7c6bad76eb54, lcm: 12abc3def456, "
    "TI hashes: easynegative: c74b4e810b03, Version: v1.6.0",
    "Model: v1-5-pruned-emaonly, Model hash: 6ce0161689, [Lora] add-detail: 7c6bad76eb54",
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Hashes: {"model": "6ce0161689", "lora:x": "7c6bad76eb"}',
])
def test_trailing_name_hash_fields_stay_out_of_the_model_hash(tail):
    _graph, report, t = _a1111(f"{A1111_HEAD}, {tail}")
    assert _guess(report) == "checkpoint file name guessed from 'Model: v1-5-pruned-emaonly' (hash 6ce0161689)"
    assert t["model.checkpoint"][0].params["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    # the names in an unquoted hashes list are no settings of their own
    assert not [u for u in report.of_kind("unmapped") if "'lcm'" in u or "'TI hashes'" in u]


def test_unquoted_hash_lists_keep_every_entry():
    from studio.compat.a1111_text import split_pairs

    pairs = split_pairs("Lora hashes: a: 7c6bad76eb54, b-c: 12abc3def456, Version: v1.6.0, Seed: 12345678")
    assert pairs == {"Lora hashes": "a: 7c6bad76eb54, b-c: 12abc3def456", "Version": "v1.6.0", "Seed": "12345678"}
    _g, report, _t = _a1111(f"{A1111_HEAD}, Model: m, TI hashes: easynegative: c74b4e810b03, bad: 0a1b2c3d4e5f")
    assert {line.split(" (hash")[0] for line in report.of_kind("info") if "embedding" in line} == {
        "the prompts use the embedding easynegative", "the prompts use the embedding bad"}


def test_a_model_hash_that_is_no_hash_is_not_shown():
    _g, report, _t = _a1111(f"{A1111_HEAD}, Model hash: see notes, Model: m")
    assert _guess(report) == "checkpoint file name guessed from 'Model: m'"


def _unit(resize: str | None) -> str:
    mode = f"Resize Mode: {resize}, " if resize is not None else ""
    return (f'{A1111_HEAD}, Model: m, ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], '
            f'Weight: 1, {mode}Processor Res: 512, Guidance Start: 0, Guidance End: 1"')


@pytest.mark.parametrize(("mode", "named"), [
    ("Resize and Fill", "'Resize and Fill'"), ("Envelope (Outer Fit)", "'Resize and Fill'"),
    ("Crop and Resize", "'Crop and Resize'"), ("Scale to Fit (Inner Fit)", "'Crop and Resize'"),
    (None, "'Crop and Resize'"),  # the extension's default
    ("Just Resize", None), ("0", None),
])
def test_controlnet_resize_mode_is_named_as_written(mode, named):
    _g, report, t = _a1111(_unit(mode))
    assert "control.apply" in t
    hints = [a for a in report.of_kind("approximated") if "ControlNet hints" in a or "resize mode" in a]
    if named is None:
        assert hints == []
    else:
        (line,) = hints
        assert named in line and ("Crop and Resize" in line) == (named == "'Crop and Resize'")


def test_unknown_resize_mode_is_reported():
    _g, report, _t = _a1111(_unit("Stretch Sideways"))
    assert any("resize mode 'Stretch Sideways' is unknown" in a for a in report.of_kind("approximated"))


def test_mask_blur_alone_is_no_inpainting():
    graph, report, t = _a1111(f"{A1111_HEAD}, Model: m, Mask blur: 4, Version: v1.6.0")
    assert "latent.empty" in t and "image.load" not in t and "mask.threshold" not in t
    assert not any("inpaint" in line.lower() for line in report.lines)
    assert any("'Mask blur: 4'" in i and "no effect" in i for i in report.of_kind("info"))
    assert [p.message for p in graph.validate() if p.severity == "error"] == []


def test_txt2img_with_real_inpainting_settings_is_still_reported():
    _g, report, t = _a1111(f"{A1111_HEAD}, Model: m, Mask blur: 4, Inpaint area: Only masked")
    assert "image.load" not in t
    assert any("inpainting settings without an image-to-image run" in u for u in report.of_kind("unmapped"))


def test_img2img_with_inpainting_settings_inpaints():
    _g, _report, t = _a1111(f"{A1111_HEAD}, Model: m, Denoising strength: 0.6, Mask blur: 4, Masked content: fill")
    assert "latent.vae_encode_inpaint" in t and "mask.threshold" in t
