"""A tiny random-weight Paint-by-Example model written in the released model's diffusers layout."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

torch.set_num_threads(1)  # tiny models: extra threads only add overhead

SCHEDULER = {  # the released model's scheduler config (PNDM, SD 1.x betas)
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False,
}
# model_index.json as the released Fantasy-Studio/Paint-by-Example folder has it.
MODEL_INDEX = {
    "_class_name": "PaintByExamplePipeline", "_diffusers_version": "0.11.0.dev0",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "image_encoder": ["paint_by_example", "PaintByExampleImageEncoder"], "requires_safety_checker": False,
    "safety_checker": [None, None], "scheduler": ["diffusers", "PNDMScheduler"],
    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
}


def processor():
    from studio.diffusion.paint_by_example import _processor_class

    # The released one resizes and crops to 224; this tiny CLIP sees 32×32.
    return _processor_class()(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, resample=3)


@pytest.fixture(scope="session")
def tiny_pbe(tmp_path_factory: pytest.TempPathFactory):
    import diffusers
    from transformers import CLIPVisionConfig

    from studio.diffusion.paint_by_example import _encoder_class

    torch.manual_seed(0)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=4,
                              image_size=32, patch_size=8, projection_dim=32)
    encoder = _encoder_class()(vision).eval()
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, in_channels=9, out_channels=4, sample_size=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4,
    ).eval()
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=64,
    ).eval()

    root = tmp_path_factory.mktemp("pbe-models")
    folder = root / "checkpoints" / "tiny-paint-by-example"
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    encoder.save_pretrained(folder / "image_encoder")
    processor().save_pretrained(folder / "feature_extractor")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    (folder / "model_index.json").write_text(json.dumps(MODEL_INDEX))
    _write_other_models(root / "checkpoints")
    return SimpleNamespace(root=root, folder=folder, name=folder.name, unet=unet, vae=vae, encoder=encoder)


def _write_other_models(checkpoints: Path) -> None:
    """A diffusers folder of another pipeline and a single file: neither is Paint-by-Example."""
    other = checkpoints / "sd-folder"
    (other / "unet").mkdir(parents=True)
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (other / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel",
                                                             "cross_attention_dim": 768}))
    (checkpoints / "single.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
