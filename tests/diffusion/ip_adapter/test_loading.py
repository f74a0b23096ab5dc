"""CLIP vision encoders (folder and single file) and IP-Adapter files (kinds, families, pickles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.settings import Settings
from studio.diffusion.clip_vision import config_from_shapes, encode, make_processor, pixel_values
from studio.diffusion.errors import ModelError
from studio.diffusion.ip_adapter import info_from_shapes, inspect_ip_adapter
from studio.diffusion.model_manager import ModelManager

VIT_H = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
         "image_size": 224, "patch_size": 14, "projection_dim": 1024, "hidden_act": "gelu"}
VIT_BIGG = {"hidden_size": 1664, "intermediate_size": 8192, "num_hidden_layers": 48, "num_attention_heads": 16,
            "image_size": 224, "patch_size": 14, "projection_dim": 1280, "hidden_act": "gelu"}


def _shapes(config):
    from accelerate import init_empty_weights
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with init_empty_weights():
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**config))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("config", [VIT_H, VIT_BIGG], ids=["ViT-H-14", "ViT-bigG-14"])
def test_the_configuration_of_a_single_file_is_read_from_its_shapes(config):
    got = config_from_shapes(_shapes(config), "x.safetensors")
    assert {k: got[k] for k in config} == config


def test_files_that_are_not_transformers_clip_vision_encoders_are_refused():
    with pytest.raises(ModelError, match="OpenCLIP-layout"):
        config_from_shapes({"visual.conv1.weight": (1280, 3, 14, 14)}, "open_clip.safetensors")
    shapes = {k: v for k, v in _shapes({**VIT_H, "num_hidden_layers": 1}).items() if k != "visual_projection.weight"}
    with pytest.raises(ModelError, match="without its projection"):
        config_from_shapes(shapes, "no_proj.safetensors")


def test_folder_and_single_file_give_the_same_encoder(tiny, manager, clip_vision):
    single = manager.load_clip_vision(tiny.paths["clip_vision-file"])
    assert single is not clip_vision and manager.load_clip_vision(tiny.paths["clip_vision"]) is clip_vision
    frames = np.random.default_rng(0).random((2, 40, 56, 3), dtype=np.float32)
    a, b = encode(clip_vision, frames), encode(single, frames)
    assert a.image_embeds.shape == (2, 32) and a.penultimate_hidden_states.shape == (2, 17, 32)
    assert torch.equal(a.image_embeds, b.image_embeds)
    assert torch.equal(a.penultimate_hidden_states, b.penultimate_hidden_states)


def test_preprocessing_is_clips_own_and_crop_none_keeps_the_whole_image(clip_vision):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    frames = image[None].astype(np.float32) / 255.0
    ref = make_processor(32)(images=[Image.fromarray(image)], return_tensors="pt").pixel_values
    center = pixel_values(clip_vision, frames, "center")
    assert torch.equal(center, ref) and center.shape == (1, 3, 32, 32)
    whole = pixel_values(clip_vision, frames, "none")
    assert whole.shape == (1, 3, 32, 32) and not torch.equal(whole, center)
    # A square image: nothing to crop, the two agree.
    square = frames[:, :40, :40]
    assert torch.allclose(pixel_values(clip_vision, square, "none"), pixel_values(clip_vision, square, "center"))


def test_ip_adapter_kinds_and_families_are_read_from_the_header(tiny):
    base, plus, xl = (inspect_ip_adapter(tiny.paths[k]) for k in
                      ("ipadapter-sd15-base", "ipadapter-sd15-plus", "ipadapter-sdxl-base"))
    assert (base.kind, base.family, base.layers, base.tokens, base.image_dim) == ("base", "sd15", 4, 4, 32)
    assert (plus.kind, plus.family, plus.tokens, plus.uses_hidden_states) == ("plus", "sd15", 16, True)
    assert (xl.kind, xl.family, xl.layers, xl.context_dim) == ("base", "sdxl", 8, 64)


def _real_shapes(layers: int, context: int, *, plus: bool):
    shapes = {f"ip_adapter.{2 * i + 1}.to_{kv}_ip.weight": (640, context) for i in range(layers) for kv in "kv"}
    if plus:
        shapes.update({"image_proj.latents": (1, 16, 1280), "image_proj.proj_in.weight": (1280, 1280)})
    else:
        shapes.update({"image_proj.proj.weight": (4 * context, 1024), "image_proj.norm.weight": (context,)})
    return shapes


def test_real_ip_adapter_families_come_from_their_width():
    from pathlib import Path

    sd15 = info_from_shapes(Path("ip-adapter_sd15.safetensors"), _real_shapes(16, 768, plus=False))
    xl = info_from_shapes(Path("ip-adapter-plus_sdxl_vit-h.safetensors"), _real_shapes(70, 2048, plus=True))
    assert (sd15.family, sd15.kind, sd15.image_dim) == ("sd15", "base", 1024)
    assert (xl.family, xl.kind, xl.image_dim, xl.layers) == ("sdxl", "plus", 1280, 70)
    faceid = {**_real_shapes(16, 768, plus=False), "image_proj.perceiver_resampler.proj_in.weight": (768, 1280)}
    with pytest.raises(ModelError, match="FaceID"):
        info_from_shapes(Path("ip-adapter-faceid-plus_sd15.safetensors"), faceid)
    with pytest.raises(ModelError, match="not an IP-Adapter"):
        info_from_shapes(Path("lora.safetensors"), {"lora_unet_x.lora_down.weight": (4, 8)})


def test_a_pickled_ip_adapter_loads_only_where_pickles_are_allowed(tiny, sd15):
    path = tiny.paths["ipadapter-sd15-base-bin"]
    with pytest.raises(ModelError, match="pickle"):
        ModelManager(Settings(), device="cpu", dtype="fp32", cache_dir=False).load_ip_adapter(path)
    allowed = ModelManager(Settings(allow_ckpt=True), device="cpu", dtype="fp32", cache_dir=False)
    from_bin = allowed.load_ip_adapter(path)
    assert from_bin.kind == "base" and from_bin.info.layers == 4
    for (k1, v1), (k2, v2) in zip(from_bin.layer_weights(), sd15.base.layer_weights(), strict=True):
        assert torch.equal(k1, k2) and torch.equal(v1, v2)
    ref = sd15.base.image_proj.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in from_bin.image_proj.state_dict().items())
