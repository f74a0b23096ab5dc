"""ComfyUI's GLIGENLoader and GLIGENTextBoxApply import as our GLIGEN nodes (API and UI files, widgets in
ComfyUI's order), grounding every step as ComfyUI does, and the imported workflow runs on tiny models."""

from __future__ import annotations

import json

import pytest

from studio.compat import import_comfyui, load_any
from studio.core.registry import default_registry

from .helpers import CORPUS, comfy_view

REG = default_registry()
IDS = ["4", "6", "7", "10", "11", "12", "5", "3", "8", "9"]
BOXES = {
    "11": {"text": "a grey sofa", "width": 320, "height": 192, "x": 96, "y": 280, "beta": 1.0},
    "12": {"text": "a tall green plant", "width": 120, "height": 360, "x": 376, "y": 64, "beta": 1.0},
}
# For the corpus tests: the whole flow as ``tests/compat/test_comfyui_corpus.py`` EXPECTED describes one.
EXPECTED_CORPUS = {
    "nodes": {
        "4": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "6": ("text.encode", {"text": "a cosy living room, photo"}),
        "7": ("text.encode", {"text": "blurry"}),
        "10": ("model.gligen", {"gligen_name": "gligen_sd14_textbox_pruned.safetensors"}),
        **{cid: ("conditioning.gligen_box", params) for cid, params in BOXES.items()},
        "5": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
        "3": ("sample.sampler", {"seed": 42, "steps": 20, "cfg": 7.5, "sampler": "euler", "scheduler": "normal",
                                 "denoise": 1.0}),
        "8": ("latent.vae_decode", {}),
        "9": ("image.save", {"prefix": "gligen"}),
    },
    "links": {("4", "clip", "6", "clip"), ("4", "clip", "7", "clip"), ("4", "model", "3", "model"),
              ("6", "conditioning", "11", "conditioning_to"), ("11", "conditioning", "12", "conditioning_to"),
              ("4", "clip", "11", "clip"), ("4", "clip", "12", "clip"), ("10", "gligen", "11", "gligen"),
              ("10", "gligen", "12", "gligen"), ("12", "conditioning", "3", "positive"),
              ("7", "conditioning", "3", "negative"), ("5", "latent", "3", "latent"), ("3", "latent", "8", "latent"),
              ("4", "vae", "8", "vae"), ("8", "image", "9", "images")},
}


@pytest.mark.parametrize("form", ["api", "ui"])
def test_gligen_nodes_import_with_their_widgets_and_wires(form):
    graph, report = load_any(CORPUS / f"gligen_boxes.{form}.json", REG)
    assert not report.of_kind("unmapped")
    nodes, links = comfy_view(graph, IDS)
    assert not [n for n in nodes.values() if n.type_id.startswith("comfyui.")]
    assert set(nodes) == set(EXPECTED_CORPUS["nodes"])
    for cid, (type_id, params) in EXPECTED_CORPUS["nodes"].items():
        assert nodes[cid].type_id == type_id, cid
        assert {k: nodes[cid].params[k] for k in params} == params, cid
    assert links == EXPECTED_CORPUS["links"]
    assert not [p for p in graph.validate() if p.severity == "error"]


def test_ui_widget_order_is_comfyuis():
    # Distinct numbers in widgets_values, so that a widget read from the wrong slot shows.
    doc = json.loads((CORPUS / "gligen_boxes.ui.json").read_text())
    box = next(n for n in doc["nodes"] if n["id"] == 11)
    box["widgets_values"] = ["a lamp", 24, 40, 56, 72]
    graph, _ = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert {k: nodes["11"].params[k] for k in ("text", "width", "height", "x", "y")} == {
        "text": "a lamp", "width": 24, "height": 40, "x": 56, "y": 72}


def test_an_imported_gligen_workflow_runs_on_tiny_models(tiny_root, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    from .test_import_runs import _small

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    graph, _ = load_any(CORPUS / "gligen_boxes.api.json", REG)
    _small(graph)
    for node in graph.nodes.values():  # boxes inside the 64 px image
        if node.type_id == "conditioning.gligen_box":
            for name in ("x", "y"):
                graph.set_param(node.id, name, node.params[name] // 8)
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
