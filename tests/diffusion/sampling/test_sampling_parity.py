"""Our denoising loop against the diffusers pipelines: same components, seed, steps and cfg."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch

from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.values import ControlSpec, Latent

TOL = 1e-4
SEED = 1234
COMBOS = schedulers.combinations()
IDS = [f"{s}-{k}" for s, k in COMBOS]
# The first samplers with normal and karras run by default; the later samplers and ComfyUI's spacings in the
# slow suite (test_more_samplers.py keeps fast representatives of them).
_FIRST = {"euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim", "uni_pc", "lcm"}
PAIRS = [pytest.param(s, k, id=f"{s}-{k}", marks=() if s in _FIRST and k in ("normal", "karras") else pytest.mark.slow)
         for s, k in COMBOS]
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"


def _scheduler(sampler: str, scheduler: str, config: dict):
    sch = schedulers.make_scheduler(sampler, scheduler, config)
    if sampler == "dpmpp_sde":
        # Our loop seeds the Brownian tree with the node's seed; tell the reference the same.
        sch = type(sch).from_config(sch.config, noise_sampler_seed=SEED)
    return sch


def _gen():
    return torch.Generator("cpu").manual_seed(SEED)


def _ours(ns, sampler, scheduler, latent=None, *, steps=3, cfg=6.0, denoise=1.0, positive=None, negative=None):
    positive = positive or prompts.encode_prompt(ns.clip, PROMPT)
    negative = negative or prompts.encode_prompt(ns.clip, NEGATIVE)
    latent = latent or Latent("any", torch.zeros(1, 4, 8, 8))
    return sampling.sample(ns.model, positive, negative, latent, seed=SEED, steps=steps, cfg=cfg, sampler=sampler,
                           scheduler=scheduler, denoise=denoise).samples


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_txt2img_matches_sd_pipeline(sd15, sampler, scheduler):
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        scheduler=_scheduler(sampler, scheduler, sd15.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=6.0,
               num_images_per_prompt=2, generator=_gen(), output_type="latent").images
    ours = _ours(sd15, sampler, scheduler, Latent("any", torch.zeros(2, 4, 8, 8)))
    assert _diff(ours, ref) <= TOL


def _hints(n: int = 2):
    rng = np.random.default_rng(5)
    # Hints at another size than the output: both sides resize them the same way.
    return [rng.random((1, 48, 40, 3), dtype=np.float32) for _ in range(n)]


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_one_controlnet_matches_controlnet_pipeline(sd15, sampler, scheduler):
    (hint,) = _hints(1)
    pipe = diffusers.StableDiffusionControlNetPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        controlnet=sd15.controlnets[0], scheduler=_scheduler(sampler, scheduler, sd15.model.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=hint, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3,
               guidance_scale=6.0, controlnet_conditioning_scale=0.7, control_guidance_start=0.0,
               control_guidance_end=0.7, generator=_gen(), output_type="latent").images
    spec = ControlSpec(sd15.control[0], hint, strength=0.7, start=0.0, end=0.7)
    pos = prompts.encode_prompt(sd15.clip, PROMPT).with_control(spec)
    neg = prompts.encode_prompt(sd15.clip, NEGATIVE).with_control(spec)
    ours = _ours(sd15, sampler, scheduler, positive=pos, negative=neg)
    assert _diff(ours, ref) <= TOL
    # Control must matter, or this comparison proves nothing.
    assert _diff(ours, _ours(sd15, sampler, scheduler)) > 1e-3


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_two_controlnets_match_multicontrolnet_pipeline(sd15, sampler, scheduler):
    hints = _hints(2)
    strength, start, end = [0.8, 1.3], [0.0, 0.34], [0.67, 1.0]
    pipe = diffusers.StableDiffusionControlNetPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        controlnet=list(sd15.controlnets), scheduler=_scheduler(sampler, scheduler, sd15.model.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=hints, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3,
               guidance_scale=6.0, controlnet_conditioning_scale=strength, control_guidance_start=start,
               control_guidance_end=end, generator=_gen(), output_type="latent").images
    pos = prompts.encode_prompt(sd15.clip, PROMPT)
    neg = prompts.encode_prompt(sd15.clip, NEGATIVE)
    for cn, hint, s, a, b in zip(sd15.control, hints, strength, start, end, strict=True):
        spec = ControlSpec(cn, hint, strength=s, start=a, end=b)
        pos, neg = pos.with_control(spec), neg.with_control(spec)
    ours = _ours(sd15, sampler, scheduler, positive=pos, negative=neg)
    assert _diff(ours, ref) <= TOL


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_img2img_matches_img2img_pipeline(sd15, sampler, scheduler):
    init = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9))
    pipe = diffusers.StableDiffusionImg2ImgPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        scheduler=_scheduler(sampler, scheduler, sd15.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    # A 4-channel image is taken as latents by the pipeline (no VAE encode).
    ref = pipe(PROMPT, image=init, strength=0.75, negative_prompt=NEGATIVE, num_inference_steps=4,
               guidance_scale=6.0, generator=_gen(), output_type="latent").images
    ours = _ours(sd15, sampler, scheduler, Latent("sd15", init), steps=4, denoise=0.75)
    assert _diff(ours, ref) <= TOL


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_sdxl_matches_sdxl_pipeline(sdxl, sampler, scheduler):
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=sdxl.vae, text_encoder=sdxl.encoder, text_encoder_2=sdxl.encoder_2, tokenizer=sdxl.tokenizer,
        tokenizer_2=sdxl.tokenizer, unet=sdxl.unet, scheduler=_scheduler(sampler, scheduler, sdxl.model.scheduler_config),
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=6.0,
               generator=_gen(), output_type="latent").images
    ours = _ours(sdxl, sampler, scheduler)
    assert _diff(ours, ref) <= TOL


def test_cfg_one_matches_pipeline_without_guidance(sd15):
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=sd15.unet,
        scheduler=_scheduler("euler", "normal", sd15.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, height=64, width=64, num_inference_steps=3, guidance_scale=1.0, generator=_gen(),
               output_type="latent").images
    assert _diff(_ours(sd15, "euler", "normal", cfg=1.0), ref) <= TOL


SDXL_MORE = [("euler", "normal"), ("dpmpp_2m", "karras"), ("dpmpp_sde", "karras")]


@pytest.mark.parametrize(("sampler", "scheduler"), SDXL_MORE, ids=[f"{s}-{k}" for s, k in SDXL_MORE])
def test_sdxl_controlnet_matches_sdxl_controlnet_pipeline(sdxl, sampler, scheduler):
    (hint,) = _hints(1)
    pipe = diffusers.StableDiffusionXLControlNetPipeline(
        vae=sdxl.vae, text_encoder=sdxl.encoder, text_encoder_2=sdxl.encoder_2, tokenizer=sdxl.tokenizer,
        tokenizer_2=sdxl.tokenizer, unet=sdxl.unet, controlnet=sdxl.controlnet,
        scheduler=_scheduler(sampler, scheduler, sdxl.model.scheduler_config), add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=hint, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3,
               guidance_scale=6.0, controlnet_conditioning_scale=0.9, control_guidance_start=0.3,
               control_guidance_end=1.0, generator=_gen(), output_type="latent").images
    from studio.diffusion.values import ControlNet

    spec = ControlSpec(ControlNet("sdxl", sdxl.controlnet), hint, strength=0.9, start=0.3, end=1.0)
    pos = prompts.encode_prompt(sdxl.clip, PROMPT).with_control(spec)
    neg = prompts.encode_prompt(sdxl.clip, NEGATIVE).with_control(spec)
    ours = _ours(sdxl, sampler, scheduler, positive=pos, negative=neg)
    assert _diff(ours, ref) <= TOL
    assert _diff(ours, _ours(sdxl, sampler, scheduler)) > 1e-3


@pytest.mark.parametrize(("sampler", "scheduler"), SDXL_MORE, ids=[f"{s}-{k}" for s, k in SDXL_MORE])
def test_sdxl_img2img_matches_sdxl_img2img_pipeline(sdxl, sampler, scheduler):
    init = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9))
    pipe = diffusers.StableDiffusionXLImg2ImgPipeline(
        vae=sdxl.vae, text_encoder=sdxl.encoder, text_encoder_2=sdxl.encoder_2, tokenizer=sdxl.tokenizer,
        tokenizer_2=sdxl.tokenizer, unet=sdxl.unet, scheduler=_scheduler(sampler, scheduler, sdxl.model.scheduler_config),
        requires_aesthetics_score=False, add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=init, strength=0.75, negative_prompt=NEGATIVE, num_inference_steps=4,
               guidance_scale=6.0, generator=_gen(), output_type="latent").images
    ours = _ours(sdxl, sampler, scheduler, Latent("sdxl", init), steps=4, denoise=0.75)
    assert _diff(ours, ref) <= TOL


def test_guidance_embedding_unet_matches_pipeline(sd15):
    # UNets distilled with a guidance-scale input (time_cond_proj_dim, as LCM models have).
    from dataclasses import replace

    torch.manual_seed(3)
    config = dict(sd15.unet.config)
    config["time_cond_proj_dim"] = 16
    unet = diffusers.UNet2DConditionModel.from_config(config).eval()
    pipe = diffusers.StableDiffusionPipeline(
        vae=sd15.vae, text_encoder=sd15.encoder, tokenizer=sd15.tokenizer, unet=unet,
        scheduler=_scheduler("lcm", "normal", sd15.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=3.0,
               generator=_gen(), output_type="latent").images
    model = replace(sd15.model, unet=unet)
    ours = sampling.sample(model, prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE),
                           Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3, cfg=3.0, sampler="lcm",
                           scheduler="normal").samples
    assert _diff(ours, ref) <= TOL
