"""ComfyUI's regional-conditioning nodes on import: the classic area-composition workflow (four areas
combined, then a latent-upscale pass) and the conditioning arithmetic nodes, in API and UI form,
node by node and run on the tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry

from .helpers import CORPUS, comfy_view

CK = "v1-5-pruned-emaonly.safetensors"
ROOT = Path(__file__).resolve().parents[2]


def _clips(*ids: str) -> set[tuple[str, str, str, str]]:
    return {("1", "clip", i, "clip") for i in ids}


AREAS = [(1024, 256, 0, 0, 1.0), (512, 320, 0, 192, 1.2), (512, 320, 512, 192, 1.0), (1024, 128, 0, 384, 0.8)]
SAMPLER = {"seed": 1234, "cfg": 7.0, "sampler": "dpmpp_2m", "scheduler": "karras"}

# In the corpus test's format (its EXPECTED; exported as EXPECTED_CORPUS for it): ComfyUI id → (our type,
# params), links in ComfyUI ids.
EXPECTED: dict[str, dict] = {
    "area_composition": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": "a sky at sunset, orange clouds"}),
            "3": ("text.encode", {"text": "a red barn, wooden, detailed"}),
            "4": ("text.encode", {"text": "a calm blue lake, reflections"}),
            "5": ("text.encode", {"text": "a wooden fence and green grass"}),
            "6": ("text.encode", {"text": "blurry, low quality, watermark"}),
            **{str(7 + i): ("conditioning.set_area", {"width": w, "height": h, "x": x, "y": y, "strength": s})
               for i, (w, h, x, y, s) in enumerate(AREAS)},
            "11": ("conditioning.combine", {}),
            "12": ("conditioning.combine", {}),
            "13": ("conditioning.combine", {}),
            "14": ("latent.empty", {"width": 1024, "height": 512, "batch": 1}),
            "15": ("sample.sampler", {**SAMPLER, "steps": 20, "denoise": 1.0}),
            "16": ("latent.upscale", {"mode": "size", "width": 1536, "height": 768, "method": "nearest-exact"}),
            # ComfyUI runs the last 14 steps of a 28-step schedule
            "17": ("sample.sampler", {**SAMPLER, "steps": 28, "denoise": 0.5}),
            "18": ("latent.vae_decode", {}),
            "19": ("image.save", {"prefix": "area_composition"}),
        },
        "links": _clips("2", "3", "4", "5", "6") | {
            ("2", "conditioning", "7", "conditioning"), ("3", "conditioning", "8", "conditioning"),
            ("4", "conditioning", "9", "conditioning"), ("5", "conditioning", "10", "conditioning"),
            ("7", "conditioning", "11", "conditioning_1"), ("8", "conditioning", "11", "conditioning_2"),
            ("11", "conditioning", "12", "conditioning_1"), ("9", "conditioning", "12", "conditioning_2"),
            ("12", "conditioning", "13", "conditioning_1"), ("10", "conditioning", "13", "conditioning_2"),
            ("1", "model", "15", "model"), ("13", "conditioning", "15", "positive"),
            ("6", "conditioning", "15", "negative"), ("14", "latent", "15", "latent"),
            ("15", "latent", "16", "latent"), ("1", "model", "17", "model"), ("13", "conditioning", "17", "positive"),
            ("6", "conditioning", "17", "negative"), ("16", "latent", "17", "latent"),
            ("17", "latent", "18", "latent"), ("1", "vae", "18", "vae"), ("18", "image", "19", "images")},
    },
    "conditioning_ops": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": "a lighthouse on a rocky coast"}),
            "3": ("text.encode", {"text": "stormy sea, dramatic light"}),
            "4": ("text.encode", {"text": "oil painting"}),
            "5": ("text.encode", {"text": "blurry"}),
            "6": ("mask.solid", {"value": 1.0, "width": 256, "height": 512}),
            "7": ("conditioning.set_mask", {"strength": 0.8, "set_cond_area": "mask bounds"}),
            "8": ("conditioning.set_area_percent", {"width": 0.5, "height": 1.0, "x": 0.5, "y": 0.0, "strength": 1.5}),
            "9": ("conditioning.concat", {}),
            "10": ("conditioning.average", {"conditioning_to_strength": 0.75}),
            "11": ("conditioning.combine", {}),
            "12": ("conditioning.zero_out", {}),
            "13": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
            "14": ("sample.sampler", {"seed": 77, "steps": 20, "cfg": 6.5, "sampler": "euler", "scheduler": "normal",
                                      "denoise": 1.0}),
            "15": ("latent.vae_decode", {}),
            "16": ("image.save", {"prefix": "conditioning_ops"}),
        },
        "links": _clips("2", "3", "4", "5") | {
            ("2", "conditioning", "7", "conditioning"), ("6", "mask", "7", "mask"),
            ("3", "conditioning", "8", "conditioning"), ("7", "conditioning", "9", "conditioning_to"),
            ("4", "conditioning", "9", "conditioning_from"), ("8", "conditioning", "10", "conditioning_to"),
            ("4", "conditioning", "10", "conditioning_from"), ("9", "conditioning", "11", "conditioning_1"),
            ("10", "conditioning", "11", "conditioning_2"), ("5", "conditioning", "12", "conditioning"),
            ("1", "model", "14", "model"), ("11", "conditioning", "14", "positive"),
            ("12", "conditioning", "14", "negative"), ("13", "latent", "14", "latent"),
            ("14", "latent", "15", "latent"), ("1", "vae", "15", "vae"), ("15", "image", "16", "images")},
    },
}
EXPECTED_CORPUS = EXPECTED


def _import(flow: str, fmt: str):
    return import_comfyui(json.loads((CORPUS / f"{flow}.{fmt}.json").read_text()), default_registry())


@pytest.mark.parametrize("fmt", ["api", "ui"])
@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_regional_flows_import_node_by_node(flow, fmt):
    graph, report = _import(flow, fmt)
    expected = EXPECTED[flow]
    nodes, links = comfy_view(graph, list(expected["nodes"]))
    assert set(nodes) == set(expected["nodes"])
    for cid, (type_id, params) in expected["nodes"].items():
        node = nodes[cid]
        assert node.type_id == type_id, cid
        for key, value in params.items():
            got = node.params[key]
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, f"#{cid} {key}: {got!r}"
    assert links == expected["links"]
    assert not report.of_kind("unmapped"), report.lines
    assert [p for p in graph.validate() if p.severity == "error"] == []


def test_ui_widgets_missing_from_a_node_take_comfyuis_defaults():
    doc = json.loads((CORPUS / "area_composition.ui.json").read_text())
    by_id = {n["id"]: n for n in doc["nodes"]}
    by_id[7]["widgets_values"] = []  # an old file that saved none
    graph, _ = import_comfyui(doc, default_registry())
    nodes, _ = comfy_view(graph, list(EXPECTED["area_composition"]["nodes"]))
    params = nodes["7"].params
    assert (params["width"], params["height"], params["x"], params["y"], params["strength"]) == (64, 64, 0, 0, 1.0)


# --- runs on the tiny models ---------------------------------------------------------------------

@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.settings import Settings

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    shutil.copy(ROOT / "resources" / "images" / "sample.png", tmp_path / "sample.png")
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                              workflow_path=tmp_path / "flow.json")


def _run(graph, services):
    from studio.core.executor import Executor

    assert not [p for p in graph.validate() if p.severity == "error"]
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    return summary


def test_the_area_composition_workflow_runs_with_its_upscale_pass(services):
    pytest.importorskip("torch")
    from PIL import Image

    graph, _ = _import("area_composition", "ui")
    # 1/16 of the sizes (a 64×32 canvas, areas scaled alike), one evaluation per pass.
    for node in graph.nodes.values():
        if node.type_id in ("conditioning.set_area", "latent.empty", "latent.upscale"):
            for key in ("width", "height", "x", "y"):
                if key in node.params:
                    graph.set_param(node.id, key, node.params[key] // 16)
        elif node.type_id == "sample.sampler":
            graph.set_param(node.id, "steps", 1 if node.params["denoise"] >= 1 else 2)
    summary = _run(graph, services)
    assert len(summary.outputs) == 1
    assert Image.open(summary.outputs[0]).size == (96, 48)


@pytest.mark.slow  # the same sampler path as the area workflow; its nodes have tests of their own
def test_the_conditioning_arithmetic_workflow_runs(services):
    pytest.importorskip("torch")
    graph, _ = _import("conditioning_ops", "api")
    for node in graph.nodes.values():
        if node.type_id == "latent.empty":
            graph.set_param(node.id, "width", 64)
            graph.set_param(node.id, "height", 64)
        elif node.type_id == "sample.sampler":
            graph.set_param(node.id, "steps", 2)
    summary = _run(graph, services)
    assert len(summary.outputs) == 1
