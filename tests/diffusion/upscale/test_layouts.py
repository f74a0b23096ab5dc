"""Our networks carry the released checkpoints' parameter names and shapes, and detection reads the
configuration back from names and shapes alone."""

from __future__ import annotations

import pytest
import torch

from studio.diffusion.upscale_arch.esrgan_keys import new_to_old_keys, old_to_new_keys
from studio.diffusion.upscale_models import UpscaleInfo, build, inspect_upscale


def _meta(arch: str, **config):
    with torch.device("meta"):
        return build(UpscaleInfo(arch, 0, config))


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _rrdb_names(blocks: int, ups: int) -> list[str]:
    """RealESRGAN_x4plus.pth's params_ema names, spelled out."""
    heads = ["conv_first"]
    heads += [f"body.{n}.rdb{r}.conv{c}" for n in range(blocks) for r in (1, 2, 3) for c in range(1, 6)]
    heads += ["conv_body", *(f"conv_up{i}" for i in range(1, ups + 1)), "conv_hr", "conv_last"]
    return [f"{h}.{p}" for h in heads for p in ("weight", "bias")]


def test_full_size_rrdbnet_has_real_esrgan_x4plus_names_and_shapes():
    s = _shapes(_meta("RRDBNet", num_feat=64, num_block=23, num_grow_ch=32, scale=4))
    assert list(s) == _rrdb_names(23, 2)
    assert len(s) == 702 and sum(torch.Size(v).numel() for v in s.values()) == 16_697_987
    assert s["conv_first.weight"] == (64, 3, 3, 3)
    assert s["body.0.rdb1.conv1.weight"] == (32, 64, 3, 3)
    assert s["body.22.rdb3.conv5.weight"] == (64, 192, 3, 3)
    assert s["conv_last.weight"] == (3, 64, 3, 3)
    x2 = _shapes(_meta("RRDBNet", num_feat=64, num_block=23, num_grow_ch=32, scale=2, unshuffle=2))
    assert x2["conv_first.weight"] == (64, 12, 3, 3) and "conv_up2.weight" in x2  # x2plus: unshuffle, then ×4


def test_old_esrgan_layout_names_and_round_trip():
    new = _shapes(_meta("RRDBNet", num_feat=64, num_block=23, num_grow_ch=32, scale=4))
    old = new_to_old_keys(new)
    tops = [k for k in old if not k.startswith("model.1.sub.")]
    assert tops == [f"model.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")]
    assert old["model.1.sub.0.RDB1.conv1.0.weight"] == (32, 64, 3, 3)
    assert old["model.1.sub.22.RDB3.conv5.0.bias"] == (64,)
    assert old["model.1.sub.23.weight"] == (64, 64, 3, 3)  # conv_body closes the shortcut block
    assert old_to_new_keys(old) == new
    info = inspect_upscale(old)
    assert (info.arch, info.scale, info.layout, info.config["num_block"]) == ("RRDBNet", 4, "esrgan", 23)
    # ×2 and ×8 in the original layout: upsampling convolutions at 3 (6, 9), then conv_hr and conv_last
    for scale, tail in ((2, (0, 3, 5, 7)), (8, (0, 3, 6, 9, 11, 13))):
        old = new_to_old_keys(_shapes(_meta("RRDBNet", num_feat=8, num_block=2, num_grow_ch=4, scale=scale)))
        assert sorted({int(k.split(".")[1]) for k in old if not k.startswith("model.1.")}) == list(tail)
        assert inspect_upscale(old).scale == scale


@pytest.mark.parametrize(("num_conv", "last"), [(32, 66), (16, 34)])  # general-x4v3, animevideov3
def test_full_size_srvgg_names(num_conv, last):
    s = _shapes(_meta("SRVGGNetCompact", num_feat=64, num_conv=num_conv, upscale=4))
    assert s["body.0.weight"] == (64, 3, 3, 3) and s["body.1.weight"] == (64,)  # conv, PReLU
    assert s[f"body.{last}.weight"] == (48, 64, 3, 3) and f"body.{last + 1}.weight" not in s
    assert all(k.startswith("body.") for k in s)
    info = inspect_upscale(s)
    assert info.config == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": num_conv, "upscale": 4}


SWINIR_M = {"img_size": 64, "embed_dim": 180, "depths": (6,) * 6, "num_heads": (6,) * 6, "window_size": 8,
            "mlp_ratio": 2.0}


def test_real_world_swinir_m_names_and_detection():
    config = {**SWINIR_M, "upscale": 4, "upsampler": "nearest+conv"}
    s = _shapes(_meta("SwinIR", **config))
    b = "layers.5.residual_group.blocks.5."
    assert s[b + "attn.relative_position_bias_table"] == (225, 6)
    assert s[b + "attn.relative_position_index"] == (64, 64)
    assert s["layers.0.residual_group.blocks.1.attn_mask"] == (64, 64, 64)  # (64/8)² windows at img_size 64
    assert "layers.0.residual_group.blocks.0.attn_mask" not in s  # unshifted blocks have none
    assert s[b + "attn.qkv.weight"] == (540, 180) and s[b + "mlp.fc1.weight"] == (360, 180)
    assert s["patch_embed.norm.weight"] == (180,) and s["norm.weight"] == (180,)
    assert s["layers.5.conv.weight"] == (180, 180, 3, 3) and s["conv_after_body.weight"] == (180, 180, 3, 3)
    assert s["conv_before_upsample.0.weight"] == (64, 180, 3, 3)
    for k in ("conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"):
        assert k in s
    info = inspect_upscale(s)
    assert info.arch == "SwinIR" and info.scale == 4
    assert info.config == {**config, "in_chans": 3, "resi_connection": "1conv", "num_feat": 64, "patch_norm": True}


def test_large_real_world_and_classical_swinir_detection():
    large = {"img_size": 64, "embed_dim": 240, "depths": (6,) * 9, "num_heads": (8,) * 9, "window_size": 8,
             "mlp_ratio": 2.0, "upscale": 4, "upsampler": "nearest+conv", "resi_connection": "3conv"}
    s = _shapes(_meta("SwinIR", **large))
    assert s["conv_after_body.0.weight"] == (60, 240, 3, 3) and s["layers.8.conv.4.weight"] == (240, 60, 3, 3)
    assert inspect_upscale(s).config == {**large, "in_chans": 3, "num_feat": 64, "patch_norm": True}
    classical = {**SWINIR_M, "img_size": 48, "upscale": 4, "upsampler": "pixelshuffle"}
    s = _shapes(_meta("SwinIR", **classical))
    assert s["upsample.0.weight"] == (256, 64, 3, 3) and s["upsample.2.weight"] == (256, 64, 3, 3)
    info = inspect_upscale(s)
    assert (info.scale, info.config["upsampler"], info.config["img_size"]) == (4, "pixelshuffle", 48)
    light = _shapes(_meta("SwinIR", **{**SWINIR_M, "embed_dim": 60, "upscale": 3, "upsampler": "pixelshuffledirect"}))
    assert light["upsample.0.weight"] == (27, 60, 3, 3)
    assert inspect_upscale(light).scale == 3
