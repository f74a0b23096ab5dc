"""CFG rescale and perturbed-attention guidance through the denoiser's guidance extension point, and
FreeU in a whole sampling run: against independent references, and the shared UNet left plain."""

from __future__ import annotations

from dataclasses import replace

import diffusers
import pytest
import torch

from nodes.model_guidance import perturbed_attention, rescale_cfg
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.cfg_rescale import NoiseLevels, RescaleCFG
from studio.diffusion.deep_shrink import DeepShrinkPatch
from studio.diffusion.denoiser import Guided, Step
from studio.diffusion.freeu import FreeUPatch
from studio.diffusion.values import Latent

SEED, STEPS = 11, 3
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"


def _sample(ns, model, cfg=5.0, sampler="euler"):
    return sampling.sample(model, prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE),
                           Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=STEPS, cfg=cfg, sampler=sampler,
                           scheduler="normal").samples


# --- CFG rescale -------------------------------------------------------------------------------

def _reference_rescale(u_out, c_out, x_vp, sigma, cfg, multiplier, prediction):
    """The rescale as k-diffusion samplers see it: x = x₀ + σ·ε, denoised predictions, the v form of
    x/(σ²+1) − denoised, std over all but the batch dimension; then back to the model's output."""
    x = x_vp * (sigma**2 + 1) ** 0.5

    def denoised(out):
        if prediction == "epsilon":
            return x - sigma * out
        if prediction == "v_prediction":
            return x / (sigma**2 + 1) - out * sigma / (sigma**2 + 1) ** 0.5
        return out

    xs = x / (sigma**2 + 1)
    vu, vc = [(xs - denoised(o)) * (sigma**2 + 1) ** 0.5 / sigma for o in (u_out, c_out)]
    g = vu + cfg * (vc - vu)
    r = g * vc.std(dim=(1, 2, 3), keepdim=True) / g.std(dim=(1, 2, 3), keepdim=True)
    final = multiplier * r + (1 - multiplier) * g
    d = xs - final * sigma / (sigma**2 + 1) ** 0.5
    if prediction == "epsilon":
        return (x - d) / sigma
    if prediction == "v_prediction":
        return (xs - d) * (sigma**2 + 1) ** 0.5 / sigma
    return d


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_rescale_equals_the_k_diffusion_form(tiny, prediction):
    g = torch.Generator().manual_seed(5)
    x_vp, u, c = (torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor(601)
    config = {**tiny.model.scheduler_config, "prediction_type": prediction}
    model = replace(tiny.model, scheduler_config=config)
    fn = RescaleCFG(0.7).cfg_function(model=model, batch=2, guided=True)
    out = fn(Guided(None, u, c, 6.0, torch.cat([x_vp, x_vp]), Step(0, 3, t), None))
    bar = diffusers.DDPMScheduler.from_config(config).alphas_cumprod[601].item()
    sigma = ((1 - bar) / bar) ** 0.5
    assert NoiseLevels(config)(t) == pytest.approx(sigma, rel=1e-9)
    expected = _reference_rescale(u, c, x_vp, sigma, 6.0, 0.7, prediction)
    assert torch.allclose(out, expected, atol=1e-9)
    assert not torch.allclose(out, u + 6.0 * (c - u), atol=1e-3)


def test_diffusers_guidance_rescale_is_another_formula(tiny):
    """diffusers rescales ε, ComfyUI v: v = ε/α − (σ/α)·x shares a term between the halves, so the stds
    differ; only multiplier 0 (plain CFG) is common to both."""
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

    g = torch.Generator().manual_seed(6)
    x_vp, u, c = (torch.randn(1, 4, 8, 8, generator=g, dtype=torch.float64) for _ in range(3))
    for multiplier, same in ((0.7, False), (0.0, True)):
        fn = RescaleCFG(multiplier).cfg_function(model=tiny.model, batch=1, guided=True)
        ours = fn(Guided(None, u, c, 6.0, torch.cat([x_vp, x_vp]), Step(0, 3, torch.tensor(400)), None))
        theirs = rescale_noise_cfg(u + 6.0 * (c - u), c, guidance_rescale=multiplier)
        assert torch.allclose(ours, theirs, atol=1e-9) is same


def test_rescale_run_zero_is_plain_cfg_and_changes_the_image_otherwise(tiny):
    plain = _sample(tiny, tiny.model)
    off = _sample(tiny, rescale_cfg(None, model=tiny.model, multiplier=0.0))
    on = _sample(tiny, rescale_cfg(None, model=tiny.model, multiplier=0.7))
    assert torch.allclose(off, plain, atol=1e-5)
    assert float((on - plain).abs().max()) > 1e-3
    # Without CFG there is nothing to rescale.
    assert torch.allclose(_sample(tiny, replace(tiny.model, patches=(RescaleCFG(0.7),)), cfg=1.0),
                          _sample(tiny, tiny.model, cfg=1.0), atol=1e-6)


# --- perturbed-attention guidance ----------------------------------------------------------------

@pytest.mark.parametrize("cfg", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_pag_matches_diffusers_pag_pipeline(tiny, cfg):
    sched = schedulers.make_scheduler("euler", "normal", tiny.model.scheduler_config)
    pipe = diffusers.StableDiffusionPAGPipeline(
        vae=tiny.vae, text_encoder=tiny.encoder, tokenizer=tiny.tokenizer, unet=tiny.unet, scheduler=sched,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False, pag_applied_layers="mid")
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=STEPS,
               guidance_scale=cfg, pag_scale=2.5, pag_adaptive_scale=0.0,
               generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent").images
    plain = _sample(tiny, tiny.model, cfg=cfg)
    ours = _sample(tiny, perturbed_attention(None, model=tiny.model, scale=2.5), cfg=cfg)
    assert float((ours - ref).abs().max()) <= 1e-4
    assert float((ours - plain).abs().max()) > 1e-3
    # The UNet's own processors are back: a plain run is unchanged.
    assert torch.equal(_sample(tiny, tiny.model, cfg=cfg), plain)


# --- FreeU in a run --------------------------------------------------------------------------------

def test_freeu_run_changes_the_result_and_leaves_the_shared_unet_plain(tiny):
    plain = _sample(tiny, tiny.model)
    patched = _sample(tiny, replace(tiny.model, patches=(FreeUPatch(1.3, 1.4, 0.9, 0.2, 2),)))
    assert float((patched - plain).abs().max()) > 1e-3
    assert torch.equal(_sample(tiny, tiny.model), plain)


def test_deep_shrink_run_acts_only_inside_its_range(tiny):
    plain = _sample(tiny, tiny.model)
    early = _sample(tiny, replace(tiny.model, patches=(DeepShrinkPatch(2, 2.0, 0.0, 0.35),)))
    # The run's timesteps are 999, 499.5 and 0; none lies in [(1 − 0.995)·999, (1 − 0.99)·999].
    never = _sample(tiny, replace(tiny.model, patches=(DeepShrinkPatch(2, 2.0, 0.99, 0.995),)))
    assert early.shape == plain.shape and float((early - plain).abs().max()) > 1e-3
    assert torch.equal(never, plain)
