"""SD 1.x and SD 2.x latents are interchangeable at the sampler and the VAE; SDXL's are not."""

from __future__ import annotations

import pytest
import torch

from studio.core.context import CancelToken, NodeContext, NodeFailure
from studio.diffusion import prompts, sampling, vae
from studio.diffusion.values import Latent, VAEModel


def _sample(ns, latent):
    pos, neg = prompts.encode_prompt(ns.clip, "a cat"), prompts.encode_prompt(ns.clip, "blurry")
    return sampling.sample(ns.model, pos, neg, latent, seed=1, steps=2, cfg=5.0, sampler="euler",
                           scheduler="normal", denoise=0.5)


def test_an_sd2_latent_samples_with_an_sd15_model(sd15):
    init = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    out = _sample(sd15, Latent("sd2", init))
    assert out.family == "sd15"
    assert torch.equal(out.samples, _sample(sd15, Latent("sd15", init)).samples)
    with pytest.raises(NodeFailure, match=r"LATENT\[sdxl\] does not fit MODEL\[sd15\]"):
        _sample(sd15, Latent("sdxl", init))


def test_vae_decode_takes_latents_of_its_latent_space(sd15):
    from nodes.latent import vae_decode

    ctx = NodeContext(node_id="d", title="VAE Decode", run_id=1, cancel=CancelToken(), emit=lambda k, d: None)
    latent = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    sd2_vae = VAEModel("sd2", sd15.vae)
    image = vae_decode(ctx, vae=sd2_vae, latent=Latent("sd15", latent))
    assert image.shape == (1, 64, 64, 3)
    assert (image == vae.decode(sd15.vae_model, Latent("sd15", latent))).all()
    with pytest.raises(NodeFailure, match=r"LATENT\[sdxl\] does not fit VAE\[sd2\]"):
        vae_decode(ctx, vae=sd2_vae, latent=Latent("sdxl", latent))
    with pytest.raises(NodeFailure, match=r"LATENT\[sd15\] does not fit VAE\[sdxl\]"):
        vae.decode(VAEModel("sdxl", sd15.vae), Latent("sd15", latent))
