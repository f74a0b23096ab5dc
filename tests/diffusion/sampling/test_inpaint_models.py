"""Inpainting checkpoints (9-channel UNets) conditioned by the Inpaint Conditioning node, against diffusers'
StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline and StableDiffusionControlNetInpaintPipeline.

One difference by design: our VAE encodes with its distribution's mean (the same image always gives the
same latents), where the pipelines sample it with the run's generator, which also shifts every later
draw. The pipelines' ``_encode_vae_image`` is given the mean here (of a contiguous copy of the image:
theirs is a strided view of the numpy array, which convolutions round differently, by ~1e-7); everything
else — the mask's binarizing and resizing, the masked image, the channel order, the schedule, noise and
CFG — is theirs. The node's latent carries no noise mask (``noise_mask`` off): the pipelines do not blend
a 9-channel UNet's latents, and neither does our sampler unless the latent has a noise mask.

The parity tests run a few samplers by default and every sampler × scheduler with ``-m slow``.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import diffusers
import numpy as np
import pytest
import torch

from nodes.inpaint import inpaint_conditioning
from studio.core.context import CancelToken, NodeContext, NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.values import ControlSpec, Latent, UNetModel

from .test_sampling_parity import COMBOS, NEGATIVE, PROMPT, SEED, TOL, _diff, _gen, _scheduler

STEPS = 4
CFG = 6.0
# A first-order, an ancestral (noise drawn in its steps), a multistep and a DDIM-family sampler.
FEW = [("euler", "normal"), ("euler_ancestral", "normal"), ("dpmpp_2m", "karras"), ("ddim", "normal")]
FEW_IDS = [f"{s}-{k}" for s, k in FEW]
# Every combination, those outside FEW marked slow.
SWEEP = [pytest.param(s, k, id=f"{s}-{k}", marks=() if (s, k) in FEW else pytest.mark.slow) for s, k in COMBOS]


def _nine_channels(unet, seed: int):
    torch.manual_seed(seed)
    return diffusers.UNet2DConditionModel.from_config({**unet.config, "in_channels": 9}).eval()


@pytest.fixture(scope="module")
def sd15_inpaint(sd15):
    unet = _nine_channels(sd15.unet, 11)
    return SimpleNamespace(**{**vars(sd15), "unet": unet, "model": UNetModel("sd15", unet, dict(sd15.model.scheduler_config))})


@pytest.fixture(scope="module")
def sdxl_inpaint(sdxl):
    unet = _nine_channels(sdxl.unet, 12)
    return SimpleNamespace(**{**vars(sdxl), "unet": unet, "model": UNetModel("sdxl", unet, dict(sdxl.model.scheduler_config))})


def _image(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(7).random((batch, 64, 64, 3), dtype=np.float32)


def _mask() -> np.ndarray:
    """Soft edges (the pipelines binarize at 0.5) and a stripe thinner than a latent cell."""
    m = np.zeros((1, 64, 64), np.float32)
    m[:, 16:48, 8:40] = 1.0
    m[:, 14:16, 8:40] = 0.6  # counts as masked
    m[:, 48:50, 8:40] = 0.4  # counts as kept
    m[:, 3:5, 50:61] = 1.0
    return m


def _ctx(events=None) -> NodeContext:
    sink = events if events is not None else []
    return NodeContext(node_id="i", title="Inpaint Conditioning", run_id=1, cancel=CancelToken(),
                       emit=lambda kind, data: sink.append((kind, data)))


def _condition(ns, image=None, mask=None, *, noise_mask=False, events=None):
    pos, neg = prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE)
    return inpaint_conditioning(_ctx(events), positive=pos, negative=neg, vae=ns.vae_model,
                                pixels=_image() if image is None else image, mask=_mask() if mask is None else mask,
                                noise_mask=noise_mask)


def _ours(ns, sampler, scheduler, *, denoise, positive=None, negative=None, latent=None, **kw):
    pos, neg, lat = _condition(ns, **kw)
    return sampling.sample(ns.model, positive or pos, negative or neg, latent or lat, seed=SEED, steps=STEPS,
                           cfg=CFG, sampler=sampler, scheduler=scheduler, denoise=denoise).samples


def _mean_encoding(pipe) -> None:
    """The pipeline encodes with the VAE's mean, as ours does (see the module docstring)."""
    def encode(image, generator):
        return pipe.vae.config.scaling_factor * pipe.vae.encode(image.contiguous()).latent_dist.mode()

    pipe._encode_vae_image = encode


