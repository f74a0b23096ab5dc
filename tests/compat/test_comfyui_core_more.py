"""More ComfyUI core nodes import as ours (widget orders as in ComfyUI's nodes.py and
comfy_extras/nodes_post_processing.py), an imported image chain runs without models, and Upscale Latent
By rounds sizes as ComfyUI does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry

from .helpers import import_view, ui_node, ui_workflow

REG = default_registry()

# For the corpus tests (``tests/compat/test_comfyui_corpus.py`` EXPECTED): corpus/core_more.*.json, an img2img
# flow through the image and latent nodes, from a checkpoint loaded with a config.
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "2": ("text.encode", {"text": "a lighthouse at dusk, oil painting"}),
        "3": ("text.encode", {"text": "blurry"}),
        "4": ("image.load", {"image": "sample.png"}),
        "5": ("image.scale_to_pixels", {"megapixels": 0.25, "method": "lanczos", "steps": 1}),
        "6": ("image.empty", {"width": 512, "height": 512, "batch_size": 1, "color": 0xFF8000}),
        "7": ("image.blend", {"blend_factor": 0.25, "blend_mode": "overlay"}),
        "8": ("image.crop", {"width": 448, "height": 448, "x": 32, "y": 16}),
        "9": ("preprocess.invert", {}),
        "10": ("latent.vae_encode", {}),
        "11": ("latent.repeat_batch", {"amount": 2}),
        "12": ("latent.upscale", {"mode": "factor", "factor": 1.5, "method": "nearest-exact"}),
        "13": ("sample.sampler", {"seed": 808, "steps": 12, "cfg": 6.5, "sampler": "euler", "scheduler": "normal",
                                  "denoise": 1.0}),
        "14": ("latent.vae_decode", {}),
        "15": ("image.save", {"folder": "", "prefix": "core_more"}),
    },
    "links": {("1", "clip", "2", "clip"), ("1", "clip", "3", "clip"), ("4", "image", "5", "image"),
              ("5", "image", "7", "image1"), ("6", "image", "7", "image2"), ("7", "image", "8", "image"),
              ("8", "image", "9", "image"), ("9", "image", "10", "image"), ("1", "vae", "10", "vae"),
              ("10", "latent", "11", "latent"), ("11", "latent", "12", "latent"), ("1", "model", "13", "model"),
              ("2", "conditioning", "13", "positive"), ("3", "conditioning", "13", "negative"),
              ("12", "latent", "13", "latent"), ("13", "latent", "14", "latent"), ("1", "vae", "14", "vae"),
              ("14", "image", "15", "images")},
}


def test_checkpoint_loader_with_config_loads_the_checkpoint_and_notes_the_config():
    api = {"1": {"class_type": "CheckpointLoader",
                 "inputs": {"config_name": "v1-inference.yaml", "ckpt_name": "sd15\\dreamshaper_8.safetensors"}},
           "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}}}
    ui = ui_workflow([ui_node(1, "CheckpointLoader", ["v1-inference.yaml", "sd15\\dreamshaper_8.safetensors"],
                       outputs=("MODEL", "CLIP", "VAE")),
              ui_node(2, "CLIPTextEncode", ["a cat"], [("clip", "CLIP", 1)], ("CONDITIONING",))],
             [[1, 1, 1, 2, 0, "CLIP"]])
    for doc in (api, ui):
        nodes, links, lines = import_view(doc, ["1", "2"])
        assert nodes["1"].type_id == "model.checkpoint"
        assert nodes["1"].params["checkpoint"] == "sd15/dreamshaper_8.safetensors"
        assert ("1", "clip", "2", "clip") in links
        assert any("'v1-inference.yaml' is not needed" in line for line in lines)


def test_image_nodes_take_their_widgets_in_comfyuis_order():
    ui = ui_workflow([
        ui_node(1, "EmptyImage", [640, 480, 2, 0xFF8000]),
        ui_node(2, "EmptyImage", [320, 240, 1, 0x0000FF]),
        ui_node(3, "ImageBlend", [0.35, "soft_light"], [("image1", "IMAGE", 1), ("image2", "IMAGE", 2)]),
        ui_node(4, "ImageCrop", [256, 192, 16, 8], [("image", "IMAGE", 3)]),
        ui_node(5, "ImageScaleToTotalPixels", ["bicubic", 0.5], [("image", "IMAGE", 4)]),
        ui_node(6, "ImageInvert", [], [("image", "IMAGE", 5)]),
    ], [[1, 1, 0, 3, 0, "IMAGE"], [2, 2, 0, 3, 1, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"], [4, 4, 0, 5, 0, "IMAGE"],
        [5, 5, 0, 6, 0, "IMAGE"]])
    nodes, links, _ = import_view(ui, ["1", "2", "3", "4", "5", "6"])
    assert (nodes["1"].type_id, nodes["1"].params) == ("image.empty", {"width": 640, "height": 480, "batch_size": 2,
                                                                       "color": 0xFF8000})
    assert (nodes["3"].type_id, nodes["3"].params) == ("image.blend", {"blend_factor": 0.35,
                                                                       "blend_mode": "soft_light"})
    assert (nodes["4"].type_id, nodes["4"].params) == ("image.crop", {"width": 256, "height": 192, "x": 16, "y": 8})
    assert (nodes["5"].type_id, nodes["5"].params) == ("image.scale_to_pixels", {"megapixels": 0.5,
                                                                                "method": "bicubic", "steps": 1})
    assert nodes["6"].type_id == "preprocess.invert"
    assert {("1", "image", "3", "image1"), ("2", "image", "3", "image2"), ("3", "image", "4", "image"),
            ("4", "image", "5", "image"), ("5", "image", "6", "image")} <= links


def test_api_names_newer_widgets_and_unknown_choices_are_reported():
    api = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
           "2": {"class_type": "ImageScaleToTotalPixels",
                 "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "megapixels": 1.0,
                            "resolution_steps": 64}},
           "3": {"class_type": "ImageBlend", "inputs": {"image1": ["2", 0], "image2": ["1", 0], "blend_factor": 0.5,
                                                        "blend_mode": "hard_mix"}}}
    nodes, _, lines = import_view(api, ["1", "2", "3"])
    assert nodes["2"].params == {"megapixels": 1.0, "method": "nearest", "steps": 64}
    assert nodes["3"].params["blend_mode"] == "normal"
    assert any("'hard_mix' is not known" in line for line in lines)


def test_repeat_latent_batch_wires_latent_to_latent():
    api = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 2}},
           "2": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["1", 0], "amount": 3}}}
    ui = ui_workflow([ui_node(1, "EmptyLatentImage", [512, 512, 2], outputs=("LATENT",)),
              ui_node(2, "RepeatLatentBatch", [3], [("samples", "LATENT", 1)], ("LATENT",))],
             [[1, 1, 0, 2, 0, "LATENT"]])
    for doc in (api, ui):
        nodes, links, _ = import_view(doc, ["1", "2"])
        assert (nodes["2"].type_id, nodes["2"].params) == ("latent.repeat_batch", {"amount": 3})
        assert ("1", "latent", "2", "latent") in links


def test_an_imported_image_chain_runs_without_models(tmp_path: Path):
    from PIL import Image

    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    api = {"1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 64, "batch_size": 1,
                                                        "color": 0x808080}},
           "2": {"class_type": "EmptyImage", "inputs": {"width": 48, "height": 32, "batch_size": 1,
                                                        "color": 0xFFFFFF}},
           "3": {"class_type": "ImageBlend", "inputs": {"image1": ["1", 0], "image2": ["2", 0], "blend_factor": 1.0,
                                                        "blend_mode": "multiply"}},
           "4": {"class_type": "ImageCrop", "inputs": {"image": ["3", 0], "width": 40, "height": 30, "x": 70, "y": 50}},
           "5": {"class_type": "ImageScaleToTotalPixels", "inputs": {"image": ["4", 0], "upscale_method": "area",
                                                                     "megapixels": 0.01}},
           "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "chain"}}}
    graph, _ = import_comfyui(api, REG)
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    saved = sorted((tmp_path / "out").rglob("chain*.png"))
    assert len(saved) == 1
    pixels = np.asarray(Image.open(saved[0]).convert("RGB"))
    # The crop at (70, 50) stops at the 96×64 edge: 26×14, scaled to about 0.01 MP with its aspect.
    scale = (int(0.01 * 1024 * 1024) / (26 * 14)) ** 0.5
    assert pixels.shape == (round(14 * scale), round(26 * scale), 3)
    assert np.abs(pixels.astype(int) - 128).max() <= 1  # grey × white = grey


@pytest.mark.parametrize(("h", "w", "factor"), [(64, 64, 1.5), (61, 45, 1.5), (7, 9, 0.5), (45, 61, 1.25),
                                                  (33, 17, 0.1), (13, 11, 2.5), (8, 8, 7.99)])
def test_upscale_latent_by_rounds_each_side_as_comfyui_does(h, w, factor):
    """ComfyUI: round(latent side × scale_by), Python's round, in latent cells (any pixel size that is
    a multiple of 8). Ours must give the same shapes for odd sides and halves."""
    import torch

    from nodes.latent_upscale import upscale
    from studio.diffusion.values import Latent

    api = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
           "2": {"class_type": "LatentUpscaleBy",
                 "inputs": {"samples": ["1", 0], "upscale_method": "nearest-exact", "scale_by": factor}}}
    graph, _ = import_comfyui(api, REG)
    node = next(n for n in graph.nodes.values() if n.type_id == "latent.upscale")
    out = upscale.fn(None, latent=Latent("sd15", torch.zeros(1, 4, h, w)), **node.params)
    assert out.samples.shape[-2:] == (round(h * factor), round(w * factor))
