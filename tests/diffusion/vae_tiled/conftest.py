"""The tiny test VAE (fp32, CPU) from the weights its model file was written from, as SD 1.5 and as SDXL
(the same network with SDXL's scaling factor)."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)  # small convolutions: threads only add overhead (and stall on a busy machine)


def make_vae(made, family: str = "sd15"):
    from diffusers import AutoencoderKL

    from bench.make_models import TINY
    from studio.diffusion.values import VAEModel

    model = AutoencoderKL.from_config(TINY[family]["vae"]).eval()
    model.load_state_dict(made.reference["vae"]["vae"])
    return VAEModel(family, model)


@pytest.fixture(scope="session")
def vae(tiny):
    return make_vae(tiny)


@pytest.fixture(scope="session")
def vae_xl(tiny):
    return make_vae(tiny, "sdxl")
