"""ComfyUI's custom-sampling nodes (SamplerCustom, SamplerCustomAdvanced, schedulers, SplitSigmas, noise and
guiders) import as ours (API and UI files, widgets in ComfyUI's order), and the imported workflow runs on
tiny models."""

from __future__ import annotations

import json

import pytest

from studio.compat import import_comfyui, load_any
from studio.compat.comfyui_custom_sampling import BASIC_SCHEDULERS, CUSTOM_SAMPLERS
from studio.core.registry import default_registry

from .helpers import CORPUS, comfy_view

REG = default_registry()
IDS = [str(i) for i in range(1, 24)]
S_MAX, S_MIN = 14.614642, 0.0291675
# For the corpus tests: the whole flow as ``tests/compat/test_comfyui_corpus.py`` EXPECTED describes one.
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "2": ("text.encode", {"text": "a lighthouse on a rocky coast at dusk, photo"}),
        "3": ("text.encode", {"text": "blurry, low quality"}),
        "4": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
        "5": ("sample.select_sampler", {"sampler_name": "euler"}),
        "6": ("sigmas.karras", {"steps": 8, "sigma_max": S_MAX, "sigma_min": S_MIN, "rho": 7.0}),
        "7": ("sample.custom", {"add_noise": True, "noise_seed": 42, "cfg": 7.0}),
        "8": ("latent.vae_decode", {}),
        "9": ("image.save", {"prefix": "custom"}),
        "10": ("sample.random_noise", {"noise_seed": 7}),
        "11": ("sample.cfg_guider", {"cfg": 6.5}),
        "12": ("sigmas.basic", {"scheduler": "karras", "steps": 10, "denoise": 1.0}),
        "13": ("sigmas.split", {"step": 4}),
        "14": ("sample.select_sampler", {"sampler_name": "euler_ancestral"}),
        "15": ("sample.custom_advanced", {}),
        "16": ("sample.disable_noise", {}),
        "17": ("sample.basic_guider", {}),
        "18": ("sample.custom_advanced", {}),
        "19": ("latent.vae_decode", {}),
        "20": ("image.save", {"prefix": "custom_advanced"}),
        "21": ("sigmas.exponential", {"steps": 12, "sigma_max": S_MAX, "sigma_min": S_MIN}),
        "22": ("sigmas.sd_turbo", {"steps": 2, "denoise": 1.0}),
        "23": ("sigmas.align_your_steps", {"model_type": "SD1", "steps": 12, "denoise": 1.0}),
    },
    "links": {
        ("1", "clip", "2", "clip"), ("1", "clip", "3", "clip"), ("1", "model", "7", "model"),
        ("2", "conditioning", "7", "positive"), ("3", "conditioning", "7", "negative"), ("5", "sampler", "7", "sampler"),
        ("6", "sigmas", "7", "sigmas"), ("4", "latent", "7", "latent_image"), ("7", "output", "8", "latent"),
        ("1", "vae", "8", "vae"), ("8", "image", "9", "images"),
        ("1", "model", "11", "model"), ("2", "conditioning", "11", "positive"), ("3", "conditioning", "11", "negative"),
        ("1", "model", "12", "model"), ("12", "sigmas", "13", "sigmas"), ("10", "noise", "15", "noise"),
        ("11", "guider", "15", "guider"), ("14", "sampler", "15", "sampler"), ("13", "high_sigmas", "15", "sigmas"),
        ("4", "latent", "15", "latent_image"), ("16", "noise", "18", "noise"), ("1", "model", "17", "model"),
        ("2", "conditioning", "17", "conditioning"), ("17", "guider", "18", "guider"),
        ("5", "sampler", "18", "sampler"), ("13", "low_sigmas", "18", "sigmas"), ("15", "output", "18", "latent_image"),
        ("18", "output", "19", "latent"), ("1", "vae", "19", "vae"), ("19", "image", "20", "images"),
        ("1", "model", "22", "model"),
    },
}


