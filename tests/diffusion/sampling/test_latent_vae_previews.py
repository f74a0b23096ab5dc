"""Latent nodes, VAE encode/decode, previews, and a whole text-to-image chain through the nodes."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch

from studio.core.context import CancelToken, NodeContext, NodeFailure
from studio.diffusion import previews, vae
from studio.diffusion.values import Latent


def _ctx():
    events = []
    ctx = NodeContext(node_id="n", title="Node", run_id=1, cancel=CancelToken(),
                      emit=lambda kind, data: events.append((kind, data)))
    return ctx, events


def test_empty_latent_rounds_to_multiples_of_8_with_a_warning():
    from nodes.latent import empty

    ctx, events = _ctx()
    lat = empty(ctx, width=70, height=64, batch=2)
    assert lat.family == "any" and lat.samples.shape == (2, 4, 8, 9) and not lat.samples.any()
    assert any(k == "log" and "72×64" in d["message"] for k, d in events)
    ctx, events = _ctx()
    empty(ctx, width=64, height=64, batch=1)
    assert not events


def test_decode_matches_the_pipeline_decode(sd15):
    lat = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = sd15.vae.decode(lat / sd15.vae.config.scaling_factor).sample
    ref = diffusers.image_processor.VaeImageProcessor(vae_scale_factor=8).postprocess(ref, output_type="np")
    ours = vae.decode(sd15.vae_model, Latent("sd15", lat))
    assert ours.shape == (2, 64, 64, 3) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-6


def test_decode_with_latents_mean_and_std():
    # SDXL-style configs may carry per-channel statistics instead of a single scale.
    torch.manual_seed(0)
    model = diffusers.AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4,
        latents_mean=(0.1, -0.2, 0.3, 0.0), latents_std=(1.5, 0.5, 1.0, 2.0),
    ).eval()
    from studio.diffusion.values import VAEModel

    v = VAEModel("sdxl", model)
    image = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    lat = vae.encode(v, image)
    with torch.no_grad():
        raw = model.encode(torch.from_numpy(image.transpose(0, 3, 1, 2)) * 2 - 1).latent_dist.mean
    mean = torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1)
    std = torch.tensor([1.5, 0.5, 1.0, 2.0]).view(1, 4, 1, 1)
    assert torch.allclose(lat.samples, (raw - mean) * model.config.scaling_factor / std, atol=1e-6)
    with torch.no_grad():
        ref = model.decode(raw).sample
    assert np.abs(vae.decode(v, lat) - ((ref + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()).max() < 1e-5


def test_encode_is_deterministic_and_crops_to_multiples_of_8(sd15):
    from nodes.latent import vae_encode

    image = np.random.default_rng(1).random((1, 70, 67, 3), dtype=np.float32)
    ctx, events = _ctx()
    a = vae_encode(ctx, vae=sd15.vae_model, image=image)
    b = vae_encode(ctx, vae=sd15.vae_model, image=image)
    assert a.family == "sd15" and a.samples.shape == (1, 4, 8, 8)
    assert torch.equal(a.samples, b.samples)
    assert any(k == "log" and "64×64" in d["message"] for k, d in events)


def test_decode_node_refuses_a_latent_of_another_family(sd15):
    from nodes.latent import vae_decode

    ctx, _ = _ctx()
    with pytest.raises(NodeFailure, match=r"LATENT\[sdxl\] does not fit VAE\[sd15\]"):
        vae_decode(ctx, vae=sd15.vae_model, latent=Latent("sdxl", torch.zeros(1, 4, 8, 8)))


def test_latent_rgb_preview():
    x0 = torch.zeros((2, 4, 16, 12))
    for family in ("sd15", "sd2", "sdxl"):
        rgb = previews.latent_to_rgb(x0, family)
        assert rgb.shape == (16, 12, 3) and rgb.dtype == np.uint8
    assert (previews.latent_to_rgb(x0, "sd15") == 128).all()  # zero latent → mid grey
    x0[0, 3] = 1.0  # channel 3 is mostly "anti-blue" in SD 1.x
    rgb = previews.latent_to_rgb(x0, "sd15")[0, 0].astype(int)
    assert rgb[2] < rgb[0] < 128


def test_taesd_preview():
    torch.manual_seed(0)
    taesd = diffusers.AutoencoderTiny(
        encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
        num_encoder_blocks=(1,) * 4, num_decoder_blocks=(1,) * 4,
    ).eval()
    rgb = previews.preview(torch.randn(1, 4, 8, 8), "sd15", taesd)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8


def test_text_to_image_through_the_nodes(sd15):
    from nodes.conditioning import encode
    from nodes.control import apply
    from nodes.latent import empty, vae_decode
    from nodes.sampling import sampler

    ctx, events = _ctx()
    pos = encode(ctx, clip=sd15.clip, text="a (red:1.2) cat")
    neg = encode(ctx, clip=sd15.clip, text="")
    hint = np.zeros((1, 64, 64, 3), np.float32)
    from studio.diffusion.values import ControlNet

    pos, neg = apply(ctx, positive=pos, negative=neg, control_net=ControlNet("sd15", sd15.controlnets[0]),
                     image=hint, strength=0.8, start=0.0, end=0.5)
    pos, neg = apply(ctx, positive=pos, negative=neg, control_net=ControlNet("sd15", sd15.controlnets[1]),
                     image=hint, strength=1.0, start=0.5, end=1.0)
    assert len(pos.controls) == len(neg.controls) == 2
    lat = sampler(ctx, model=sd15.model, positive=pos, negative=neg, latent=empty(ctx, width=64, height=64, batch=1),
                  seed=5, steps=2, cfg=7.0, sampler="dpmpp_2m", scheduler="karras", denoise=1.0)
    image = vae_decode(ctx, vae=sd15.vae_model, latent=lat)
    assert image.shape == (1, 64, 64, 3) and image.min() >= 0.0 and image.max() <= 1.0


def test_control_apply_refuses_another_family(sd15):
    from nodes.conditioning import encode
    from nodes.control import apply
    from studio.diffusion.values import ControlNet

    ctx, _ = _ctx()
    pos = encode(ctx, clip=sd15.clip, text="cat")
    with pytest.raises(NodeFailure, match=r"CONTROL_NET\[sdxl\] does not fit CONDITIONING\[sd15\]"):
        apply(ctx, positive=pos, negative=pos, control_net=ControlNet("sdxl", sd15.controlnets[0]),
              image=np.zeros((1, 8, 8, 3), np.float32), strength=1.0, start=0.0, end=1.0)
