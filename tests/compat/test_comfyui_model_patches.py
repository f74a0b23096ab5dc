"""ComfyUI's model patch nodes import as ours from both formats (widget orders as ComfyUI defines them:
FreeU b1, b2, s1, s2; RescaleCFG multiplier; PerturbedAttentionGuidance scale), chained MODEL → MODEL;
the patches we cannot run yet stay placeholders that say so."""

from __future__ import annotations

from typing import Any

import pytest

from studio.compat import import_comfyui
from studio.compat.comfyui import PLACEHOLDER_PREFIX
from studio.core.registry import default_registry

from .helpers import comfy_view

REG = default_registry()
_PH = PLACEHOLDER_PREFIX

# For the corpus tests (``tests/compat/test_comfyui_corpus.py`` EXPECTED): corpus/model_patches.*.json, an SD 1.5
# model through FreeU, FreeU V2, Rescale CFG, PAG and Deep Shrink into a KSampler, and a side chain of the
# patches kept as placeholders.
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "2": ("model.freeu", {"b1": 1.1, "b2": 1.2, "s1": 0.9, "s2": 0.2}),
        "3": ("model.freeu_v2", {"b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2}),
        "4": ("model.rescale_cfg", {"multiplier": 0.7}),
        "5": ("model.perturbed_attention", {"scale": 3.0}),
        "6": ("model.deep_shrink", {"block_number": 3, "downscale_factor": 2.0, "start_percent": 0.0,
                                    "end_percent": 0.35, "downscale_after_skip": True, "downscale_method": "bicubic",
                                    "upscale_method": "bicubic"}),
        "7": ("text.encode", {"text": "a castle on a hill, golden hour"}),
        "8": ("text.encode", {"text": "blurry"}),
        "9": ("latent.empty", {"width": 1024, "height": 1024, "batch": 1}),
        "10": ("sample.sampler", {"seed": 1234, "steps": 20, "cfg": 5.0, "sampler": "euler", "scheduler": "normal",
                                  "denoise": 1.0}),
        "11": ("latent.vae_decode", {}),
        "12": ("image.save", {"folder": "", "prefix": "patched"}),
        "13": (_PH + "SelfAttentionGuidance", {}),
        "14": (_PH + "HyperTile", {}),
        "15": (_PH + "TomePatchModel", {}),
    },
    "links": {("1", "model", "2", "model"), ("2", "model", "3", "model"), ("3", "model", "4", "model"),
              ("4", "model", "5", "model"), ("5", "model", "6", "model"), ("1", "clip", "7", "clip"),
              ("1", "clip", "8", "clip"), ("6", "model", "10", "model"), ("7", "conditioning", "10", "positive"),
              ("8", "conditioning", "10", "negative"), ("9", "latent", "10", "latent"),
              ("10", "latent", "11", "latent"), ("1", "vae", "11", "vae"), ("11", "image", "12", "images"),
              ("1", "model", "13", "model"), ("13", "MODEL", "14", "model"), ("14", "MODEL", "15", "model")},
}

CHAIN = [  # (id, class, {widget: value} in widget order, our type id)
    ("2", "FreeU", {"b1": 1.05, "b2": 1.15, "s1": 0.85, "s2": 0.25}, "model.freeu"),
    ("3", "FreeU_V2", {"b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2}, "model.freeu_v2"),
    ("4", "RescaleCFG", {"multiplier": 0.55}, "model.rescale_cfg"),
    ("5", "PerturbedAttentionGuidance", {"scale": 2.25}, "model.perturbed_attention"),
    ("6", "PatchModelAddDownscale", {"block_number": 4, "downscale_factor": 1.5, "start_percent": 0.1,
                                     "end_percent": 0.4, "downscale_after_skip": False,
                                     "downscale_method": "area", "upscale_method": "nearest-exact"},
     "model.deep_shrink"),
]
UNSUPPORTED = [("7", "SelfAttentionGuidance", {"scale": 0.5, "blur_sigma": 2.0}),
               ("8", "HyperTile", {"tile_size": 256, "swap_size": 2, "max_depth": 0, "scale_depth": False}),
               ("9", "TomePatchModel", {"ratio": 0.3})]


def _api() -> dict[str, Any]:
    doc: dict[str, Any] = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}}}
    prev = "1"
    for nid, cls, widgets, *_ in [*CHAIN, *UNSUPPORTED]:
        doc[nid] = {"class_type": cls, "inputs": {"model": [prev, 0], **widgets}}
        prev = nid
    return doc


def _ui() -> dict[str, Any]:
    nodes = [{"id": 1, "type": "CheckpointLoaderSimple", "pos": [0, 0], "size": [240, 90], "flags": {}, "order": 0,
              "mode": 0, "inputs": [], "outputs": [{"name": n, "type": n, "links": []} for n in ("MODEL", "CLIP", "VAE")],
              "properties": {}, "widgets_values": ["sd15.safetensors"]}]
    links = []
    for i, (nid, cls, widgets, *_) in enumerate([*CHAIN, *UNSUPPORTED], start=1):
        links.append([i, int(nid) - 1, 0, int(nid), 0, "MODEL"])
        nodes.append({"id": int(nid), "type": cls, "pos": [int(nid) * 250, 0], "size": [240, 90], "flags": {},
                      "order": int(nid), "mode": 0, "inputs": [{"name": "model", "type": "MODEL", "link": i}],
                      "outputs": [{"name": "MODEL", "type": "MODEL", "links": []}], "properties": {},
                      "widgets_values": list(widgets.values())})
    return {"last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_model_patches_import_in_a_chain(fmt):
    graph, report = import_comfyui(_api() if fmt == "api" else _ui(), REG)
    ids = ["1", *(c[0] for c in CHAIN), *(u[0] for u in UNSUPPORTED)]
    nodes, links = comfy_view(graph, ids)
    for nid, _, widgets, type_id in CHAIN:
        assert (nodes[nid].type_id, nodes[nid].params) == (type_id, widgets)
    assert {("1", "model", "2", "model"), ("2", "model", "3", "model"), ("3", "model", "4", "model"),
            ("4", "model", "5", "model"), ("5", "model", "6", "model")} <= links
    for nid, cls, _ in UNSUPPORTED:
        assert nodes[nid].type_id == PLACEHOLDER_PREFIX + cls
    unmapped = report.of_kind("unmapped")
    assert len(unmapped) == 3 and all("not supported yet" in line for line in unmapped)
    assert not [p for p in graph.validate() if p.severity == "error" and p.node_id in
                {nodes[c[0]].id for c in CHAIN}]


def test_bislerp_falls_back_to_bilinear_with_a_note():
    api = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
           "2": {"class_type": "PatchModelAddDownscale",
                 "inputs": {"model": ["1", 0], "block_number": 3, "downscale_factor": 2.0, "start_percent": 0.0,
                            "end_percent": 0.35, "downscale_after_skip": True, "downscale_method": "bislerp",
                            "upscale_method": "bicubic"}}}
    graph, report = import_comfyui(api, REG)
    nodes, _ = comfy_view(graph, ["1", "2"])
    assert nodes["2"].params["downscale_method"] == "bilinear" and nodes["2"].params["upscale_method"] == "bicubic"
    assert any("'bislerp'" in line for line in report.of_kind("approximated"))
