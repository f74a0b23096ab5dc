"""ComfyUI inpainting, outpainting, masks, latent editing and split sampling (base → refiner) carry over:
each translator puts ComfyUI's settings where ours expect them, and says what differs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry
from studio.core.workflow import WorkflowError

from .helpers import CORPUS, comfy_view

REG = default_registry()
IDS = [str(i) for i in range(1, 30)]


def _corpus(flow: str, fmt: str = "api"):
    graph, report = import_comfyui(json.loads((CORPUS / f"{flow}.{fmt}.json").read_text()), REG)
    nodes, links = comfy_view(graph, IDS)
    return graph, report, nodes, links


def _errors(graph) -> list[str]:
    return [p.message for p in graph.validate() if p.severity == "error"]


def _one(class_type: str, **values: Any):
    """One node of ``class_type`` with these widget values, imported from an API prompt."""
    graph, report = import_comfyui({"1": {"class_type": class_type, "inputs": values}}, REG)
    (node,) = graph.nodes.values()
    return node, report


def _about(report, kind: str, label: str) -> list[str]:
    return [line for line in report.of_kind(kind) if label in line]


# -- whole workflows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_inpaint_workflow_load_encode_for_inpaint_sample_decode_save(fmt):
    graph, report, nodes, links = _corpus("inpaint_encode", fmt)
    assert _errors(graph) == []
    assert nodes["4"].type_id == "image.load" and nodes["4"].params["image"] == "clipspace/clipspace-mask-4711.png"
    assert (nodes["5"].type_id, nodes["5"].params) == ("latent.vae_encode_inpaint", {"grow_mask_by": 6})
    # the picture and its mask (Load Image's second output, from the alpha channel) both reach the encoder
    assert {("4", "image", "5", "pixels"), ("4", "mask", "5", "mask"), ("1", "vae", "5", "vae"),
            ("5", "latent", "6", "latent")} <= links
    assert nodes["6"].params["denoise"] == 1.0 and nodes["6"].params["sampler"] == "dpmpp_2m"
    assert report.of_kind("unmapped") == [] and report.of_kind("dropped") == []


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_outpaint_workflow_pads_and_conditions_an_inpainting_model(fmt):
    graph, report, nodes, links = _corpus("outpaint", fmt)
    assert _errors(graph) == []
    assert (nodes["5"].type_id, nodes["5"].params) == (
        "image.pad_outpaint", {"left": 128, "top": 0, "right": 128, "bottom": 64, "feathering": 40})
    assert (nodes["6"].type_id, nodes["6"].params) == ("conditioning.inpaint", {"noise_mask": True})
    assert {("5", "image", "6", "pixels"), ("5", "mask", "6", "mask"), ("6", "positive", "7", "positive"),
            ("6", "negative", "7", "negative"), ("6", "latent", "7", "latent")} <= links
    assert report.of_kind("approximated") == [] and report.of_kind("unmapped") == []


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_sdxl_base_to_refiner_split_is_exact(fmt):
    graph, report, nodes, links = _corpus("sdxl_refiner", fmt)
    assert _errors(graph) == []
    split = ("steps", "denoise", "start_step", "end_step", "add_noise", "return_leftover_noise")
    assert {k: nodes["8"].params[k] for k in split} == {
        "steps": 25, "denoise": 1.0, "start_step": 0, "end_step": 20, "add_noise": True, "return_leftover_noise": True}
    assert {k: nodes["9"].params[k] for k in split} == {
        "steps": 25, "denoise": 1.0, "start_step": 20, "end_step": 10000, "add_noise": False,
        "return_leftover_noise": False}
    assert ("8", "latent", "9", "latent") in links and ("2", "model", "9", "model") in links
    # nothing about the samplers needs saying: no more "full render, then image-to-image"
    assert not [line for line in report.lines if "KSamplerAdvanced" in line]


# -- inpainting and latents ----------------------------------------------------------------------------


def test_set_latent_noise_mask():
    graph, report, nodes, links = _corpus("inpaint")
    assert nodes["6"].type_id == "latent.set_noise_mask"
    assert {("5", "latent", "6", "latent"), ("4", "mask", "6", "mask"), ("6", "latent", "7", "latent")} <= links
    assert _errors(graph) == [] and report.of_kind("unmapped") == []


@pytest.mark.parametrize(("grow", "approximated"), [(0, False), (1, False), (6, True), (8, True)])
def test_vae_encode_for_inpaint_grows_the_noise_mask(grow, approximated):
    node, report = _one("VAEEncodeForInpaint", grow_mask_by=grow)
    assert (node.type_id, node.params["grow_mask_by"]) == ("latent.vae_encode_inpaint", grow)
    lines = _about(report, "approximated", "VAEEncodeForInpaint #1")
    assert bool(lines) == approximated
    if approximated:
        assert f"widened by {grow // 2} pixels with a round brush" in lines[0] and f"{grow}×{grow}" in lines[0]


def test_inpaint_model_conditioning_keeps_its_noise_mask_switch():
    node, report = _one("InpaintModelConditioning", noise_mask=False)
    assert (node.type_id, node.params["noise_mask"]) == ("conditioning.inpaint", False)
    assert report.lines == []
    with pytest.raises(WorkflowError, match="noise_mask"):
        _one("InpaintModelConditioning", noise_mask="yes")


def test_image_pad_for_outpaint_default_feathering():
    node, report = _one("ImagePadForOutpaint", left=64, bottom=8)
    assert node.type_id == "image.pad_outpaint"
    assert node.params == {"left": 64, "top": 0, "right": 0, "bottom": 8, "feathering": 40}
    assert report.lines == []


def test_latent_composite_maps_to_and_from():
    graph, report, nodes, links = _corpus("latent_ops", "ui")
    assert (nodes["10"].type_id, nodes["10"].params) == ("latent.composite", {"x": 128, "y": 192, "feather": 32})
    assert {("9", "latent", "10", "destination"), ("7", "latent", "10", "source")} <= links
    assert _errors(graph) == []


def test_latent_from_batch():
    graph, _, nodes, links = _corpus("latent_ops")
    assert (nodes["7"].type_id, nodes["7"].params) == ("latent.from_batch", {"batch_index": 2, "length": 1})
    assert ("6", "latent", "7", "latent") in links


def test_ksampler_advanced_longer_than_ours_keeps_the_split_point():
    node, report = _one("KSamplerAdvanced", steps=2000, start_at_step=0, end_at_step=1600,
                        return_with_leftover_noise="enable")
    assert {k: node.params[k] for k in ("steps", "start_step", "end_step", "return_leftover_noise")} == {
        "steps": 1000, "start_step": 0, "end_step": 800, "return_leftover_noise": True}
    assert _about(report, "approximated", "2000 steps → 1000, our most; steps 0–1600 → 0–800")
    node, _ = _one("KSamplerAdvanced", steps=2000, start_at_step=1600, end_at_step=10000, add_noise="disable")
    assert (node.params["start_step"], node.params["end_step"], node.params["add_noise"]) == (800, 10000, False)


def test_ksampler_advanced_with_nothing_to_run_says_so():
    node, report = _one("KSamplerAdvanced", steps=20, start_at_step=12, end_at_step=12)
    assert (node.params["start_step"], node.params["end_step"]) == (12, 12)
    assert _about(report, "info", "steps 12–12 of 20 run nothing; the latent passes unchanged")
    assert report.of_kind("approximated") == []


# -- masks -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["red", "green", "blue", "alpha"])
def test_image_to_mask(channel):
    node, report = _one("ImageToMask", channel=channel)
    assert (node.type_id, node.params) == ("mask.from_image", {"channel": channel})
    assert report.lines == []


def test_mask_to_image_and_invert_mask():
    graph, report, nodes, links = _corpus("masks", "ui")
    assert (nodes["14"].type_id, nodes["15"].type_id) == ("mask.invert", "mask.to_image")
    assert {("12", "mask", "14", "mask"), ("14", "mask", "15", "mask"), ("15", "image", "16", "images")} <= links
    assert not [line for line in report.lines if "#14" in line or "#15" in line]


@pytest.mark.parametrize(("expand", "tapered", "differs"), [
    (0, True, None), (0, False, None), (1, True, None), (-2, True, None),  # a round brush is a diamond up to 2
    (3, True, "a diamond (tapered corners)"), (1, False, "a square (no tapered corners)"),
    (-5, False, "a square (no tapered corners)"),
])
def test_grow_mask(expand, tapered, differs):
    node, report = _one("GrowMask", expand=expand, tapered_corners=tapered)
    assert (node.type_id, node.params) == ("mask.grow", {"pixels": expand})
    lines = _about(report, "approximated", "GrowMask #1")
    assert (lines[0].split("ComfyUI grows ")[1].split(",")[0] if lines else None) == differs


def test_feather_mask_is_a_fade_from_the_sides_kept_as_a_placeholder():
    node, report = _one("FeatherMask", left=0, top=32, right=0, bottom=0)
    assert node.type_id == "comfyui.FeatherMask" and node.params["top"] == 32
    (line,) = report.of_kind("unmapped")
    assert "fades the mask towards the image's sides" in line and "will not run" in line
    node, report = _one("FeatherMask")  # all sides 0: nothing to do, which ours does exactly
    assert (node.type_id, node.params) == ("mask.feather", {"radius": 0})
    assert report.lines == []


def test_threshold_mask():
    node, report = _one("ThresholdMask", value=0.25)
    assert (node.type_id, node.params) == ("mask.threshold", {"value": 0.25})
    assert report.lines == []


@pytest.mark.parametrize(("operation", "ours", "soft_note"), [
    ("multiply", "multiply", False), ("add", "add", False), ("subtract", "subtract", False),
    ("and", "intersect", True), ("or", "union", True), ("xor", "difference", True),
])
def test_mask_composite_operations(operation, ours, soft_note):
    node, report = _one("MaskComposite", x=0, y=0, operation=operation)
    assert (node.type_id, node.params) == ("mask.combine", {"operation": ours})
    assert bool(_about(report, "approximated", "rounds the values to 0 or 1 first")) == soft_note
    assert _about(report, "info", "stretched to it here")


def test_mask_composite_offset_is_approximated_and_wires_destination_first():
    graph, report, nodes, links = _corpus("masks")
    assert {("11", "mask", "12", "mask"), ("10", "mask", "12", "other")} <= links
    (line,) = _about(report, "approximated", "MaskComposite #12")
    assert "placed at (0, 64)" in line and "no offset" in line


def test_solid_mask():
    node, report = _one("SolidMask", value=0.25, width=768, height=320)
    assert (node.type_id, node.params) == ("mask.solid", {"value": 0.25, "width": 768, "height": 320})
    assert report.lines == []


def test_image_color_to_mask_splits_the_colour():
    node, report = _one("ImageColorToMask", color=0x87CEEB)
    assert (node.type_id, node.params) == ("mask.from_color",
                                           {"red": 0x87, "green": 0xCE, "blue": 0xEB, "tolerance": 0})
    assert report.lines == []


def test_mask_widgets_are_read_by_position_from_ui_files():
    _, _, api, _ = _corpus("masks", "api")
    _, _, ui, _ = _corpus("masks", "ui")
    for cid in ("6", "7", "8", "9", "10", "11", "12", "13"):
        assert (ui[cid].type_id, ui[cid].params) == (api[cid].type_id, api[cid].params), cid


def test_bypassed_noise_mask_and_grow_stay_bypassed():
    doc = json.loads((CORPUS / "masks.ui.json").read_text())
    for node in doc["nodes"]:
        if node["id"] in (9, 18):  # GrowMask, SetLatentNoiseMask
            node["mode"] = 4
    graph, report = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert nodes["9"].mode == nodes["18"].mode == "bypass"
    assert not [line for line in report.lines if "bypassed in ComfyUI" in line]


# -- imported workflows run on the tiny models ----------------------------------------------------------

SAMPLE = CORPUS.parents[2] / "resources" / "images" / "sample.png"


@pytest.fixture
def run(tiny_root, tmp_path, monkeypatch):
    """Runs a graph on the tiny models (fp32, CPU); pictures are looked up in ``tmp_path``."""
    pytest.importorskip("torch")
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(),
                                  output_dir=tmp_path / "out", workflow_path=tmp_path / "flow.json")

    def go(graph):
        assert _errors(graph) == []
        summary = Executor().run(graph.snapshot(), services=services)
        assert summary.ok, summary.failed
        (out,) = summary.outputs
        return out

    return go


def _picture(path, size: int = 64, hole: bool = False):
    """A small copy of the sample picture; ``hole``: transparent in the middle (ComfyUI's mask there)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.open(SAMPLE).convert("RGBA").resize((size, size))
    if hole:
        alpha = Image.new("L", im.size, 255)
        alpha.paste(0, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
        im.putalpha(alpha)
    im.save(path)


def _sd15(graph, nodes, steps: int = 2) -> None:
    for node in nodes.values():
        if node.type_id == "model.checkpoint":
            graph.set_param(node.id, "checkpoint", "v1-5-pruned-emaonly.safetensors")
        elif node.type_id == "sample.sampler":
            graph.set_param(node.id, "steps", steps)


def test_imported_inpaint_workflow_runs(run, tmp_path):
    from PIL import Image

    _picture(tmp_path / "clipspace" / "clipspace-mask-4711.png", hole=True)
    graph, _, nodes, _ = _corpus("inpaint_encode", "ui")
    _sd15(graph, nodes)
    assert Image.open(run(graph)).size == (64, 64)


def test_imported_outpaint_workflow_runs(run, tmp_path):
    from PIL import Image

    _picture(tmp_path / "mountain.png")
    graph, _, nodes, _ = _corpus("outpaint", "api")
    _sd15(graph, nodes)
    for side, pixels in (("left", 16), ("right", 16), ("bottom", 8), ("feathering", 8)):
        graph.set_param(nodes["5"].id, side, pixels)
    assert Image.open(run(graph)).size == (96, 72)


def test_imported_base_to_refiner_split_equals_one_uninterrupted_run(run):
    """Euler's split run, continued from the base's leftover noise without adding noise, is the
    uninterrupted run: the import keeps ComfyUI's split exactly."""
    import numpy as np
    from PIL import Image

    graph, _, nodes, _ = _corpus("sdxl_refiner")
    for node in nodes.values():
        if node.type_id == "model.checkpoint":  # the tiny SDXL stands in for base and refiner alike
            graph.set_param(node.id, "checkpoint", "sd_xl_base_1.0.safetensors")
    graph.set_param(nodes["7"].id, "width", 64)
    graph.set_param(nodes["7"].id, "height", 64)
    for cid, (start, end) in (("8", (0, 3)), ("9", (3, 10000))):
        graph.set_param(nodes[cid].id, "steps", 4)
        graph.set_param(nodes[cid].id, "start_step", start)
        graph.set_param(nodes[cid].id, "end_step", end)
    split = np.asarray(Image.open(run(graph)), dtype=np.int16)

    whole, _, nodes, _ = _corpus("sdxl_refiner")
    for cid in ("1", "2"):
        whole.set_param(nodes[cid].id, "checkpoint", "sd_xl_base_1.0.safetensors")
    whole.set_param(nodes["7"].id, "width", 64)
    whole.set_param(nodes["7"].id, "height", 64)
    whole.set_param(nodes["8"].id, "steps", 4)
    whole.set_param(nodes["8"].id, "return_leftover_noise", False)
    whole.remove_node(nodes["9"].id)  # the base alone, to the end
    whole.connect(nodes["8"].id, "latent", nodes["10"].id, "latent")
    once = np.asarray(Image.open(run(whole)), dtype=np.int16)
    assert split.shape == once.shape == (64, 64, 3)
    assert np.abs(split - once).max() <= 2
