"""The shipped real-architecture configs against the original layout, on the meta device (no memory,
no weights): written out by studio.diffusion.ldm_layout, identified by families, converted back by the loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import init_empty_weights

from bench.make_models import TE_LAYOUT, real_configs
from studio.diffusion import loaders as L
from studio.diffusion.families import inspect_shapes
from studio.diffusion.ldm_layout import clip_to_ldm, clip_to_open_clip, unet_to_ldm, vae_to_ldm


def _meta(make) -> dict[str, torch.Tensor]:
    with init_empty_weights():
        return {k: v for k, v in make().state_dict().items() if not k.endswith("position_ids")}


def _same_layout(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    assert all(got[k].shape == want[k].shape for k in want)


@pytest.mark.parametrize("family", ["sd15", "sd2", "sdxl"])
def test_real_checkpoint_layout_round_trip(family: str) -> None:
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    cfg = real_configs(family)
    unet = _meta(lambda: UNet2DConditionModel.from_config(cfg["unet"]))
    vae = _meta(lambda: AutoencoderKL.from_config(cfg["vae"]))
    ckpt = {"model.diffusion_model." + k: v for k, v in unet_to_ldm(unet, cfg["unet"]).items()}
    ckpt |= {"first_stage_model." + k: v for k, v in vae_to_ldm(vae, cfg["vae"]).items()}
    tes = {}
    for sub, (prefix, layout) in zip(("text_encoder", "text_encoder_2"), TE_LAYOUT[family], strict=False):
        make, wrapped = L.make_clip(cfg[sub])
        tes[sub] = _meta(make)
        ckpt |= clip_to_ldm(tes[sub], prefix) if layout == "clip" else clip_to_open_clip(tes[sub], prefix)
    info = inspect_shapes(Path(f"real-{family}.safetensors"), {k: tuple(v.shape) for k, v in ckpt.items()})
    assert (info.kind, info.family) == ("checkpoint", family)
    got = L.checkpoint_configs(info)
    assert got["unet"]["cross_attention_dim"] == {"sd15": 768, "sd2": 1024, "sdxl": 2048}[family]
    _same_layout(L.convert_unet(ckpt, got["unet"]), unet)
    _same_layout(L.convert_vae(ckpt, got["vae"]), vae)
    from studio.diffusion.component_loading import _te_converter

    for i, (sub, want) in enumerate(tes.items()):
        _same_layout(_te_converter(family, i, got[sub])(ckpt), want)
    if family == "sd2":
        return
    ccfg = L._json(L.CONFIGS / "controlnet" / family / "config.json")
    cn = _meta(lambda: ControlNetModel.from_config(ccfg))
    ldm = {"control_model." + k: v for k, v in unet_to_ldm(cn, ccfg).items()}
    cinfo = inspect_shapes(Path("cn.safetensors"), {k: tuple(v.shape) for k, v in ldm.items()})
    assert (cinfo.kind, cinfo.family) == ("controlnet", family)
    converted = L.convert_controlnet(ldm, L.controlnet_config(cinfo))
    _same_layout(converted, cn)
    assert L.fit_controlnet_config(ccfg, converted)["transformer_layers_per_block"] == (
        [1, 2, 10] if family == "sdxl" else [1, 1, 1, 1])
