"""The wider sampler and scheduler lists: ComfyUI's spacings (simple, sgm_uniform, ddim_uniform, beta,
exponential) checked against their formulas, the Beta quantile against closed forms, the pairs the
Sampler node accepts or refuses, and sampling runs against the diffusers pipelines given the same schedule."""

from __future__ import annotations

import math

import diffusers
import numpy as np
import pytest
import torch

from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.sigma_schedules import beta_cdf, beta_ppf, beta_timesteps
from studio.diffusion.values import Latent

from .conftest import SD15_SCHEDULER, SDXL_SCHEDULER
from .test_sampling_parity import NEGATIVE, PROMPT, SEED, TOL, _diff, _gen

P = np.array([0.0, 1e-9, 0.001, 0.05, 0.2, 0.37, 0.5, 0.63, 0.9, 0.999, 1.0])


# --- the Beta quantile --------------------------------------------------------------------------------

def test_beta_quantile_matches_closed_forms():
    # Beta(1/2, 1/2) is the arcsine law: F(x) = (2/π)·asin(√x), so x = sin²(πp/2).
    np.testing.assert_allclose(beta_ppf(P, 0.5, 0.5), np.sin(np.pi * P / 2) ** 2, atol=1e-13)
    np.testing.assert_allclose(beta_ppf(P, 1.0, 1.0), P, atol=1e-13)
    np.testing.assert_allclose(beta_ppf(P, 2.5, 1.0), P ** (1 / 2.5), atol=1e-13)  # F(x) = x^a
    np.testing.assert_allclose(beta_ppf(P, 1.0, 3.0), 1 - (1 - P) ** (1 / 3), atol=1e-13)  # F(x) = 1-(1-x)^b
    x = np.linspace(0, 1, 41)
    np.testing.assert_allclose(beta_cdf(x, 2.0, 2.0), 3 * x**2 - 2 * x**3, atol=1e-13)
    # Beta(0.6, 0.6) is symmetric: the median is ½ and the quantiles mirror; the CDF inverts the quantile.
    mirrored = np.array([0.0, 1e-9, 0.001, 0.2, 0.37, 0.5, 0.63, 0.8, 0.999, 1 - 1e-9, 1.0])
    q = beta_ppf(mirrored, 0.6, 0.6)
    np.testing.assert_allclose(q + q[::-1], 1.0, atol=1e-13)
    assert q[5] == pytest.approx(0.5, abs=1e-14)
    np.testing.assert_allclose(beta_cdf(q, 0.6, 0.6), mirrored, atol=1e-13)
    assert np.all(np.diff(q) > 0)


def test_beta_cdf_matches_mpmath():
    mpmath = pytest.importorskip("mpmath")
    for x in (1e-8, 0.003, 0.2, 0.5, 0.77, 0.9999):
        want = float(mpmath.betainc(0.6, 0.6, 0, x, regularized=True))
        assert float(beta_cdf(x, 0.6, 0.6)) == pytest.approx(want, abs=1e-13)


def test_beta_timesteps():
    # round(999 · quantile(1 - i/10)) of Beta(0.6, 0.6); the middle one is 499.5, rounded to even.
    assert beta_timesteps(1000, 10).tolist() == [999, 959, 876, 765, 637, 500, 362, 234, 123, 40]
    assert beta_timesteps(1000, 1).tolist() == [999]
    many = beta_timesteps(1000, 300)  # the quantiles crowd at the ends: equal timesteps are merged
    assert len(many) < 300 and np.all(np.diff(many) < 0) and many[0] == 999


# --- the Sampler node's schedules ---------------------------------------------------------------------

def _train(config: dict) -> np.ndarray:
    """σ of every training timestep, straight from the scaled-linear betas."""
    betas = np.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, 1000, dtype=np.float64) ** 2
    alphas = np.cumprod(1 - betas)
    return np.sqrt((1 - alphas) / alphas)


def _set(sampler: str, scheduler: str, steps: int, config: dict = SD15_SCHEDULER):
    sched = schedulers.make_scheduler(sampler, scheduler, config)
    sched.set_timesteps(steps, device="cpu")
    return sched.sigmas.double().numpy(), sched.timesteps.double().numpy()


