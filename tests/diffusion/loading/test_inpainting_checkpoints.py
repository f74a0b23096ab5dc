"""Inpainting checkpoints (9-channel UNets) load from single files and diffusers folders, and sample with
the Inpaint Conditioning node."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from studio.diffusion.families import inspect
from studio.diffusion.safetensors_header import read_header

from .conftest import make_manager

CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"


def _nine(weight: torch.Tensor) -> torch.Tensor:
    """conv_in widened to 9 input channels: the latent's 4, then mask and masked-image latents."""
    extra = torch.randn((weight.shape[0], 5, *weight.shape[2:]), generator=torch.Generator().manual_seed(3))
    return torch.cat([weight.float(), extra * 0.05], dim=1).to(weight.dtype).contiguous()


def _single_file(tiny, family: str, folder: Path) -> tuple[Path, torch.Tensor]:
    src = tiny.paths[f"checkpoint-{family}"]
    sd = load_file(str(src))
    sd[CONV_IN] = _nine(sd[CONV_IN])
    path = folder / f"tiny-{family}-inpainting.safetensors"
    save_file(sd, str(path), metadata=read_header(src).metadata)
    return path, sd[CONV_IN]


def _run_inpaint(unet, clip, vae):
    from nodes.inpaint import inpaint_conditioning
    from studio.core.context import CancelToken, NodeContext
    from studio.diffusion import prompts, sampling

    ctx = NodeContext(node_id="i", title="Inpaint", run_id=1, cancel=CancelToken(), emit=lambda *a: None)
    image = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    mask = np.zeros((1, 64, 64), np.float32)
    mask[:, 8:40, 16:56] = 1.0
    pos, neg, latent = inpaint_conditioning(ctx, positive=prompts.encode_prompt(clip, "a cat"),
                                            negative=prompts.encode_prompt(clip, ""), vae=vae, pixels=image,
                                            mask=mask, noise_mask=True)
    out = sampling.sample(unet, pos, neg, latent, seed=1, steps=2, cfg=5.0, sampler="euler", scheduler="normal")
    assert out.samples.shape == (1, 4, 8, 8) and torch.isfinite(out.samples).all()
    keep = torch.from_numpy(mask[0, ::8, ::8] == 0)
    assert torch.equal(out.samples[:, :, keep], latent.samples[:, :, keep])  # the noise mask held


@pytest.mark.parametrize("family", ["sd15", "sd2", "sdxl"])
def test_single_file_inpainting_checkpoint(tiny, tiny_root: Path, tmp_path: Path, family: str) -> None:
    path, conv_in = _single_file(tiny, family, tmp_path)
    info = inspect(path, "checkpoint")
    assert (info.family, info.in_channels) == (family, 9)
    unet, clip, vae = make_manager(tiny_root, None).load_checkpoint(path)
    assert unet.unet.config.in_channels == 9 and unet.unet.config.out_channels == 4
    assert torch.equal(unet.unet.conv_in.weight, conv_in.float())
    _run_inpaint(unet, clip, vae)


def test_diffusers_folder_inpainting_checkpoint(tiny, tiny_root: Path, tmp_path: Path) -> None:
    from bench.make_models import TINY

    ref, cfg = tiny.reference["checkpoint-sdxl"], TINY["sdxl"]
    folder = tmp_path / "tiny-sdxl-inpainting"
    (folder / "scheduler").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLInpaintPipeline"}))
    (folder / "scheduler/scheduler_config.json").write_text(json.dumps(cfg["scheduler"]))
    weights = {sub: ref[sub] for sub in ("vae", "text_encoder", "text_encoder_2")}
    weights["unet"] = {**ref["unet"], "conv_in.weight": _nine(ref["unet"]["conv_in.weight"])}
    for sub, w in weights.items():
        (folder / sub).mkdir()
        (folder / sub / "config.json").write_text(json.dumps({**cfg[sub], **({"in_channels": 9} if sub == "unet" else {})}))
        name = "model.safetensors" if sub.startswith("text") else "diffusion_pytorch_model.safetensors"
        save_file({k: v.half().contiguous() for k, v in w.items()}, str(folder / sub / name))
    info = inspect(folder)
    assert (info.family, info.in_channels) == ("sdxl", 9)
    unet, clip, vae = make_manager(tiny_root, None).load_checkpoint(folder)
    assert unet.unet.config.in_channels == 9
    assert torch.equal(unet.unet.conv_in.weight, weights["unet"]["conv_in.weight"].half().float())
    _run_inpaint(unet, clip, vae)
