"""Behaviour of the sampler beyond parity: seeds, cancel, refusals, previews, x0, memory errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from studio.core.context import CancelledError, CancelToken, NodeContext, NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.values import ControlNet, ControlSpec, Latent


def _conds(ns, pos="a photo of a cat", neg="blurry"):
    return prompts.encode_prompt(ns.clip, pos), prompts.encode_prompt(ns.clip, neg)


def _run(ns, *, positive=None, negative=None, latent=None, **kw):
    p, n = _conds(ns)
    args = dict(seed=7, steps=3, cfg=5.0, sampler="euler", scheduler="normal")
    args.update(kw)
    return sampling.sample(ns.model, positive or p, negative or n, latent or Latent("any", torch.zeros(1, 4, 8, 8)),
                           **args).samples


def test_same_seed_same_latents_and_another_seed_differs(sd15):
    a, b = _run(sd15, sampler="dpmpp_2m_sde"), _run(sd15, sampler="dpmpp_2m_sde")
    assert torch.equal(a, b)
    assert not torch.equal(a, _run(sd15, sampler="dpmpp_2m_sde", seed=8))


def test_cancel_takes_effect_within_one_step(sd15):
    calls, steps = [0], []

    def check():
        calls[0] += 1
        if calls[0] == 3:
            raise CancelledError()

    with pytest.raises(CancelledError):
        _run(sd15, steps=6, check_cancel=check, on_step=lambda i, n, x: steps.append(i))
    assert steps == [1, 2]


def test_controlnet_of_another_family_is_refused(sd15):
    p, n = _conds(sd15)
    spec = ControlSpec(ControlNet("sdxl", sd15.controlnets[0]), np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(NodeFailure, match=r"CONTROL_NET\[sdxl\] does not fit MODEL\[sd15\]"):
        _run(sd15, positive=p.with_control(spec), negative=n)


def test_conditioning_and_latent_of_another_family_are_refused(sd15):
    p, n = _conds(sd15)
    with pytest.raises(NodeFailure, match=r"CONDITIONING\[sdxl\] does not fit MODEL\[sd15\]"):
        _run(sd15, positive=replace(p, family="sdxl"))
    with pytest.raises(NodeFailure, match=r"LATENT\[sdxl\] does not fit MODEL\[sd15\]"):
        _run(sd15, latent=Latent("sdxl", torch.zeros(1, 4, 8, 8)))


def test_karras_refused_where_it_does_not_apply(sd15):
    with pytest.raises(NodeFailure, match="karras scheduler does not apply to sampler 'ddim'"):
        _run(sd15, sampler="ddim", scheduler="karras")


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "dpmpp_2m_sde", "uni_pc"])
def test_computed_x0_equals_the_solvers_own_data_prediction(sd15, monkeypatch, sampler):
    # These schedulers keep their converted (x0) model output internally; ours must equal it.
    seen = []
    original = sampling.denoised_estimate

    def spy(sched, out, model_output, sample):
        x0 = original(sched, out, model_output, sample)
        seen.append(float((x0 - sched.model_outputs[-1]).abs().max()))
        return x0

    monkeypatch.setattr(sampling, "denoised_estimate", spy)
    _run(sd15, sampler=sampler, on_step=lambda *a: None)
    assert len(seen) == 3 and max(seen) < 1e-5


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_sde"])
def test_last_x0_is_the_result_for_samplers_ending_at_sigma_zero(sd15, sampler):
    last = []
    out = _run(sd15, sampler=sampler, on_step=lambda i, n, x0: last.append(x0))
    assert torch.allclose(last[-1], out, atol=1e-5)


def test_out_of_memory_becomes_a_node_failure(sd15, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(sampling, "_sample", boom)
    with pytest.raises(NodeFailure, match="out of memory sampling 64×64.*smaller size"):
        _run(sd15)


def test_prompts_of_different_lengths_tile_without_changing_attention(sd15):
    p, n = _conds(sd15)
    n2 = replace(n, embeds=n.embeds.repeat(1, 2, 1))
    assert torch.allclose(_run(sd15, positive=p, negative=n), _run(sd15, positive=p, negative=n2), atol=1e-4)
    long = prompts.encode_prompt(sd15.clip, "cat dog " * 50)
    assert long.embeds.shape[1] == 154
    assert torch.isfinite(_run(sd15, positive=long, negative=n)).all()


def test_control_on_one_half_only(sd15):
    p, n = _conds(sd15)
    spec = ControlSpec(ControlNet("sd15", sd15.controlnets[0]), np.full((1, 64, 64, 3), 0.5, np.float32))
    both = _run(sd15, positive=p.with_control(spec), negative=n.with_control(spec))
    pos_only = _run(sd15, positive=p.with_control(spec), negative=n)
    plain = _run(sd15, positive=p, negative=n)
    assert not torch.allclose(pos_only, both) and not torch.allclose(pos_only, plain)


def test_denoise_zero_keeps_the_latent_and_too_few_steps_are_refused(sd15):
    init = torch.randn(1, 4, 8, 8)
    assert torch.equal(_run(sd15, latent=Latent("sd15", init), denoise=0.0), init)
    with pytest.raises(NodeFailure, match="leaves no step"):
        _run(sd15, latent=Latent("sd15", init), denoise=0.2, steps=3)


def test_sdxl_size_conditioning_is_used(sdxl):
    p, n = _conds(sdxl)
    base = _run(sdxl, positive=p, negative=n)
    bigger = replace(p, extras={**p.extras, "original_size": (1024, 1024)})
    assert not torch.allclose(base, _run(sdxl, positive=bigger, negative=n))


def _ctx(cancel=None):
    events = []
    ctx = NodeContext(node_id="s", title="Sampler", run_id=1, cancel=cancel or CancelToken(),
                      emit=lambda kind, data: events.append((kind, data)))
    return ctx, events


def test_sampler_node_reports_progress_and_previews_every_step(sd15):
    from nodes.sampling import sampler

    ctx, events = _ctx()
    p, n = _conds(sd15)
    out = sampler(ctx, model=sd15.model, positive=p, negative=n, latent=Latent("any", torch.zeros(2, 4, 8, 6)),
                  seed=3, steps=3, cfg=4.0, sampler="heun", scheduler="karras", denoise=1.0)
    assert out.family == "sd15" and out.samples.shape == (2, 4, 8, 6)
    previews = [d for k, d in events if k == "preview"]
    progress = [d["fraction"] for k, d in events if k == "progress"]
    assert len(previews) == len(progress) == 5  # Heun: 2·steps − 1 model evaluations
    for d in previews:
        assert d["image"].shape == (8, 6, 3) and d["image"].dtype == np.uint8
    assert progress[-1] == 1.0 and progress == sorted(progress)


def test_sampler_node_stops_when_cancelled_during_a_step(sd15):
    from nodes.sampling import sampler

    token = CancelToken()
    ctx, events = _ctx(token)

    def emit(kind, data):
        events.append((kind, data))
        if kind == "preview":
            token.cancel()  # cancel arrives while step 1 finishes

    ctx._emit = emit
    p, n = _conds(sd15)
    with pytest.raises(CancelledError):
        sampler(ctx, model=sd15.model, positive=p, negative=n, latent=Latent("any", torch.zeros(1, 4, 8, 8)),
                seed=3, steps=10, cfg=4.0, sampler="euler", scheduler="normal", denoise=1.0)
    assert sum(1 for k, _ in events if k == "preview") == 1