def _run(pipe, **kw):
    _mean_encoding(pipe)
    pipe.set_progress_bar_config(disable=True)
    return pipe(PROMPT, negative_prompt=NEGATIVE, image=_image(), mask_image=torch.from_numpy(_mask())[:, None],
                height=64, width=64, num_inference_steps=STEPS, guidance_scale=CFG, generator=_gen(),
                output_type="latent", **kw).images


def _sd_pipe(ns, sampler, scheduler):
    return diffusers.StableDiffusionInpaintPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=ns.unet,
        scheduler=_scheduler(sampler, scheduler, ns.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)


# --- parity -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("strength", [1.0, 0.75])
@pytest.mark.parametrize(("sampler", "scheduler"), SWEEP)
def test_sd15_inpainting_model_matches_inpaint_pipeline(sd15_inpaint, sampler, scheduler, strength):
    ref = _run(_sd_pipe(sd15_inpaint, sampler, scheduler), strength=strength)
    ours = _ours(sd15_inpaint, sampler, scheduler, denoise=strength)
    assert _diff(ours, ref) <= TOL


@pytest.mark.parametrize("strength", [1.0, 0.75])
@pytest.mark.parametrize(("sampler", "scheduler"), SWEEP)
def test_sdxl_inpainting_model_matches_sdxl_inpaint_pipeline(sdxl_inpaint, sampler, scheduler, strength):
    ns = sdxl_inpaint
    pipe = diffusers.StableDiffusionXLInpaintPipeline(
        vae=ns.vae, text_encoder=ns.encoder, text_encoder_2=ns.encoder_2, tokenizer=ns.tokenizer,
        tokenizer_2=ns.tokenizer, unet=ns.unet, scheduler=_scheduler(sampler, scheduler, ns.model.scheduler_config),
        requires_aesthetics_score=False, add_watermarker=False)
    # The pipeline's strength defaults to 0.9999, not 1; its denoising_start/end (a base/refiner split
    # by noise level) is what our start/end steps do by step, so it is left unset here.
    ref = _run(pipe, strength=strength)
    ours = _ours(ns, sampler, scheduler, denoise=strength)
    assert _diff(ours, ref) <= TOL


@pytest.mark.parametrize("strength", [1.0, 0.75])
@pytest.mark.parametrize(("sampler", "scheduler"), SWEEP)
def test_controlnet_with_inpainting_model_matches_controlnet_inpaint_pipeline(sd15_inpaint, sampler, scheduler,
                                                                              strength):
    ns = sd15_inpaint
    # The pipeline hands its control image to the ControlNet as given (resized, not normalized), apart
    # from the image it inpaints: an inpainting ControlNet wants the masked pixels marked in it, which
    # is the hint's preprocessor's business. Both sides get the same hint here.
    hint = np.random.default_rng(5).random((1, 48, 40, 3), dtype=np.float32)
    pipe = diffusers.StableDiffusionControlNetInpaintPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=ns.unet, controlnet=ns.controlnets[0],
        scheduler=_scheduler(sampler, scheduler, ns.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    ref = _run(pipe, control_image=hint, strength=strength, controlnet_conditioning_scale=0.8,
               control_guidance_start=0.0, control_guidance_end=0.75)
    pos, neg, latent = _condition(ns)
    spec = ControlSpec(ns.control[0], hint, strength=0.8, start=0.0, end=0.75)
    ours = sampling.sample(ns.model, pos.with_control(spec), neg.with_control(spec), latent, seed=SEED, steps=STEPS,
                           cfg=CFG, sampler=sampler, scheduler=scheduler, denoise=strength).samples
    assert _diff(ours, ref) <= TOL
    # Control must matter, or this comparison proves nothing.
    assert _diff(ours, sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=STEPS, cfg=CFG, sampler=sampler,
                                       scheduler=scheduler, denoise=strength).samples) > 1e-3


