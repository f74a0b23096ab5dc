"""Tiny SD 1.5 / SDXL components (fp32, CPU) built from the weights the tiny model files were made from,
and the tiny CLIP vision encoder and IP-Adapters loaded through the model manager."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bench.make_models import TINY
from studio.diffusion.clip_tokenizer import tokenizers_for
from studio.diffusion.families import text_encoder_names
from studio.diffusion.model_manager import ModelManager
from studio.diffusion.values import TextEncoder, UNetModel, VAEModel

torch.set_num_threads(1)


def make_unet(made, family: str):
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config(TINY[family]["unet"]).eval()
    unet.load_state_dict(made.reference[f"checkpoint-{family}"]["unet"])
    return unet


def _components(made, family: str) -> SimpleNamespace:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg, ref = TINY[family], made.reference[f"checkpoint-{family}"]
    unet = make_unet(made, family)
    vae = AutoencoderKL.from_config(cfg["vae"]).eval()
    vae.load_state_dict(ref["vae"])
    encoders = []
    for sub in text_encoder_names(family):
        c = {k: v for k, v in cfg[sub].items() if not k.startswith("_")}
        cls = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in c["architectures"] else CLIPTextModel
        enc = cls(CLIPTextConfig.from_dict(c)).eval()
        enc.load_state_dict(ref[sub], strict=False)  # position_ids are not stored
        encoders.append(enc)
    toks = tokenizers_for(family)
    return SimpleNamespace(unet=unet, vae=vae, encoders=encoders, tokenizers=toks, family=family,
                           model=UNetModel(family, unet, dict(cfg["scheduler"])),
                           clip=TextEncoder(family, tuple(toks), tuple(encoders)), vae_model=VAEModel(family, vae))


@pytest.fixture(scope="session")
def manager():
    return ModelManager(device="cpu", dtype="fp32", cache_dir=False)


@pytest.fixture(scope="session")
def clip_vision(tiny, manager):
    return manager.load_clip_vision(tiny.paths["clip_vision"])


@pytest.fixture(scope="session")
def sd15(tiny, manager):
    ns = _components(tiny, "sd15")
    ns.base = manager.load_ip_adapter(tiny.paths["ipadapter-sd15-base"])
    ns.plus = manager.load_ip_adapter(tiny.paths["ipadapter-sd15-plus"])
    return ns


@pytest.fixture(scope="session")
def sdxl(tiny, manager):
    ns = _components(tiny, "sdxl")
    ns.base = manager.load_ip_adapter(tiny.paths["ipadapter-sdxl-base"])
    ns.plus = manager.load_ip_adapter(tiny.paths["ipadapter-sdxl-plus"])
    return ns
