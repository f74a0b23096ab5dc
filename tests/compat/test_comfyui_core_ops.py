"""ComfyUI's core image, latent and mask operations import as ours in both formats (widget orders as
in ComfyUI), and imported chains of them run without models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.compat import import_comfyui
from studio.core.registry import default_registry

from .helpers import import_view, ui_node, ui_workflow

REG = default_registry()

# For the corpus tests (``tests/compat/test_comfyui_corpus.py`` EXPECTED): corpus/core_ops.*.json, a chain
# through the latent operations, and corpus/core_ops_images.*.json, through the image, mask and conditioning ones.
EXPECTED_LATENTS = {
    "nodes": {
        "1": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
        "2": ("latent.load", {"latent": "saved/run_00001_.latent", "space": "sd"}),
        "3": ("latent.add", {}),
        "4": ("latent.subtract", {}),
        "5": ("latent.multiply", {"multiplier": 0.5}),
        "6": ("latent.interpolate", {"ratio": 0.25}),
        "7": ("latent.blend", {"blend_factor": 0.7}),
        "8": ("latent.composite_masked", {"x": 64, "y": 32, "resize_source": True}),
        "9": ("latent.flip", {"flip_method": "y-axis: horizontally"}),
        "10": ("latent.rotate", {"rotation": "90 degrees"}),
        "11": ("latent.crop", {"width": 256, "height": 384, "x": 64, "y": 0}),
        "12": ("latent.batch", {}),
        "13": ("latent.save", {"folder": "latents", "prefix": "ops"}),
    },
    "links": {("1", "latent", "3", "samples1"), ("2", "latent", "3", "samples2"), ("3", "latent", "4", "samples1"),
              ("2", "latent", "4", "samples2"), ("4", "latent", "5", "samples"), ("5", "latent", "6", "samples1"),
              ("2", "latent", "6", "samples2"), ("6", "latent", "7", "samples1"), ("1", "latent", "7", "samples2"),
              ("7", "latent", "8", "destination"), ("2", "latent", "8", "source"), ("8", "latent", "9", "samples"),
              ("9", "latent", "10", "samples"), ("10", "latent", "11", "samples"), ("11", "latent", "12", "samples1"),
              ("1", "latent", "12", "samples2"), ("12", "latent", "13", "samples")},
}
EXPECTED_IMAGES = {
    "nodes": {
        "1": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "2": ("text.encode", {"text": "a red boat on a lake"}),
        "3": ("conditioning.set_strength", {"strength": 0.6}),
        "5": ("image.load", {"image": "boat.png"}),
        "6": ("image.blur", {"blur_radius": 3, "sigma": 0.8}),
        "7": ("image.sharpen", {"sharpen_radius": 2, "sigma": 0.5, "alpha": 0.4}),
        "8": ("image.quantize", {"colors": 16, "dither": "none"}),
        "9": ("image.quantize", {"colors": 8, "dither": "floyd-steinberg"}),  # from ordered dithering
        "10": ("image.batch", {}),
        "11": ("image.from_batch", {"batch_index": 1, "length": 1}),
        "12": ("image.load_mask", {"image": "masks/boat_mask.png", "channel": "red"}),
        "13": ("image.morphology", {"operation": "top_hat", "kernel_size": 5}),
        "14": ("image.composite_masked", {"x": 16, "y": 8}),
        "15": ("mask.crop", {"x": 8, "y": 8, "width": 256, "height": 256}),
        "16": ("image.composite_masked", {"x": 0, "y": 0}),
        "16/resize_source": ("image.match_size", {}),
        "17": ("image.save", {"folder": "", "prefix": "core_ops"}),
    },
    "links": {("1", "clip", "2", "clip"), ("2", "conditioning", "3", "conditioning"), ("5", "image", "6", "image"), ("6", "image", "7", "image"),
              ("7", "image", "8", "image"), ("7", "image", "9", "image"), ("8", "image", "10", "image1"),
              ("9", "image", "10", "image2"), ("10", "image", "11", "image"), ("11", "image", "13", "image"),
              ("12", "mask", "15", "mask"), ("5", "image", "14", "destination"), ("13", "image", "14", "source"),
              ("15", "mask", "14", "mask"), ("14", "image", "16", "destination"),
              ("14", "image", "16/resize_source", "reference"), ("11", "image", "16/resize_source", "image"),
              ("16/resize_source", "image", "16", "source"), ("16", "image", "17", "images")},
}
EXPECTED_CORPUS = {"core_ops": EXPECTED_LATENTS, "core_ops_images": EXPECTED_IMAGES}


def test_load_image_mask_takes_file_then_channel_and_skips_the_upload_button():
    api = {"1": {"class_type": "LoadImageMask", "inputs": {"image": "sub\\m.png", "channel": "green"}}}
    ui = ui_workflow([ui_node(1, "LoadImageMask", ["sub\\m.png", "green", "image"], outputs=("MASK",))], [])
    for doc in (api, ui):
        nodes, _, lines = import_view(doc, ["1"])
        assert (nodes["1"].type_id, nodes["1"].params) == ("image.load_mask", {"image": "sub/m.png",
                                                                               "channel": "green"})


def test_latent_blend_of_older_files_with_a_mode_and_unknown_choices_are_reported():
    ui = ui_workflow([ui_node(1, "EmptyLatentImage", [64, 64, 1], outputs=("LATENT",)),
              ui_node(2, "LatentBlend", [0.3, "normal"], [("samples1", "LATENT", 1), ("samples2", "LATENT", 2)],
                       ("LATENT",)),
              ui_node(3, "LatentRotate", ["45 degrees"], [("samples", "LATENT", 1)], ("LATENT",)),
              ui_node(4, "Morphology", ["smear", 7], [("image", "IMAGE", None)])],
             [[1, 1, 0, 2, 0, "LATENT"], [2, 1, 0, 2, 1, "LATENT"], [3, 1, 0, 3, 0, "LATENT"]])
    nodes, links, lines = import_view(ui, ["1", "2", "3", "4"])
    assert nodes["2"].params == {"blend_factor": 0.3}
    assert {("1", "latent", "2", "samples1"), ("1", "latent", "2", "samples2")} <= links
    assert nodes["3"].params == {"rotation": "none"} and nodes["4"].params["operation"] == "erode"
    assert any("'45 degrees' is not known" in line for line in lines)
    assert any("'smear' is not known" in line for line in lines)


def test_image_composite_masked_without_resizing_wires_straight_through():
    api = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
           "2": {"class_type": "ImageCompositeMasked",
                 "inputs": {"destination": ["1", 0], "source": ["1", 0], "mask": ["1", 1], "x": 8, "y": 4,
                            "resize_source": False}}}
    nodes, links, _ = import_view(api, ["1", "2"])
    assert set(nodes) == {"1", "2"} and nodes["2"].params == {"x": 8, "y": 4}
    assert {("1", "image", "2", "destination"), ("1", "image", "2", "source"), ("1", "mask", "2", "mask")} == links


def _run(api: dict[str, Any], tmp_path: Path) -> Any:
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    graph, report = import_comfyui(api, REG)
    assert not report.of_kind("unmapped"), report.lines
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                                  workflow_path=tmp_path / "flow.json")
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    return summary


def test_an_imported_image_chain_runs(tmp_path: Path):
    from PIL import Image

    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :24] = 200
    Image.fromarray(img).save(tmp_path / "src.png")
    mask = np.zeros((16, 16, 4), np.uint8)
    mask[..., 3] = 255
    mask[:8, :, 3] = 0  # top half transparent: the mask is 1 there
    Image.fromarray(mask, "RGBA").save(tmp_path / "m.png")
    api = {"1": {"class_type": "LoadImage", "inputs": {"image": "src.png"}},
           "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 2, "sigma": 1.0}},
           "3": {"class_type": "ImageSharpen", "inputs": {"image": ["2", 0], "sharpen_radius": 1, "sigma": 1.0,
                                                          "alpha": 0.5}},
           "4": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1,
                                                        "color": 0xFFFFFF}},
           "5": {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["4", 0]}},
           "6": {"class_type": "ImageFromBatch", "inputs": {"image": ["5", 0], "batch_index": 1, "length": 1}},
           "7": {"class_type": "LoadImageMask", "inputs": {"image": "m.png", "channel": "alpha"}},
           "8": {"class_type": "ImageCompositeMasked",
                 "inputs": {"destination": ["1", 0], "source": ["6", 0], "mask": ["7", 0], "x": 0, "y": 0,
                            "resize_source": True}},
           "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ops"}}}
    _run(api, tmp_path)
    (saved,) = sorted((tmp_path / "out").rglob("ops*.png"))
    pixels = np.asarray(Image.open(saved).convert("RGB")).astype(int)
    # The white picture (batch item 1), stretched to 48×32, shows through the top half of the mask only.
    assert pixels.shape == (32, 48, 3)
    assert (pixels[:15] == 255).all()
    assert np.array_equal(pixels[17:], img[17:].astype(int))


def test_an_imported_latent_chain_saves_and_loads(tmp_path: Path):
    from safetensors.torch import load_file

    api = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
           "2": {"class_type": "LatentMultiply", "inputs": {"samples": ["1", 0], "multiplier": 2.0}},
           "3": {"class_type": "LatentBatch", "inputs": {"samples1": ["2", 0], "samples2": ["1", 0]}},
           "4": {"class_type": "LatentCrop", "inputs": {"samples": ["3", 0], "width": 64, "height": 64, "x": 0,
                                                        "y": 0}},
           "5": {"class_type": "SaveLatent", "inputs": {"samples": ["4", 0], "filename_prefix": "latents/run"}}}
    _run(api, tmp_path)
    (saved,) = sorted((tmp_path / "out").rglob("*.latent"))
    assert saved.name == "run_00001_.latent" and saved.parent.name == "latents"
    stored = load_file(str(saved))
    assert tuple(stored["latent_tensor"].shape) == (2, 4, 8, 8) and "latent_format_version_0" in stored


@pytest.mark.parametrize("class_type", ["LatentBatchSeedBehavior", "ConditioningSetTimestepRange"])
def test_what_cannot_be_done_faithfully_stays_a_placeholder(class_type: str):
    api = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
           "2": {"class_type": class_type, "inputs": {"samples": ["1", 0], "seed_behavior": "fixed"}}}
    nodes, _, lines = import_view(api, ["1", "2"])
    assert nodes["2"].type_id == f"comfyui.{class_type}"
    assert any(line.startswith(f"unmapped: {class_type} #2") for line in lines)
