"""What applying an IP-Adapter does to the shared UNet (nothing lasting), its steps range, its checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nodes.ip_adapter import image_features
from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.denoiser import Step
from studio.diffusion.ip_adapter_patch import IPAdapterPatch, IPAdapterStep, IPAttnProcessor, check_fits
from studio.diffusion.values import ControlSpec, Latent

SEED = 77


def _patch(ns, clip_vision, adapter=None, **kw):
    frames = np.random.default_rng(3).random((1, 48, 48, 3), dtype=np.float32)
    adapter = adapter or ns.base
    embeds, uncond = image_features(adapter, clip_vision, frames)
    return IPAdapterPatch(adapter, embeds, uncond, **kw)


def _run(ns, patches=(), *, steps=3, check_cancel=None, positive=None, negative=None):
    model = replace(ns.model, patches=tuple(patches))
    return sampling.sample(model, positive or prompts.encode_prompt(ns.clip, "a red cat"),
                           negative or prompts.encode_prompt(ns.clip, "blurry"), Latent("sd15", torch.zeros(1, 4, 8, 8)),
                           seed=SEED, steps=steps, cfg=5.0, sampler="euler", scheduler="normal",
                           check_cancel=check_cancel).samples


def _snapshot(unet):
    return ({k: id(v) for k, v in unet.attn_processors.items()},
            {k: v.clone() for k, v in unet.state_dict().items()})


def _same(unet, snap) -> bool:
    procs, weights = snap
    now = unet.state_dict()
    return ({k: id(v) for k, v in unet.attn_processors.items()} == procs and now.keys() == weights.keys()
            and all(torch.equal(now[k], weights[k]) for k in weights))


def test_the_unet_is_patched_during_the_run_and_left_as_it_was(sd15, clip_vision):
    snap = _snapshot(sd15.unet)
    seen = []

    def look():
        seen.append(sum(isinstance(p, IPAttnProcessor) for p in sd15.unet.attn_processors.values()))

    _run(sd15, [_patch(sd15, clip_vision), _patch(sd15, clip_vision, sd15.plus)], check_cancel=look)
    assert seen == [4, 4, 4]  # every cross-attention layer, one processor for both adapters
    assert _same(sd15.unet, snap)
    assert not any(isinstance(p, IPAttnProcessor) for p in sd15.unet.attn_processors.values())


def test_the_unet_is_restored_after_a_cancel_mid_run(sd15, clip_vision):
    snap = _snapshot(sd15.unet)
    calls = []

    class Cancelled(Exception):
        pass

    def cancel():
        calls.append(1)
        if len(calls) == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        _run(sd15, [_patch(sd15, clip_vision)], check_cancel=cancel)
    assert _same(sd15.unet, snap)


def test_weight_zero_or_an_empty_step_range_is_the_plain_model(sd15, clip_vision):
    plain = _run(sd15)
    assert torch.equal(_run(sd15, [_patch(sd15, clip_vision, weight=0.0)]), plain)
    assert torch.equal(_run(sd15, [_patch(sd15, clip_vision, start=0.0, end=0.0)]), plain)
    full = _run(sd15, [_patch(sd15, clip_vision)])
    first_third = _run(sd15, [_patch(sd15, clip_vision, end=0.34)])
    assert float((full - plain).abs().max()) > 1e-3
    assert float((first_third - plain).abs().max()) > 1e-4 and float((first_third - full).abs().max()) > 1e-4


def test_without_cfg_only_the_image_tokens_are_used(sd15, clip_vision):
    patch = _patch(sd15, clip_vision)
    step = patch.conditioning_patch(unet=sd15.unet, batch=2, guided=False)
    cond, _ = patch.tokens(sd15.unet.device, sd15.unet.dtype)
    assert step.tokens.shape == (2, 4, 32) and torch.equal(step.tokens[1:], cond)
    guided = patch.conditioning_patch(unet=sd15.unet, batch=2, guided=True)
    assert guided.tokens.shape == (4, 4, 32) and torch.equal(guided.tokens[2:3], cond)
    model = replace(sd15.model, patches=(patch,))
    pos, neg = prompts.encode_prompt(sd15.clip, "a red cat"), prompts.encode_prompt(sd15.clip, "blurry")
    runs = [sampling.sample(m, pos, neg, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=2, cfg=1.0,
                            sampler="euler", scheduler="normal").samples for m in (model, sd15.model)]
    assert float((runs[0] - runs[1]).abs().max()) > 1e-3


def test_the_weight_is_on_only_inside_start_and_end():
    step = IPAdapterStep("x", torch.zeros(2, 4, 8), 0.8, 0.25, 0.75)
    scales = [step.scale(Step(i, 4, None)) for i in range(4)]
    assert scales == [0.0, 0.8, 0.8, 0.0]  # as ControlNet start/end: whole steps inside the range


def test_an_ip_adapter_with_a_controlnet(sd15, clip_vision, manager, tiny):
    cn = manager.load_controlnet(tiny.paths["controlnet-sd15"])
    hint = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    spec = ControlSpec(cn, hint, strength=0.8)
    pos = prompts.encode_prompt(sd15.clip, "a red cat").with_control(spec)
    neg = prompts.encode_prompt(sd15.clip, "blurry").with_control(spec)
    both = _run(sd15, [_patch(sd15, clip_vision)], positive=pos, negative=neg)
    assert float((both - _run(sd15, positive=pos, negative=neg)).abs().max()) > 1e-3


def test_an_adapter_for_another_model_is_refused(sd15, sdxl, clip_vision):
    with pytest.raises(NodeFailure, match="another model family"):
        check_fits(sdxl.base, sd15.unet)
    with pytest.raises(NodeFailure, match="another model family"):
        _run(sd15, [_patch(sd15, clip_vision, sdxl.base)])
    assert not any(isinstance(p, IPAttnProcessor) for p in sd15.unet.attn_processors.values())


def test_an_encoder_of_the_wrong_width_is_refused(sd15, clip_vision):
    narrow = replace(clip_vision, model=type("M", (), {"config": type("C", (), {"hidden_size": 16,
                                                                               "projection_dim": 16})()})())
    frames = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(NodeFailure, match="reads CLIP image embeddings 32 wide; the CLIP vision encoder gives 16"):
        image_features(sd15.base, narrow, frames)
    with pytest.raises(NodeFailure, match="hidden states 32 wide"):
        image_features(sd15.plus, narrow, frames)