@pytest.mark.parametrize("config", [SD15_SCHEDULER, SDXL_SCHEDULER], ids=["sd15", "sdxl"])
def test_comfyui_spacings_on_the_sampler_node(config):
    sig = _train(config)
    rtol = 5e-5  # diffusers keeps ᾱ in float32
    sigmas, ts = _set("euler", "simple", 4, config)
    np.testing.assert_allclose(sigmas, [sig[999], sig[749], sig[499], sig[249], 0.0], rtol=rtol)
    assert ts.tolist() == [999, 749, 499, 249]
    sigmas, ts = _set("dpmpp_2m", "ddim_uniform", 4, config)
    np.testing.assert_allclose(sigmas, [sig[751], sig[501], sig[251], sig[1], 0.0], rtol=rtol)
    assert ts.tolist() == [751, 501, 251, 1]
    # Heun evaluates each level twice (its correction), the last once.
    sigmas, ts = _set("heun", "beta", 3, config)
    np.testing.assert_allclose(sigmas, [sig[999], sig[724], sig[724], sig[275], sig[275], 0.0], rtol=rtol)
    assert ts.tolist() == [999, 724, 724, 275, 275]
    # sgm_uniform: timesteps 999, 749.25, 499.5, 249.75, σ log-linear between whole timesteps.
    sigmas, ts = _set("euler", "sgm_uniform", 4, config)
    want = [math.exp((1 - w) * math.log(sig[int(t)]) + w * math.log(sig[int(t) + 1])) if w else sig[int(t)]
            for t in (999, 749.25, 499.5, 249.75) for w in [t - int(t)]]
    np.testing.assert_allclose(sigmas, [*want, 0.0], rtol=rtol)
    np.testing.assert_allclose(ts, [999, 749.25, 499.5, 249.75], atol=2e-3)
    # exponential (diffusers' exponential sigmas): evenly spaced in log σ; over the whole training range for
    # the multistep solvers, and for the k-diffusion ports where the model spaces its timesteps over all of it.
    want = np.exp(np.linspace(math.log(sig[999]), math.log(sig[0]), 5))
    whole_range = ("euler", "heun", "lms", "dpmpp_2m", "uni_pc_bh2") if config is SD15_SCHEDULER else ("dpmpp_2m", "deis")
    for sampler in ("euler", "heun", "lms", "dpmpp_2m", "deis", "uni_pc_bh2"):
        sigmas, _ = _set(sampler, "exponential", 5, config)
        levels = np.unique(sigmas[sigmas > 0])[::-1]
        assert len(levels) == 5 and np.allclose(levels[1:] / levels[:-1], levels[1] / levels[0], rtol=1e-4)
        if sampler in whole_range:
            np.testing.assert_allclose(levels, want, rtol=rtol, err_msg=sampler)


@pytest.mark.slow  # diffusers' KDPM2 schedulers take about a second each to build
def test_every_combination_builds_and_sets_its_timesteps():
    for sampler, scheduler in schedulers.combinations():
        sched = schedulers.make_scheduler(sampler, scheduler, SD15_SCHEDULER)
        sched.set_timesteps(6, device="cpu")
        assert len(sched.timesteps) >= 6 and torch.isfinite(sched.timesteps.double()).all()


def test_combinations_are_what_make_scheduler_accepts():
    combos = set(schedulers.combinations())
    assert {s for s, _ in combos} == set(schedulers.SAMPLERS) and {k for _, k in combos} == set(schedulers.SCHEDULERS)
    for sampler in schedulers.SAMPLERS:
        for scheduler in schedulers.SCHEDULERS:
            if (sampler, scheduler) not in combos:
                with pytest.raises(NodeFailure, match=f"the {scheduler} scheduler does not apply to sampler "
                                                      f"'{sampler}'"):
                    schedulers.make_scheduler(sampler, scheduler, SD15_SCHEDULER)
    # ComfyUI's whole-timestep spacings run on every class that takes custom timesteps; sgm_uniform's
    # fractional ones only where the class takes the model's σ.
    assert {s for s, k in combos if k == "beta"} == {"euler", "heun", "dpmpp_2s_ancestral", "dpmpp_2m", "dpmpp_2m_sde",
                                                     "dpmpp_3m_sde", "lcm"}
    assert {s for s, k in combos if k == "sgm_uniform"} == {"euler", "dpmpp_2s_ancestral"}
    with pytest.raises(NodeFailure, match="unknown scheduler 'bogus'"):
        schedulers.make_scheduler("euler", "bogus", SD15_SCHEDULER)


def test_new_samplers_configure_their_diffusers_schedulers():
    def config(sampler: str) -> dict:
        return dict(schedulers.make_scheduler(sampler, "normal", SD15_SCHEDULER).config)

    assert config("uni_pc")["solver_type"] == "bh1" and config("uni_pc_bh2")["solver_type"] == "bh2"
    assert (config("dpmpp_3m_sde")["algorithm_type"], config("dpmpp_3m_sde")["solver_order"]) == ("sde-dpmsolver++", 3)
    assert config("deis")["solver_order"] == 3
    kinds = {s: schedulers.scheduler_class(s).__name__ for s in ("lms", "dpm_2", "dpm_2_ancestral", "deis")}
    assert kinds == {"lms": "LMSDiscreteScheduler", "dpm_2": "KDPM2DiscreteScheduler",
                     "dpm_2_ancestral": "KDPM2AncestralDiscreteScheduler", "deis": "DEISMultistepScheduler"}


