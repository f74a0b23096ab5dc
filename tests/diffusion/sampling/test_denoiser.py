"""The denoiser's extension points: conditioning patches, residual providers, input extensions."""

from __future__ import annotations

from dataclasses import replace

import diffusers
import numpy as np
import torch

from studio.diffusion import prompts
from studio.diffusion.denoiser import ControlNetResiduals, UNetInputs, build_denoiser
from studio.diffusion.values import ControlSpec

CFG = 5.0


def _denoiser(ns, positive=None, negative=None, cfg=CFG):
    pos = positive or prompts.encode_prompt(ns.clip, "a photo of a cat")
    neg = negative or prompts.encode_prompt(ns.clip, "blurry")
    return build_denoiser(ns.model, pos, neg, batch=1, cfg=cfg, height=64, width=64), pos, neg


def _x():
    return torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(2))


def test_guided_output_is_cfg_of_the_two_halves(sd15):
    den, pos, neg = _denoiser(sd15)
    x, t = _x(), torch.tensor(500)
    with torch.no_grad():
        out = den(x, t, 0, 10)
        uncond = sd15.unet(x, t, encoder_hidden_states=neg.embeds).sample
        cond = sd15.unet(x, t, encoder_hidden_states=pos.embeds).sample
    assert torch.allclose(out, uncond + CFG * (cond - uncond), atol=1e-5)


def test_conditioning_patch_changes_what_the_unet_sees(sd15):
    den, _pos, neg = _denoiser(sd15)
    x, t = _x(), torch.tensor(500)
    seen = []

    def negative_everywhere(inputs: UNetInputs, step):
        seen.append((step.index, step.total))
        h = inputs.encoder_hidden_states
        return replace(inputs, encoder_hidden_states=torch.cat([h[:1], h[:1]]))

    den.conditioning_patches.append(negative_everywhere)
    with torch.no_grad():
        out = den(x, t, 3, 10)
        uncond = sd15.unet(x, t, encoder_hidden_states=neg.embeds).sample
    assert seen == [(3, 10)]
    assert torch.allclose(out, uncond, atol=1e-5)  # both halves unconditional: CFG changes nothing


def test_residual_providers_add_up(sd15):
    spec = ControlSpec(sd15.control[0], np.full((1, 64, 64, 3), 0.3, np.float32), strength=1.0)
    pos = prompts.encode_prompt(sd15.clip, "a photo of a cat").with_control(spec)
    neg = prompts.encode_prompt(sd15.clip, "blurry").with_control(spec)
    full, _, _ = _denoiser(sd15, pos, neg)
    assert len(full.residual_providers) == 1 and isinstance(full.residual_providers[0], ControlNetResiduals)
    control = full.residual_providers[0]

    def half(model_in, step, inputs):
        d, m = control(model_in, step, inputs)
        return [r * 0.5 for r in d], m * 0.5

    halves, _, _ = _denoiser(sd15)
    halves.residual_providers.extend([half, half])
    plain, _, _ = _denoiser(sd15)
    x, t = _x(), torch.tensor(500)
    with torch.no_grad():
        a, b, c = full(x, t, 0, 10), halves(x, t, 0, 10), plain(x, t, 0, 10)
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-2)


def test_input_extensions_are_concatenated_after_the_latent_channels(sd15):
    torch.manual_seed(5)
    unet = diffusers.UNet2DConditionModel.from_config({**sd15.unet.config, "in_channels": 5}).eval()
    den, pos, _ = _denoiser(sd15, cfg=1.0)
    den.unet = unet
    den.input_extensions.append(lambda model_in, step: torch.full_like(model_in[:, :1], 0.7))
    x, t = _x(), torch.tensor(500)
    with torch.no_grad():
        out = den(x, t, 0, 10)
        ref = unet(torch.cat([x, torch.full_like(x[:, :1], 0.7)], dim=1), t, encoder_hidden_states=pos.embeds).sample
    assert torch.allclose(out, ref, atol=1e-5)
