"""Custom sampling: our denoiser over an explicit sigma schedule against the Sampler node, schedule
formulas against their definitions, split schedules, and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio.core.context import NodeFailure
from studio.diffusion import custom_sampling as cs
from studio.diffusion import prompts, sampling
from studio.diffusion.values import Latent

SEED = 31
STEPS = 5
TOL = 1e-5


def _conds(ns):
    return prompts.encode_prompt(ns.clip, "a photo of a red cat"), prompts.encode_prompt(ns.clip, "blurry")


def _init() -> torch.Tensor:
    return torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(4))


def _diff(a, b) -> float:
    return float((a - b).abs().max())


def _close(a, b) -> bool:
    """Equal within float32 round-off: TOL relative to the latents' size (the tiny model's reach ~30)."""
    return _diff(a, b) <= TOL * max(1.0, float(b.abs().max()))


@pytest.mark.parametrize(("sampler", "scheduler", "denoise", "latent"), [
    ("euler", "normal", 1.0, "empty"), ("euler", "karras", 1.0, "empty"), ("euler", "normal", 0.6, "image"),
    ("euler", "karras", 0.6, "image"), ("heun", "karras", 1.0, "empty"), ("heun", "normal", 0.6, "image"),
])
def test_basic_schedule_equals_the_sampler_node(sd15, sampler, scheduler, denoise, latent):
    pos, neg = _conds(sd15)
    init = torch.zeros((1, 4, 8, 8)) if latent == "empty" else _init()
    lat = Latent("sd15", init)
    ours = sampling.sample(sd15.model, pos, neg, lat, seed=SEED, steps=STEPS, cfg=5.0, sampler=sampler,
                           scheduler=scheduler, denoise=denoise).samples
    sigmas = cs.sigmas_basic(sd15.model, scheduler, STEPS, denoise)
    assert len(sigmas) == (STEPS if denoise >= 1 else int(STEPS * denoise)) + 1 and float(sigmas[-1]) == 0.0
    custom = cs.sample_custom(sd15.model, pos, neg, lat, sampler=sampler, sigmas=sigmas, cfg=5.0,
                              noise_seed=SEED)
    assert _close(custom.output.samples, ours)
    # Ending at σ = 0 the result is the last step's x0 estimate.
    assert _close(custom.denoised.samples, custom.output.samples)
    assert float(ours.abs().max()) > 0.1


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_split_schedule_chained_equals_one_run(sd15, sampler):
    pos, neg = _conds(sd15)
    lat = Latent("sd15", torch.zeros((1, 4, 8, 8)))
    sigmas = cs.karras_sigmas(STEPS, 0.0291675, 14.614642, 7.0)
    whole = cs.sample_custom(sd15.model, pos, neg, lat, sampler=sampler, sigmas=sigmas, cfg=5.0, noise_seed=SEED)
    high, low = cs.split_sigmas(sigmas, 2)
    assert len(high) == 3 and len(low) == STEPS - 1 and float(high[-1]) == float(low[0])
    first = cs.sample_custom(sd15.model, pos, neg, lat, sampler=sampler, sigmas=high, cfg=5.0, noise_seed=SEED)
    # The first half stops with noise left at σ = high[-1]; its x0 estimate is cleaner than its sample.
    assert _diff(first.output.samples, whole.output.samples) > 0.05
    assert _diff(first.output.samples, first.denoised.samples) > 0.05
    second = cs.sample_custom(sd15.model, pos, neg, first.output, sampler=sampler, sigmas=low, cfg=5.0,
                              noise_seed=None)
    assert _close(second.output.samples, whole.output.samples)


def test_a_noise_mask_blends_as_in_the_sampler_node_and_survives_a_split(sd15):
    pos, neg = _conds(sd15)
    mask = torch.zeros((1, 64, 64))
    mask[:, 8:40, 16:56] = 1.0
    lat = Latent("sd15", _init(), noise_mask=mask)
    ours = sampling.sample(sd15.model, pos, neg, lat, seed=SEED, steps=STEPS, cfg=5.0, sampler="euler",
                           scheduler="karras", denoise=0.8).samples
    sigmas = cs.sigmas_basic(sd15.model, "karras", STEPS, 0.8)
    whole = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler", sigmas=sigmas, cfg=5.0, noise_seed=SEED)
    assert _close(whole.output.samples, ours)
    # Outside the mask the result is the input latent.
    assert _diff(whole.output.samples[..., :1, :], lat.samples[..., :1, :]) <= TOL
    high, low = cs.split_sigmas(sigmas, 2)
    first = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler", sigmas=high, cfg=5.0, noise_seed=SEED)
    assert first.output.kept is not None
    second = cs.sample_custom(sd15.model, pos, neg, first.output, sampler="euler", sigmas=low, cfg=5.0,
                              noise_seed=None)
    assert _close(second.output.samples, whole.output.samples)


def test_euler_ancestral_runs_over_custom_sigmas_and_depends_on_the_seed(sd15):
    pos, neg = _conds(sd15)
    lat = Latent("sd15", torch.zeros((1, 4, 8, 8)))
    sigmas = cs.exponential_sigmas(4, 0.03, 14.6)
    a = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler_ancestral", sigmas=sigmas, cfg=5.0, noise_seed=1)
    b = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler_ancestral", sigmas=sigmas, cfg=5.0, noise_seed=1)
    c = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler_ancestral", sigmas=sigmas, cfg=5.0, noise_seed=2)
    assert torch.isfinite(a.output.samples).all()
    assert _diff(a.output.samples, b.output.samples) == 0.0
    assert _diff(a.output.samples, c.output.samples) > 0.01


def test_basic_guider_is_cfg_one_on_the_positive(sd15):
    pos, neg = _conds(sd15)
    lat = Latent("sd15", torch.zeros((1, 4, 8, 8)))
    sigmas = cs.karras_sigmas(3, 0.03, 14.6)
    basic = cs.sample_custom(sd15.model, pos, None, lat, sampler="euler", sigmas=sigmas, cfg=7.0, noise_seed=3)
    cfg1 = cs.sample_custom(sd15.model, pos, neg, lat, sampler="euler", sigmas=sigmas, cfg=1.0, noise_seed=3)
    assert _close(basic.output.samples, cfg1.output.samples)


def test_unsupported_sampler_is_refused_with_the_alternatives(sd15):
    pos, neg = _conds(sd15)
    lat = Latent("sd15", torch.zeros((1, 4, 8, 8)))
    with pytest.raises(NodeFailure, match=r"'dpmpp_2m' cannot run a custom sigma schedule.*euler, euler_ancestral, heun"):
        cs.sample_custom(sd15.model, pos, neg, lat, sampler="dpmpp_2m", sigmas=cs.karras_sigmas(3, 0.03, 14.6),
                         cfg=5.0, noise_seed=1)


def test_karras_and_exponential_formulas():
    n, lo, hi, rho = 7, 0.0291675, 14.614642, 7.0
    k = cs.karras_sigmas(n, lo, hi, rho).double().numpy()
    want = [(hi ** (1 / rho) + i / (n - 1) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho for i in range(n)] + [0.0]
    np.testing.assert_allclose(k, want, rtol=1e-6)
    e = cs.exponential_sigmas(n, lo, hi).double().numpy()
    want = [math.exp(math.log(hi) + i / (n - 1) * (math.log(lo) - math.log(hi))) for i in range(n)] + [0.0]
    np.testing.assert_allclose(e, want, rtol=1e-6)


def test_align_your_steps_tables_and_interpolation():
    ten = cs.sigmas_align_your_steps("SD1", 10, 1.0).double().numpy()
    np.testing.assert_allclose(ten[:-1], cs.AYS_TABLES["SD1"][:-1], rtol=1e-6)
    assert ten[-1] == 0.0
    twenty = cs.sigmas_align_your_steps("SDXL", 20, 1.0).double().numpy()
    assert len(twenty) == 21 and twenty[-1] == 0.0 and np.all(np.diff(twenty) < 0)
    # Log-linear: every other level of the 20-step schedule is a level of the 10-step table.
    np.testing.assert_allclose(twenty[0:-1:2], cs.AYS_TABLES["SDXL"][:-1], rtol=1e-5)
    half = cs.sigmas_align_your_steps("SD1", 10, 0.5)
    assert len(half) == 6 and float(half[0]) == pytest.approx(cs.AYS_TABLES["SD1"][5], rel=1e-6)
    with pytest.raises(NodeFailure, match="Align Your Steps"):
        cs.sigmas_align_your_steps("SVD3", 10, 1.0)


def test_sd_turbo_and_split_and_checks(sd15):
    sig = cs.training_sigmas(sd15.model)
    turbo = cs.sigmas_sd_turbo(sd15.model, 2, 1.0)
    np.testing.assert_allclose(turbo.double().numpy(), [sig[999], sig[899], 0.0], rtol=1e-6)
    turbo = cs.sigmas_sd_turbo(sd15.model, 1, 0.5)
    np.testing.assert_allclose(turbo.double().numpy(), [sig[499], 0.0], rtol=1e-6)
    high, low = cs.split_sigmas(torch.tensor([3.0, 2.0, 1.0, 0.0]), 0)
    assert high.tolist() == [3.0] and low.tolist() == [3.0, 2.0, 1.0, 0.0]
    with pytest.raises(NodeFailure, match="must not increase"):
        cs.as_sigmas([1.0, 2.0, 0.0])


def test_comfyui_spacings_over_the_training_sigmas(sd15):
    sig = cs.training_sigmas(sd15.model)
    assert sig[0] < sig[-1] and len(sig) == 1000

    def levels(name, steps):
        s = cs.sigmas_basic(sd15.model, name, steps, 1.0).double().numpy()
        assert s[-1] == 0.0
        return s[:-1]

    np.testing.assert_allclose(levels("simple", 4), [sig[999], sig[749], sig[499], sig[249]], rtol=1e-6)
    np.testing.assert_allclose(levels("ddim_uniform", 4), [sig[751], sig[501], sig[251], sig[1]], rtol=1e-6)
    # sgm_uniform: timesteps 999, 749.25, 499.5, 249.75; σ log-linear between whole timesteps.
    mid = math.exp(0.75 * math.log(sig[749]) + 0.25 * math.log(sig[750]))
    np.testing.assert_allclose(levels("sgm_uniform", 4)[:2], [sig[999], mid], rtol=1e-6)
    exp = levels("exponential", 5)
    np.testing.assert_allclose(exp, np.exp(np.linspace(math.log(sig[-1]), math.log(sig[0]), 5)), rtol=1e-5)
    half = cs.sigmas_basic(sd15.model, "simple", 4, 0.5).double().numpy()
    np.testing.assert_allclose(half, [sig[499], sig[249], 0.0], rtol=1e-6)
    with pytest.raises(NodeFailure, match="unknown scheduler 'bogus'"):
        cs.sigmas_basic(sd15.model, "bogus", 4, 1.0)