@pytest.mark.parametrize("form", ["api", "ui"])
def test_custom_sampling_nodes_import_with_their_widgets_and_wires(form):
    graph, report = load_any(CORPUS / f"custom_sampling.{form}.json", REG)
    assert not report.of_kind("unmapped")
    nodes, links = comfy_view(graph, IDS)
    assert not [n for n in nodes.values() if n.type_id.startswith("comfyui.")]
    assert set(nodes) == set(EXPECTED_CORPUS["nodes"])
    for cid, (type_id, params) in EXPECTED_CORPUS["nodes"].items():
        assert nodes[cid].type_id == type_id, cid
        assert {k: nodes[cid].params[k] for k in params} == pytest.approx(params), cid
    assert links == EXPECTED_CORPUS["links"]
    assert not [p for p in graph.validate() if p.severity == "error"]


def _ui() -> dict:
    return json.loads((CORPUS / "custom_sampling.ui.json").read_text())


def _node(doc: dict, nid: int) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == nid)


def test_ui_widget_order_is_comfyuis():
    # Distinct values in widgets_values, so that a widget read from the wrong slot shows.
    doc = _ui()
    _node(doc, 7)["widgets_values"] = [False, 1234, "increment", 3.5]
    _node(doc, 6)["widgets_values"] = [9, 11.0, 0.05, 5.0]
    _node(doc, 12)["widgets_values"] = ["normal", 13, 1.0]
    _node(doc, 23)["widgets_values"] = ["SDXL", 6, 0.5]
    graph, _ = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert {k: nodes["7"].params[k] for k in ("add_noise", "noise_seed", "noise_seed_control", "cfg")} == {
        "add_noise": False, "noise_seed": 1234, "noise_seed_control": "increment", "cfg": 3.5}
    assert {k: nodes["6"].params[k] for k in ("steps", "sigma_max", "sigma_min", "rho")} == {
        "steps": 9, "sigma_max": 11.0, "sigma_min": 0.05, "rho": 5.0}
    assert nodes["12"].params["steps"] == 13
    assert {k: nodes["23"].params[k] for k in ("model_type", "steps", "denoise")} == {
        "model_type": "SDXL", "steps": 6, "denoise": 0.5}


def test_comfyui_denoise_and_foreign_samplers_are_translated_with_notes():
    doc = _ui()
    _node(doc, 12)["widgets_values"] = ["kl_optimal", 10, 0.5]
    _node(doc, 14)["widgets_values"] = ["dpm_2_ancestral"]
    _node(doc, 5)["widgets_values"] = ["dpmpp_2m"]
    graph, report = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    # ComfyUI runs the last 10 levels of a 20-step schedule; ours: steps 20, denoise 0.5 keeps the same 10.
    assert {k: nodes["12"].params[k] for k in ("scheduler", "steps", "denoise")} == {
        "scheduler": "normal", "steps": 20, "denoise": 0.5}
    assert nodes["14"].params["sampler_name"] == "euler_ancestral"
    assert nodes["5"].params["sampler_name"] == "euler"
    notes = " ".join(report.of_kind("approximated"))
    assert "'dpm_2_ancestral'" in notes and "'dpmpp_2m'" in notes and "'kl_optimal'" in notes
    # ComfyUI's own spacings carry over as they are.
    _node(doc, 12)["widgets_values"] = ["sgm_uniform", 10, 1.0]
    _node(doc, 14)["widgets_values"] = ["dpm_2"]  # the nearest second-order method that runs custom schedules
    graph, report = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, IDS)
    assert nodes["12"].params["scheduler"] == "sgm_uniform"
    assert nodes["14"].params["sampler_name"] == "heun"
    assert not [n for n in report.of_kind("approximated") if "scheduler" in n]


def test_custom_samplers_here_match_the_engines():
    from studio.diffusion import custom_sampling

    assert CUSTOM_SAMPLERS == custom_sampling.CUSTOM_SAMPLERS
    assert BASIC_SCHEDULERS == custom_sampling.BASIC_SCHEDULERS


def test_an_imported_custom_sampling_workflow_runs_on_tiny_models(tiny_root, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    from .test_import_runs import _small

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    graph, _ = load_any(CORPUS / "custom_sampling.ui.json", REG)
    _small(graph)
    for node in graph.nodes.values():  # few steps on the tiny model
        if node.type_id in ("sigmas.karras", "sigmas.basic"):
            graph.set_param(node.id, "steps", 3)
    nodes, _ = comfy_view(graph, IDS)
    graph.set_param(nodes["13"].id, "step", 1)
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 2