@pytest.mark.parametrize(("sampler", "scheduler"), FEW[:3], ids=FEW_IDS[:3])
def test_batches_and_cfg_one_match_the_pipeline(sd15_inpaint, sampler, scheduler):
    ns = sd15_inpaint
    ref = _run(_sd_pipe(ns, sampler, scheduler), strength=0.75, num_images_per_prompt=2)
    # A batch of two images with one mask: the mask repeats over the batch, as in the pipeline.
    ours = _ours(ns, sampler, scheduler, denoise=0.75, image=_image().repeat(2, axis=0))
    assert _diff(ours, ref) <= TOL
    pipe = _sd_pipe(ns, sampler, scheduler)
    _mean_encoding(pipe)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=_image(), mask_image=torch.from_numpy(_mask())[:, None], num_inference_steps=STEPS,
               guidance_scale=1.0, generator=_gen(), output_type="latent").images
    pos, neg, latent = _condition(ns)
    ours = sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=STEPS, cfg=1.0, sampler=sampler,
                           scheduler=scheduler).samples
    assert _diff(ours, ref) <= TOL


# --- what the node builds ----------------------------------------------------------------------------

def test_concat_is_what_the_pipeline_prepares(sd15_inpaint):
    ns = sd15_inpaint
    pipe = _sd_pipe(ns, "euler", "normal")
    pos, neg, latent = _condition(ns)
    # The pipeline's own preprocessing: binarized mask, masked image, mask resized to the latent.
    mask_condition = pipe.mask_processor.preprocess(torch.from_numpy(_mask())[:, None], height=64, width=64)
    init = pipe.image_processor.preprocess(_image(), height=64, width=64).contiguous()
    masked = init * (mask_condition < 0.5)
    with torch.no_grad():
        masked_latents = pipe.vae.config.scaling_factor * pipe.vae.encode(masked).latent_dist.mode()
        mask, masked_latents = pipe.prepare_mask_latents(mask_condition, masked_latents, 1, 64, 64, torch.float32,
                                                         torch.device("cpu"), None, False)
        whole = pipe.vae.config.scaling_factor * pipe.vae.encode(init).latent_dist.mode()
    assert pos.concat.shape == (1, 5, 8, 8) and pos.concat is neg.concat
    assert torch.equal(pos.concat, torch.cat([mask, masked_latents], dim=1))
    # The latent is the whole image encoded (not the masked one), without a noise mask when it is off.
    assert torch.equal(latent.samples, whole) and latent.noise_mask is None
    assert latent.family == "sd15" and pos.embeds is not None and pos.family == "sd15"


def test_noise_mask_is_set_by_default_and_keeps_the_unmasked_area(sd15_inpaint):
    ns = sd15_inpaint
    events: list = []
    pos, neg, latent = _condition(ns, noise_mask=True, events=events)
    assert latent.noise_mask is not None and np.array_equal(np.asarray(latent.noise_mask), _mask())
    assert [k for k, _ in events] == ["preview"]  # no warnings for a matching image and mask
    out = sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=STEPS, cfg=CFG, sampler="euler",
                          scheduler="normal", denoise=0.75).samples
    keep = torch.from_numpy(_mask()[:, ::8, ::8] == 0)[0]  # whole latent cells outside the mask
    assert torch.equal(out[:, :, keep], latent.samples[:, :, keep])
    # Without the noise mask the 9-channel model repaints everywhere (no blending), as the pipeline.
    plain = sampling.sample(ns.model, pos, neg, replace(latent, noise_mask=None), seed=SEED, steps=STEPS, cfg=CFG,
                            sampler="euler", scheduler="normal", denoise=0.75).samples
    assert float((plain[:, :, keep] - latent.samples[:, :, keep]).abs().max()) > 1e-2
    assert inpaint_conditioning.inputs[-1].default is True


