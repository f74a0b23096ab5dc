"""Tiny SD 1.5 / SDXL checkpoints loaded in float32, and helpers to build the diffusers reference."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from studio.core.settings import Settings
from studio.diffusion.model_manager import ModelManager

# Tiny models: extra intra-op threads only add overhead on a busy 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fp32_models(tiny):
    """The tiny checkpoints through our loader (fp32, CPU), with a model manager for LoRA files."""
    mm = ModelManager(Settings(), device="cpu", dtype="fp32", cache_dir=False)
    out = {}
    for fam in ("sd15", "sdxl"):
        unet, clip, vae = mm.load_checkpoint(tiny.paths[f"checkpoint-{fam}"])
        out[fam] = SimpleNamespace(unet=unet, clip=clip, vae=vae)
    return SimpleNamespace(mm=mm, paths=tiny.paths, **out)


def reference_pipe(ns, family: str, scheduler=None):
    """A diffusers pipeline over copies of our loaded components (the LoRA loader changes them)."""
    import diffusers

    unet = copy.deepcopy(ns.unet.unet)
    encoders = [copy.deepcopy(e) for e in ns.clip.encoders]
    scheduler = scheduler or diffusers.EulerDiscreteScheduler.from_config(dict(ns.unet.scheduler_config))
    if family == "sdxl":
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=ns.vae.vae, text_encoder=encoders[0], text_encoder_2=encoders[1], tokenizer=ns.clip.tokenizers[0],
            tokenizer_2=ns.clip.tokenizers[1], unet=unet, scheduler=scheduler)
    else:
        pipe = diffusers.StableDiffusionPipeline(
            vae=ns.vae.vae, text_encoder=encoders[0], tokenizer=ns.clip.tokenizers[0], unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def snapshot(*modules) -> list[torch.Tensor]:
    return [t.detach().clone() for m in modules for t in m.state_dict().values()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