# --- sampling runs against the pipelines ---------------------------------------------------------------

def _reference_schedule(scheduler: str, steps: int) -> dict:
    """The schedule handed to the pipeline, from the formulas (not from our code)."""
    if scheduler == "simple":
        return {"timesteps": [999 - int(i * 1000 / steps) for i in range(steps)]}
    if scheduler == "ddim_uniform":
        return {"timesteps": list(range(1, 1000, 1000 // steps))[::-1]}
    if scheduler == "beta":
        return {"timesteps": beta_timesteps(1000, steps).astype(int).tolist()}
    sig = _train(SD15_SCHEDULER)
    levels = []
    for t in np.linspace(999, 0, steps + 1)[:-1]:
        lo, w = int(t), t - int(t)
        levels.append(math.exp((1 - w) * math.log(sig[lo]) + w * math.log(sig[min(lo + 1, 999)])))
    return {"sigmas": [*levels, 0.0]}


SPACED = [c for c in schedulers.combinations() if c[1] in ("simple", "sgm_uniform", "ddim_uniform", "beta")]
FAST = {("dpmpp_2m", "beta"), ("euler", "sgm_uniform")}
SPACED_PARAMS = [pytest.param(s, k, id=f"{s}-{k}", marks=() if (s, k) in FAST else pytest.mark.slow)
                 for s, k in SPACED]


@pytest.mark.parametrize(("sampler", "scheduler"), SPACED_PARAMS)
def test_comfyui_spacing_matches_pipeline_given_the_schedule(sd15, sampler, scheduler):
    ours_sched = schedulers.make_scheduler(sampler, scheduler, sd15.model.scheduler_config)
    plain = type(ours_sched).from_config(ours_sched.config)  # the same class and options, diffusers' own spacing
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet, scheduler=plain,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, guidance_scale=6.0, generator=_gen(),
               output_type="latent", **_reference_schedule(scheduler, 3)).images
    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    ours = sampling.sample(sd15.model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3,
                           cfg=6.0, sampler=sampler, scheduler=scheduler).samples
    assert _diff(ours, ref) <= TOL
    # The spacing must matter, or this comparison proves nothing (where the model's own spacing happens to
    # give the same timesteps, as simple's 999, 666, 333 for 3 steps over linspace, it cannot).
    same = schedulers.make_scheduler(sampler, "normal", sd15.model.scheduler_config)
    same.set_timesteps(3)
    ours_sched.set_timesteps(3)
    if not torch.equal(same.timesteps.double(), ours_sched.timesteps.double()):
        normal = sampling.sample(sd15.model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3,
                                 cfg=6.0, sampler=sampler, scheduler="normal").samples
        assert _diff(ours, normal) > 1e-3


# New samplers with the model's spacing and diffusers' flags (the full cross product: test_sampling_parity).
NEW = [("lms", "exponential"), ("uni_pc", "normal"), ("dpm_2_ancestral", "karras"), ("deis", "normal")]
NEW_PARAMS = [pytest.param(s, k, id=f"{s}-{k}", marks=() if i < 2 else pytest.mark.slow) for i, (s, k) in enumerate(NEW)]


@pytest.mark.parametrize(("sampler", "scheduler"), NEW_PARAMS)
def test_new_sampler_matches_pipeline(sd15, sampler, scheduler):
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        scheduler=schedulers.make_scheduler(sampler, scheduler, sd15.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=6.0,
               generator=_gen(), output_type="latent").images
    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    ours = sampling.sample(sd15.model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3,
                           cfg=6.0, sampler=sampler, scheduler=scheduler).samples
    assert _diff(ours, ref) <= TOL
    assert torch.isfinite(ours).all()


# --- DPM++ 2S ancestral ----------------------------------------------------------------------------------

def _reference_2s_ancestral(levels, x, denoise, generator):
    """DPM++ 2S ancestral written out from its definition (η = 1, r = ½)."""
    for s, s_next in zip(levels[:-1], levels[1:], strict=True):
        d = denoise(x, s)
        if s_next == 0:
            x = d
            continue
        up = min(s_next, math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
        down = math.sqrt(s_next**2 - up**2)
        t, t_next = -math.log(s), -math.log(down)
        h = t_next - t
        s_mid = math.exp(-(t + h / 2))
        x2 = (s_mid / s) * x - math.expm1(-h / 2) * d
        x = (down / s) * x - math.expm1(-h) * denoise(x2, s_mid)
        x = x + torch.randn(x.shape, generator=generator, dtype=x.dtype) * up
    return x


@pytest.mark.parametrize("scheduler", ["normal", "karras", "sgm_uniform"])
def test_dpmpp_2s_ancestral_follows_its_definition(scheduler):
    sig = _train(SD15_SCHEDULER)

    def denoise(x, sigma):  # a smooth stand-in for a model's x0 estimate
        return 0.7 * torch.tanh(x) / (1 + 0.1 * sigma)

    def sigma_of(t):  # the σ a model evaluated at timestep t sees (log-linear in the training σ)
        return math.exp(np.interp(float(t), np.arange(1000), np.log(sig)))

    sched = schedulers.make_scheduler("dpmpp_2s_ancestral", scheduler, SD15_SCHEDULER)
    sched.set_timesteps(5, device="cpu")
    assert len(sched.timesteps) == 2 * 5 - 1 and sched.order == 2
    plain = schedulers.make_scheduler("euler", scheduler, SD15_SCHEDULER)
    plain.set_timesteps(5, device="cpu")
    levels = plain.sigmas.double().tolist()

    # The model sees each midpoint σ_mid = √(σ·σ_down) at its own timestep.
    for i, (s, s_next) in enumerate(zip(levels[:-2], levels[1:-1], strict=True)):
        down = math.sqrt(s_next**2 - min(s_next**2, s_next**2 * (s**2 - s_next**2) / s**2))
        assert sigma_of(sched.timesteps[2 * i + 1]) == pytest.approx(math.sqrt(s * down), rel=1e-4)

    start = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = start * levels[0]
    gen = torch.Generator().manual_seed(7)
    for t in sched.timesteps:
        scaled = sched.scale_model_input(x, t)
        sigma = float(sched.sigmas[sched.step_index])
        np.testing.assert_allclose(scaled * math.sqrt(sigma**2 + 1), x, rtol=1e-6)
        eps = (x - denoise(x, sigma)) / sigma
        x = sched.step(eps, t, x, generator=gen).prev_sample
    want = _reference_2s_ancestral(levels, start * levels[0], denoise, torch.Generator().manual_seed(7))
    assert float((x - want).abs().max()) < 1e-5


def test_dpmpp_2s_ancestral_matches_pipeline_with_the_same_scheduler(sd15):
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        scheduler=schedulers.make_scheduler("dpmpp_2s_ancestral", "karras", sd15.model.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=6.0,
               generator=_gen(), output_type="latent").images
    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    run = {"seed": SEED, "steps": 3, "cfg": 6.0, "scheduler": "karras"}
    ours = sampling.sample(sd15.model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), sampler="dpmpp_2s_ancestral",
                           **run).samples
    assert _diff(ours, ref) <= TOL
    other = sampling.sample(sd15.model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), sampler="dpm_2_ancestral",
                            **run).samples
    assert _diff(ours, other) > 1e-3


@pytest.mark.parametrize(("sampler", "scheduler", "denoise"), [
    ("euler", "simple", 1.0), ("dpmpp_2s_ancestral", "normal", 1.0), ("dpmpp_2s_ancestral", "sgm_uniform", 0.6),
])
def test_custom_sampler_over_the_basic_schedule_equals_the_sampler_node(sd15, sampler, scheduler, denoise):
    from studio.diffusion import custom_sampling as cs

    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    init = torch.zeros(1, 4, 8, 8) if denoise >= 1 else torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9))
    lat = Latent("sd15", init)
    ours = sampling.sample(sd15.model, pos, neg, lat, seed=SEED, steps=4, cfg=5.0, sampler=sampler, scheduler=scheduler,
                           denoise=denoise).samples
    sigmas = cs.sigmas_basic(sd15.model, scheduler, 4, denoise)
    custom = cs.sample_custom(sd15.model, pos, neg, lat, sampler=sampler, sigmas=sigmas, cfg=5.0, noise_seed=SEED)
    assert _diff(custom.output.samples, ours) <= TOL * max(1.0, float(ours.abs().max()))
    assert float(ours.abs().max()) > 0.1


def test_basic_scheduler_offers_beta(sd15):
    from studio.diffusion import custom_sampling as cs

    sig = _train(SD15_SCHEDULER)
    levels = cs.sigmas_basic(sd15.model, "beta", 10, 1.0).double().numpy()
    np.testing.assert_allclose(levels, [*sig[[999, 959, 876, 765, 637, 500, 362, 234, 123, 40]], 0.0], rtol=5e-5)
    # The same levels as the Sampler node's beta scheduler.
    np.testing.assert_allclose(levels, _set("euler", "beta", 10)[0], rtol=1e-6)