def test_mask_of_another_size_and_odd_image_sizes(sd15_inpaint):
    ns = sd15_inpaint
    events: list = []
    image = np.random.default_rng(2).random((1, 70, 67, 3), dtype=np.float32)
    small = _mask()[:, ::2, ::2]  # 32×32, stretched to the image first
    pos, _, latent = _condition(ns, image=image, mask=small, noise_mask=True, events=events)
    warnings = [d["message"] for k, d in events if k == "log" and d["level"] == "warning"]
    assert any("stretched" in w for w in warnings) and any("centre-cropped" in w for w in warnings)
    assert pos.concat.shape == (1, 5, 8, 8) and latent.samples.shape == (1, 4, 8, 8)
    assert latent.noise_mask.shape == (1, 64, 64)


def test_negative_without_concat_borrows_the_positive(sd15_inpaint):
    ns = sd15_inpaint
    pos, neg, latent = _condition(ns)
    both = sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=2, cfg=CFG, sampler="euler",
                           scheduler="normal").samples
    borrowed = sampling.sample(ns.model, pos, replace(neg, concat=None), latent, seed=SEED, steps=2, cfg=CFG,
                               sampler="euler", scheduler="normal").samples
    assert torch.equal(both, borrowed)
    # Each half's own concat is used where they differ.
    other = replace(neg, concat=torch.zeros_like(pos.concat))
    differs = sampling.sample(ns.model, pos, other, latent, seed=SEED, steps=2, cfg=CFG, sampler="euler",
                              scheduler="normal").samples
    assert _diff(differs, both) > 1e-3


def test_concat_of_another_size_is_resized_to_the_latent(sd15_inpaint):
    ns = sd15_inpaint
    pos, neg, latent = _condition(ns)
    big = Latent("sd15", torch.nn.functional.interpolate(latent.samples, size=(16, 16)))
    out = sampling.sample(ns.model, pos, neg, big, seed=SEED, steps=2, cfg=CFG, sampler="euler",
                          scheduler="normal").samples
    assert out.shape == (1, 4, 16, 16) and torch.isfinite(out).all()


def test_inpainting_model_without_inpaint_conditioning_fails_clearly(sd15_inpaint):
    ns = sd15_inpaint
    pos, neg = prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE)
    with pytest.raises(NodeFailure, match="inpainting model.*Inpaint Conditioning"):
        sampling.sample(ns.model, pos, neg, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=2, cfg=CFG,
                        sampler="euler", scheduler="normal")
    with pytest.raises(NodeFailure, match="5 input channels besides the latent.*shape \\(1, 3, 8, 8\\)"):
        sampling.sample(ns.model, replace(pos, concat=torch.zeros(1, 3, 8, 8)), neg,
                        Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=2, cfg=CFG, sampler="euler",
                        scheduler="normal")
    with pytest.raises(NodeFailure, match="this model needs 4 channels"):
        sampling.sample(ns.model, pos, neg, Latent("sd15", torch.zeros(1, 9, 8, 8)), seed=SEED, steps=2, cfg=CFG,
                        sampler="euler", scheduler="normal")


def test_ordinary_model_ignores_the_concat(sd15):
    pos, neg, latent = _condition(sd15, noise_mask=True)
    plain_pos, plain_neg = replace(pos, concat=None), replace(neg, concat=None)
    args = dict(seed=SEED, steps=3, cfg=CFG, sampler="euler", scheduler="normal", denoise=0.75)
    with_concat = sampling.sample(sd15.model, pos, neg, latent, **args).samples
    without = sampling.sample(sd15.model, plain_pos, plain_neg, latent, **args).samples
    assert torch.equal(with_concat, without)


def test_sdxl_conditioning_with_an_sd15_vae_is_refused(sdxl_inpaint, sd15):
    pos, neg = prompts.encode_prompt(sdxl_inpaint.clip, PROMPT), prompts.encode_prompt(sdxl_inpaint.clip, NEGATIVE)
    with pytest.raises(NodeFailure, match=r"VAE\[sd15\] does not fit"):
        inpaint_conditioning(_ctx(), positive=pos, negative=neg, vae=sd15.vae_model, pixels=_image(), mask=_mask(),
                             noise_mask=True)
