"""Telling models apart from their headers alone, and refusing what is not a usable model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.diffusion.errors import ModelError
from studio.diffusion.families import family_of, inspect
from studio.diffusion.safetensors_header import read_header


@pytest.mark.parametrize(("rel", "kind", "family", "layout"), [
    ("checkpoints/tiny-sd15.safetensors", "checkpoint", "sd15", "original"),
    ("checkpoints/tiny-sd2.safetensors", "checkpoint", "sd2", "original"),
    ("checkpoints/tiny-sdxl.safetensors", "checkpoint", "sdxl", "original"),
    ("controlnet/tiny-sd15-canny.safetensors", "controlnet", "sd15", "original"),
    ("controlnet/tiny-sd15-canny-diffusers.safetensors", "controlnet", "sd15", "diffusers"),
    ("controlnet/tiny-sdxl-canny.safetensors", "controlnet", "sdxl", "original"),
    ("controlnet/tiny-sdxl-canny-diffusers.safetensors", "controlnet", "sdxl", "diffusers"),
    ("vae/tiny-vae.safetensors", "vae", None, "original"),
])
def test_tiny_files_are_identified(tiny_root: Path, rel: str, kind: str, family: str | None, layout: str) -> None:
    info = inspect(tiny_root / rel)
    assert (info.kind, info.family, info.layout) == (kind, family, layout)


def test_sd2_predicts_v_and_others_noise(tiny_root: Path) -> None:
    assert inspect(tiny_root / "checkpoints/tiny-sd2.safetensors").prediction == "v_prediction"
    assert inspect(tiny_root / "checkpoints/tiny-sd15.safetensors").prediction == "epsilon"


def _write(path: Path, shapes: dict[str, tuple[int, ...]], meta: dict[str, str] | None = None) -> Path:
    save_file({k: np.zeros(s, np.float16) for k, s in shapes.items()}, str(path), metadata=meta)
    return path


ATTN = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


@pytest.mark.parametrize(("te_key", "dim", "family"), [
    ("cond_stage_model.transformer.text_model.final_layer_norm.weight", 768, "sd15"),
    ("cond_stage_model.model.ln_final.weight", 1024, "sd2"),
    ("conditioner.embedders.1.model.ln_final.weight", 2048, "sdxl"),
])
def test_real_checkpoint_families_from_keys_and_context_width(tmp_path: Path, te_key: str, dim: int,
                                                              family: str) -> None:
    f = _write(tmp_path / "m.safetensors", {te_key: (4,), "model.diffusion_model." + ATTN: (8, dim),
                                            "model.diffusion_model.input_blocks.0.0.weight": (8, 9, 3, 3),
                                            "first_stage_model.encoder.conv_in.weight": (2,)})
    info = inspect(f, "checkpoint")
    assert (info.family, info.in_channels) == (family, 9)


@pytest.mark.parametrize(("prefix", "keys", "dim", "family"), [
    ("control_model.", ["input_hint_block.0.weight", "zero_convs.0.0.weight"], 768, "sd15"),
    ("", ["input_hint_block.0.weight", "zero_convs.0.0.weight"], 1024, "sd2"),
    ("", ["controlnet_cond_embedding.conv_in.weight"], 2048, "sdxl"),
])
def test_real_controlnet_families(tmp_path: Path, prefix: str, keys: list[str], dim: int, family: str) -> None:
    attn = ATTN if "zero_convs.0.0.weight" in keys else "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    f = _write(tmp_path / "c.safetensors", {prefix + k: (2,) for k in keys} | {prefix + attn: (4, dim)})
    assert inspect(f, "controlnet").family == family


def test_diffusers_folder(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    (tmp_path / "unet/config.json").write_text(json.dumps({"cross_attention_dim": 2048}))
    assert inspect(tmp_path).family == "sdxl"
    cn = tmp_path / "cn"
    cn.mkdir()
    (cn / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel", "cross_attention_dim": 768}))
    assert (inspect(cn).kind, inspect(cn).family) == ("controlnet", "sd15")


def test_sdxl_vae_is_told_by_name(tmp_path: Path, tiny_root: Path) -> None:
    data = (tiny_root / "vae/tiny-vae.safetensors").read_bytes()
    (tmp_path / "sdxl_vae.safetensors").write_bytes(data)
    assert family_of(tmp_path / "sdxl_vae.safetensors", "vae") == "sdxl"


def test_errors_name_the_file(tmp_path: Path, tiny_root: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        inspect(tmp_path / "nope.safetensors")
    (tmp_path / "text.safetensors").write_text("hello, this is not a model at all")
    with pytest.raises(ModelError, match="text.safetensors is not a safetensors file"):
        inspect(tmp_path / "text.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="empty.safetensors is not a safetensors file"):
        inspect(tmp_path / "empty.safetensors")
    data = (tiny_root / "checkpoints/tiny-sd15.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.safetensors is truncated"):
        inspect(tmp_path / "cut.safetensors")
    (tmp_path / "head.safetensors").write_bytes(data[:1000])
    with pytest.raises(ModelError, match="head.safetensors is truncated"):
        read_header(tmp_path / "head.safetensors")


def test_other_models_are_refused_clearly(tmp_path: Path, tiny_root: Path) -> None:
    lora = _write(tmp_path / "lora.safetensors", {"lora_unet_down_blocks_0.lora_up.weight": (2, 2)})
    with pytest.raises(ModelError, match=r"not a Stable Diffusion 1.5, 2.x or SDXL checkpoint: it looks like a LoRA"):
        inspect(lora)
    refiner = _write(tmp_path / "refiner.safetensors", {"model.diffusion_model.x": (1,),
                                                        "conditioner.embedders.0.model.ln_final.weight": (1,)})
    with pytest.raises(ModelError, match="refiner"):
        inspect(refiner)
    with pytest.raises(ModelError, match="is a Stable Diffusion 1.5 ControlNet, not a checkpoint"):
        inspect(tiny_root / "controlnet/tiny-sd15-canny.safetensors", "checkpoint")
    with pytest.raises(ModelError, match="is a SDXL checkpoint, not a ControlNet"):
        inspect(tiny_root / "checkpoints/tiny-sdxl.safetensors", "controlnet")
    assert family_of(lora) is None


def test_header_reading_needs_no_torch(tiny_root: Path) -> None:
    code = ("import sys; from studio.diffusion.families import inspect; "
            f"print(inspect({str(tiny_root / 'checkpoints/tiny-sdxl.safetensors')!r}).family); "
            "import nodes.models; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.split()
    assert out == ["sdxl", "False"]
