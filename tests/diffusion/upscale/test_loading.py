"""Loading the random models written in the released layouts: detection, outputs, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.diffusion.errors import ModelError
from studio.diffusion.safetensors_header import read_header
from studio.diffusion.upscale_models import (
    build,
    inspect_upscale,
    load_upscale_model,
    looks_like_upscale,
    read_upscale_weights,
    upscale_image,
)

FILES = {  # file → (architecture, scale)
    "RealESRGAN_x4plus.safetensors": ("RRDBNet", 4),
    "RealESRGAN_x2plus.safetensors": ("RRDBNet", 2),
    "4x-UltraSharp.safetensors": ("RRDBNet", 4),
    "realesr-general-x4v3.safetensors": ("SRVGGNetCompact", 4),
    "realesr-animevideov3.safetensors": ("SRVGGNetCompact", 4),
    "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors": ("SwinIR", 4),
    "001_classicalSR_DF2K_s64w8_SwinIR-M_x2.safetensors": ("SwinIR", 2),
}


@pytest.mark.parametrize("name", list(FILES))
def test_each_file_loads_detects_and_upscales(upscale_dir: Path, name: str):
    model = load_upscale_model(upscale_dir / name)
    assert (model.info.arch, model.scale) == FILES[name]
    assert inspect_upscale(read_header(upscale_dir / name)) == model.info  # the header alone says the same
    image = np.random.default_rng(0).random((2, 13, 19, 3), dtype=np.float32)  # odd sizes, a batch
    out = upscale_image(model, image)
    s = model.scale
    assert out.shape == (2, 13 * s, 19 * s, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out[0], out[1])  # each frame is its own


def test_weights_are_the_files_weights(upscale_dir: Path):
    model = load_upscale_model(upscale_dir / "RealESRGAN_x4plus.safetensors")
    state = read_upscale_weights(upscale_dir / "RealESRGAN_x4plus.safetensors", False)
    for k, v in model.model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_old_and_new_layouts_give_identical_outputs(upscale_dir: Path):
    from studio.diffusion.upscale_arch.esrgan_keys import new_to_old_keys
    from studio.diffusion.upscale_models import UpscaleModel

    new = load_upscale_model(upscale_dir / "RealESRGAN_x4plus.safetensors")
    old_state = new_to_old_keys(read_upscale_weights(upscale_dir / "RealESRGAN_x4plus.safetensors", False))
    info = inspect_upscale(old_state)
    assert info.layout == "esrgan" and info.config == new.info.config
    from studio.diffusion.upscale_models import to_basicsr

    net = build(info)
    net.load_state_dict(to_basicsr(old_state, info))
    old = UpscaleModel(net.eval(), info, "old")
    x = torch.rand(1, 3, 12, 10)
    assert torch.equal(old(x), new(x))
    # the file written in the old layout loads as the same architecture
    assert load_upscale_model(upscale_dir / "4x-UltraSharp.safetensors").info.layout == "esrgan"


def test_x2plus_pixel_unshuffle_pads_odd_sizes(upscale_dir: Path):
    model = load_upscale_model(upscale_dir / "RealESRGAN_x2plus.safetensors")
    assert model.info.config["unshuffle"] == 2 and model.multiple == 2
    x = torch.rand(1, 3, 11, 7)
    assert tuple(model(x).shape) == (1, 3, 22, 14)
    even = torch.rand(1, 3, 12, 8)
    ref = model.model(even)  # no padding needed: the network as it is
    assert torch.equal(model(even), ref)


def test_pth_needs_the_opt_in_and_params_ema_is_unwrapped(upscale_dir: Path):
    path = upscale_dir / "RealESRGAN_x4plus_anime_6B.pth"
    with pytest.raises(ModelError) as err:
        load_upscale_model(path)
    message = str(err.value)
    assert path.name in message and "Preferences" in message and ".safetensors" in message
    model = load_upscale_model(path, allow_ckpt=True)
    assert (model.info.arch, model.scale, model.info.config["num_block"]) == ("RRDBNet", 4, 1)


def test_other_pth_wrappings(tmp_path: Path, upscale_dir: Path):
    state = read_upscale_weights(upscale_dir / "realesr-general-x4v3.safetensors", False)
    for i, wrapped in enumerate(({"params": state}, {"state_dict": {f"module.{k}": v for k, v in state.items()}},
                                 state)):
        path = tmp_path / f"m{i}.pth"
        torch.save(wrapped, str(path))
        assert load_upscale_model(path, allow_ckpt=True).info.arch == "SRVGGNetCompact"


def test_unknown_weights_are_named_with_their_first_keys(tmp_path: Path):
    from safetensors.torch import save_file

    path = tmp_path / "mystery.safetensors"
    save_file({"encoder.stem.weight": torch.zeros(2, 3), "encoder.head.bias": torch.zeros(2)}, str(path))
    with pytest.raises(ModelError) as err:
        load_upscale_model(path)
    assert "mystery.safetensors" in str(err.value) and "encoder.stem.weight" in str(err.value)
    assert not looks_like_upscale({"encoder.stem.weight": (2, 3)})
    # a T2I-Adapter's body.N.blockK names are not SRVGG's body.N
    assert not looks_like_upscale({"body.0.block1.weight": (4, 4, 3, 3), "body.0.block1.bias": (4,)})


def test_swinir_loads_without_the_stored_masks(tmp_path: Path, upscale_dir: Path):
    from safetensors.torch import save_file

    name = "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors"
    state = read_upscale_weights(upscale_dir / name, False)
    assert any(k.endswith("attn_mask") for k in state)  # as the released files store them
    stripped = {k: v for k, v in state.items() if not k.endswith(("attn_mask", "relative_position_index"))}
    save_file(stripped, str(tmp_path / "stripped.safetensors"))
    a, b = load_upscale_model(upscale_dir / name), load_upscale_model(tmp_path / "stripped.safetensors")
    x = torch.rand(1, 3, 9, 14)
    assert torch.equal(a(x), b(x))
    # a damaged file is named, not a traceback
    del stripped["conv_hr.weight"]
    save_file(stripped, str(tmp_path / "damaged.safetensors"))
    with pytest.raises(ModelError, match="damaged.safetensors"):
        load_upscale_model(tmp_path / "damaged.safetensors")


def test_window_attention_matches_the_explicit_formula():
    from studio.diffusion.upscale_arch.swinir import WindowAttention, shift_mask

    torch.manual_seed(0)
    attn = WindowAttention(8, 4, 2)
    torch.nn.init.normal_(attn.relative_position_bias_table)
    mask = shift_mask(8, 8, 4, 2)  # 4 windows
    x = torch.randn(8, 16, 8)  # batch 2 × 4 windows
    q, k, v = attn.qkv(x).reshape(8, 16, 3, 2, 4).permute(2, 0, 3, 1, 4)
    bias = attn.relative_position_bias_table[attn.relative_position_index.view(-1)].view(16, 16, 2).permute(2, 0, 1)
    scores = (q * 4**-0.5) @ k.transpose(-2, -1) + bias
    scores = scores.view(2, 4, 2, 16, 16) + mask[None, :, None]
    ref = attn.proj((scores.view(8, 2, 16, 16).softmax(-1) @ v).transpose(1, 2).reshape(8, 16, 8))
    assert torch.allclose(attn(x, mask), ref, atol=1e-5)
    # positions the shift brought together from different image regions do not attend each other
    assert (mask[-1] == -100).any() and (mask[0] == 0).all()


def test_loading_an_upscale_model_as_a_checkpoint_says_what_it_is(upscale_dir: Path):
    from studio.diffusion.families import inspect

    for name in ("realesr-general-x4v3.safetensors", "4x-UltraSharp.safetensors"):
        with pytest.raises(ModelError, match="upscale model"):
            inspect(upscale_dir / name)
