"""ComfyUI's CLIPTextEncodeSDXL and CLIPTextEncodeSDXLRefiner import as our SDXL prompt nodes (API and UI
files, widget order as ComfyUI's), and an imported base + refiner workflow using them runs on tiny models."""

from __future__ import annotations

import json

import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry

from .helpers import CORPUS, comfy_view

REG = default_registry()
PROMPT_G, PROMPT_L = "a lighthouse on a rocky coast at golden hour", "lighthouse, coast"
NEGATIVE = "text, watermark"
# ComfyUI id → (class, values): distinct numbers, so that a widget read from the wrong place shows.
SDXL_NODES = {
    "3": ("CLIPTextEncodeSDXL", {"width": 2048, "height": 1536, "crop_w": 32, "crop_h": 64, "target_width": 1152,
                                 "target_height": 896, "text_g": PROMPT_G, "text_l": PROMPT_L}),
    "4": ("CLIPTextEncodeSDXL", {"width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
                                 "target_height": 1024, "text_g": NEGATIVE, "text_l": NEGATIVE}),
    "5": ("CLIPTextEncodeSDXLRefiner", {"ascore": 6.5, "width": 2048, "height": 1536, "text": PROMPT_G}),
    "6": ("CLIPTextEncodeSDXLRefiner", {"ascore": 2.5, "width": 1024, "height": 1024, "text": NEGATIVE}),
}
WIDGETS = {"CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g",
                                  "text_l"),
           "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text")}
OURS = {"CLIPTextEncodeSDXL": "text.encode_sdxl", "CLIPTextEncodeSDXLRefiner": "text.encode_refiner"}


# For the corpus tests: the whole flow as ``tests/compat/test_comfyui_corpus.py`` EXPECTED describes one
# (the corpus' sdxl_refiner flow with the SDXL prompt nodes in place of CLIP Text Encode).
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": "sd_xl_base_1.0.safetensors"}),
        "2": ("model.checkpoint", {"checkpoint": "sd_xl_refiner_1.0.safetensors"}),
        **{cid: (OURS[cls], values) for cid, (cls, values) in SDXL_NODES.items()},
        "7": ("latent.empty", {"width": 1024, "height": 1024, "batch": 1}),
        "8": ("sample.sampler", {"seed": 721897303308196, "steps": 25, "cfg": 8.0, "denoise": 1.0, "start_step": 0,
                                 "end_step": 20, "add_noise": True, "return_leftover_noise": True}),
        "9": ("sample.sampler", {"seed": 0, "steps": 25, "denoise": 1.0, "start_step": 20, "end_step": 10000,
                                 "add_noise": False, "return_leftover_noise": False}),
        "10": ("latent.vae_decode", {}),
        "11": ("image.save", {"prefix": "sdxl_refined"}),
    },
    "links": {("1", "clip", "3", "clip"), ("1", "clip", "4", "clip"), ("2", "clip", "5", "clip"),
              ("2", "clip", "6", "clip"), ("1", "model", "8", "model"), ("3", "conditioning", "8", "positive"),
              ("4", "conditioning", "8", "negative"), ("7", "latent", "8", "latent"), ("2", "model", "9", "model"),
              ("5", "conditioning", "9", "positive"), ("6", "conditioning", "9", "negative"),
              ("8", "latent", "9", "latent"), ("9", "latent", "10", "latent"), ("2", "vae", "10", "vae"),
              ("10", "image", "11", "images")},
}


def _doc(form: str) -> dict:
    return json.loads((CORPUS / f"sdxl_prompts.{form}.json").read_text())


def test_the_corpus_files_hold_the_values_in_comfyui_widget_order() -> None:
    api, ui = _doc("api"), _doc("ui")
    widgets = {str(n["id"]): n["widgets_values"] for n in ui["nodes"]}
    for cid, (cls, values) in SDXL_NODES.items():
        assert api[cid]["class_type"] == cls
        assert {k: v for k, v in api[cid]["inputs"].items() if k != "clip"} == values
        assert widgets[cid] == [values[name] for name in WIDGETS[cls]]


@pytest.mark.parametrize("form", ["api", "ui"])
def test_sdxl_prompt_nodes_import_with_every_value(form) -> None:
    graph, report = import_comfyui(_doc(form), REG)
    assert not report.of_kind("unmapped") and not report.of_kind("approximated"), report.lines
    nodes, links = comfy_view(graph, list(EXPECTED_CORPUS["nodes"]))
    for cid, (type_id, params) in EXPECTED_CORPUS["nodes"].items():
        assert nodes[cid].type_id == type_id
        assert {k: nodes[cid].params[k] for k in params} == params, cid
    for cid, (_, values) in SDXL_NODES.items():
        assert nodes[cid].params == values  # every parameter, none left at our default
    assert links == EXPECTED_CORPUS["links"]
    assert not [p for p in graph.validate() if p.severity == "error"]


def test_missing_values_take_comfyui_defaults() -> None:
    graph, _ = import_comfyui({"1": {"class_type": "CLIPTextEncodeSDXL", "inputs": {}},
                               "2": {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {}}}, REG)
    nodes, _ = comfy_view(graph, ["1", "2"])
    assert nodes["1"].params == {"width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
                                 "target_height": 1024, "text_g": "", "text_l": ""}
    assert nodes["2"].params == {"ascore": 6.0, "width": 1024, "height": 1024, "text": ""}


@pytest.fixture(scope="module")
def refiner_file(tmp_path_factory):
    """A tiny SDXL refiner checkpoint (the session's tiny models have none); nothing else written."""
    import bench.make_models as make_models

    out = tmp_path_factory.mktemp("refiner")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(make_models, "EXTRA_WRITERS", [])
        made = make_models.write_models(out, "tiny", dtype="fp32", families=("sdxl_refiner",))
    return made.paths["checkpoint-sdxl_refiner"]


def test_an_imported_base_and_refiner_workflow_with_them_runs(tiny, refiner_file, tmp_path, monkeypatch) -> None:
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    from .test_import_adapters_run import _root

    root = _root(tmp_path, {"checkpoints/sd_xl_base_1.0.safetensors": tiny.paths["checkpoint-sdxl"],
                            "checkpoints/sd_xl_refiner_1.0.safetensors": refiner_file})
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(root))
    graph, _ = import_comfyui(_doc("api"), REG)
    nodes, _ = comfy_view(graph, [str(i) for i in range(1, 12)])
    graph.set_param(nodes["7"].id, "width", 64)
    graph.set_param(nodes["7"].id, "height", 64)
    for cid, start, end in (("8", 0, 2), ("9", 2, 10000)):
        graph.set_param(nodes[cid].id, "steps", 3)
        graph.set_param(nodes[cid].id, "start_step", start)
        graph.set_param(nodes[cid].id, "end_step", end)
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    ex = Executor()
    summary = ex.run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
    base_pos, refiner_pos = ex.outputs_of(nodes["3"].id)[0], ex.outputs_of(nodes["5"].id)[0]
    assert base_pos.family == "sdxl" and refiner_pos.family == "sdxl_refiner"
    assert _sizes(base_pos) == {"original_size": (1536, 2048), "crop_top_left": (64, 32), "target_size": (896, 1152)}
    assert _sizes(refiner_pos) == {"original_size": (1536, 2048), "crop_top_left": (0, 0), "aesthetic_score": 6.5}


def _sizes(cond) -> dict:
    """The SDXL micro-conditioning among a conditioning's extras."""
    keys = ("original_size", "crop_top_left", "target_size", "aesthetic_score")
    return {k: v for k, v in cond.extras.items() if k in keys}
