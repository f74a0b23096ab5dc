"""The denoising loop: our own, over diffusers components (UNet, scheduler, ControlNets).

It reproduces what diffusers' ``StableDiffusionPipeline``, ``StableDiffusionImg2ImgPipeline``,
``StableDiffusion(XL)ControlNetPipeline`` and ``StableDiffusionXLPipeline`` compute for the same
weights, seed and settings, step by step, while adding what a pipeline call cannot: any number of
ControlNets per prompt half, a cancel check and a preview at every step.

Rules, stated once:

- **Noise.** Every random draw comes from one CPU ``torch.Generator`` seeded with ``seed``, through
  diffusers' ``randn_tensor`` (drawn on the CPU, then moved): the same seed gives the same image on
  CUDA, MPS or CPU, and the same as a diffusers pipeline given ``torch.Generator("cpu")``.
  DPM++ SDE draws from a Brownian tree seeded with ``seed`` itself, built on the CPU for the same reason.
- **txt2img or img2img.** ``denoise`` ≥ 1: the latent only gives the batch and size; sampling starts
  from pure noise × ``init_noise_sigma`` (an empty latent is all zeros, so this is txt2img).
  ``denoise`` < 1: img2img from the latent with diffusers' ``strength`` semantics: the last
  ``int(steps × denoise)`` of ``steps`` timesteps are run, starting from the latent noised to the
  first of them. ``denoise`` = 0 returns the latent unchanged.
- **CFG.** The batch is [negative, positive] like the pipelines. ``cfg`` = 1 runs the positive half
  only (the result is identical); unlike the pipelines, ``cfg`` < 1 still applies the CFG formula.
  A positive and a negative of different lengths (long prompts) are tiled to a common length, which
  leaves cross-attention unchanged (repeated keys/values do not change a softmax average).
- **ControlNets** come from ``positive.controls`` and ``negative.controls``. A spec attached to both
  (what ``control.apply`` does) runs once on the whole CFG batch, exactly as the diffusers pipelines
  apply control to both halves; a spec on one side only runs on that half. ``start``/``end`` are
  fractions of the loop's iterations as diffusers' ``control_guidance_start/end``; residuals of
  several ControlNets add up. The hint is resized to the output size by diffusers' own
  ``VaeImageProcessor`` (stretch, nearest), as the pipelines do.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.context import NodeFailure, OutOfMemory

from .schedulers import make_scheduler
from .vae import SCALE, _oom, free_memory
from .values import Conditioning, ControlSpec, Latent, UNetModel

StepCallback = Callable[[int, int, Any], None]


@dataclass
class _ControlJob:
    spec: ControlSpec
    rows: slice  # rows of the model batch it conditions
    hint: Any  # (rows, 3, H, W) on the ControlNet's device


def check_families(model: UNetModel, positive: Conditioning, negative: Conditioning, latent: Latent) -> None:
    fam = model.family
    for what, value in (("CONDITIONING", positive), ("CONDITIONING", negative)):
        if value.family != fam:
            raise NodeFailure(f"{what}[{value.family}] does not fit MODEL[{fam}]")
    if latent.family not in ("any", fam):
        raise NodeFailure(f"LATENT[{latent.family}] does not fit MODEL[{fam}]")
    for cond in (positive, negative):
        for spec in cond.controls:
            if spec.controlnet.family != fam:
                raise NodeFailure(f"CONTROL_NET[{spec.controlnet.family}] does not fit MODEL[{fam}]")


def img2img_timesteps(scheduler: Any, steps: int, denoise: float) -> Any:
    """diffusers' img2img ``get_timesteps``: the tail of the schedule that ``denoise`` (strength) keeps."""
    init_timestep = min(int(steps * denoise), steps)
    t_start = max(steps - init_timestep, 0)
    order = getattr(scheduler, "order", 1)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(t_start * order)
    return scheduler.timesteps[t_start * order:]


def denoised_estimate(scheduler: Any, output: Any, model_output: Any, sample: Any) -> Any:
    """The scheduler's estimate of the clean latent (x0) at the step just taken.

    Most diffusers schedulers return it (``pred_original_sample``; LCM's ``denoised``). The
    multistep DPM-Solver++ and UniPC schedulers return only the next sample; for them x0 is computed
    from the model output as their own ``convert_model_output`` does, with the VP coefficients of the
    sigma they used at this step (alpha_t = 1/√(σ²+1), sigma_t = σ·alpha_t).
    """
    for name in ("pred_original_sample", "denoised"):
        x0 = getattr(output, name, None)
        if x0 is not None:
            return x0
    sigma = scheduler.sigmas[scheduler.step_index - 1].to(sample.device, sample.dtype)
    alpha_t = (sigma**2 + 1) ** -0.5
    sigma_t = sigma * alpha_t
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return (sample - sigma_t * model_output) / alpha_t
    if kind == "v_prediction":
        return alpha_t * sample - sigma_t * model_output
    if kind == "sample":
        return model_output
    raise NodeFailure(f"cannot preview a model with prediction type {kind!r}")


def _per_batch(t: Any, batch: int, what: str) -> Any:
    if t.shape[0] == batch:
        return t
    if t.shape[0] == 1:
        return t.repeat(batch, *([1] * (t.ndim - 1)))
    raise NodeFailure(f"{what} has a batch of {t.shape[0]}, the latent {batch}")


def _common_length(a: Any, b: Any) -> tuple[Any, Any]:
    la, lb = a.shape[1], b.shape[1]
    if la == lb:
        return a, b
    n = math.lcm(la, lb)
    return a.repeat(1, n // la, 1), b.repeat(1, n // lb, 1)


def _time_ids(cond: Conditioning, height: int, width: int) -> list[int]:
    """SDXL micro-conditioning: original size, crop top-left, target size; sizes default to the output."""
    ex = cond.extras
    return [*ex.get("original_size", (height, width)), *ex.get("crop_top_left", (0, 0)),
            *ex.get("target_size", (height, width))]


def _guidance_embedding(w: Any, dim: int, dtype: Any) -> Any:
    # Guidance-distilled UNets (time_cond_proj_dim set, e.g. LCM): diffusers' pipeline helper is a
    # method that uses no state, so it is called unbound.
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.get_guidance_scale_embedding(None, w, embedding_dim=dim, dtype=dtype)


def _control_jobs(positive: Conditioning, negative: Conditioning, batch: int, cfg_on: bool,
                  height: int, width: int) -> list[_ControlJob]:
    from diffusers.image_processor import VaeImageProcessor

    # The ControlNet pipelines' own hint preparation: to float tensor, resize to the output size.
    processor = VaeImageProcessor(vae_scale_factor=SCALE, do_convert_rgb=True, do_normalize=False)
    pos = list(positive.controls)
    neg = list(negative.controls) if cfg_on else []
    # Rows of the model batch: [negative, positive] with CFG, [positive] without.
    whole = slice(0, 2 * batch if cfg_on else batch)
    cond_half = slice(batch, 2 * batch) if cfg_on else whole
    uncond_half = slice(0, batch)
    placed = [(s, whole if s in neg else cond_half) for s in pos] + [(s, uncond_half) for s in neg if s not in pos]
    jobs = []
    for spec, rows in placed:
        cn = spec.controlnet.model
        # IMAGE (B, H, W, 3) float in [0, 1], as numpy: the layout VaeImageProcessor expects of arrays.
        hint = spec.hint.detach().cpu().numpy() if hasattr(spec.hint, "detach") else spec.hint
        hint = np.asarray(hint, dtype=np.float32)
        hint = processor.preprocess(hint, height=height, width=width).to(dtype=cn.dtype).to(cn.device)
        hint = _per_batch(hint, batch, "a ControlNet hint image")
        if cfg_on and rows is whole:
            hint = hint.repeat(2, 1, 1, 1)
        jobs.append(_ControlJob(spec, rows, hint))
    return jobs


def _seed_brownian_tree(scheduler: Any, shape: tuple[int, ...], seed: int, device: Any, dtype: Any) -> None:
    """DPMSolverSDEScheduler would build its Brownian tree lazily on the sample's device (and from
    the global RNG without a seed); build it here on the CPU from ``seed`` so that it is the same
    noise everywhere, and equal to diffusers' with ``noise_sampler_seed=seed`` on the CPU."""
    import torch
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    sigmas = scheduler.sigmas
    # float32 on the CPU whatever the model runs in: the same noise for fp16 on a GPU as for fp32 here.
    tree = BrownianTreeNoiseSampler(torch.zeros(shape, dtype=torch.float32), sigmas[sigmas > 0].min().item(),
                                    sigmas.max().item(), seed)

    def noise(s0: Any, s1: Any) -> Any:
        with warnings.catch_warnings():
            # torchsde notes float round-off at the tree's ends ("Should have ta>=t0"); harmless.
            warnings.filterwarnings("ignore", message="Should have", category=UserWarning)
            return tree(s0.cpu(), s1.cpu()).to(device=device, dtype=dtype)

    scheduler.noise_sampler = noise


def sample(
    model: UNetModel,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    *,
    seed: int,
    steps: int,
    cfg: float,
    sampler: str,
    scheduler: str,
    denoise: float = 1.0,
    on_step: StepCallback | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Latent:
    """Denoise ``latent``; returns LATENT[model family] on the CPU in float32.

    ``on_step(step, total, x0)`` runs after each model evaluation (``total`` counts evaluations, so
    second-order samplers report 2·steps-1 of them); ``check_cancel()`` runs before each, so a cancel
    takes effect within one step.
    """
    check_families(model, positive, negative, latent)
    if steps < 1:
        raise NodeFailure("steps must be at least 1")
    if denoise <= 0:
        return Latent(family=model.family, samples=latent.samples, noise_mask=latent.noise_mask)
    try:
        return _sample(model, positive, negative, latent, seed=seed, steps=steps, cfg=cfg, sampler=sampler,
                       scheduler=scheduler, denoise=denoise, on_step=on_step, check_cancel=check_cancel)
    except Exception as exc:
        if not _oom(exc):
            raise
        free_memory()
        b, _, h, w = latent.samples.shape
        raise OutOfMemory(f"out of memory sampling {w * SCALE}×{h * SCALE} with a batch of {b}; "
                          "try a smaller size or batch") from None


def _sample(model: UNetModel, positive: Conditioning, negative: Conditioning, latent: Latent, *, seed: int,
            steps: int, cfg: float, sampler: str, scheduler: str, denoise: float,
            on_step: StepCallback | None, check_cancel: Callable[[], None] | None) -> Latent:
    import torch
    from diffusers import DPMSolverSDEScheduler
    from diffusers.utils.torch_utils import randn_tensor

    unet = model.unet
    device, dtype = unet.device, unet.dtype
    init = latent.samples
    if init.ndim != 4 or init.shape[1] != unet.config.in_channels:
        raise NodeFailure(f"the latent has shape {tuple(init.shape)}; this model needs "
                          f"{unet.config.in_channels} channels")
    batch, _, lh, lw = init.shape
    height, width = lh * SCALE, lw * SCALE
    sched = make_scheduler(sampler, scheduler, model.scheduler_config)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    cfg_on = cfg != 1.0

    with torch.no_grad():
        # --- timesteps and starting latents ---------------------------------------------------
        sched.set_timesteps(steps, device=device)
        if denoise >= 1.0:
            timesteps = sched.timesteps
            noise = randn_tensor(tuple(init.shape), generator=generator, device=device, dtype=dtype)
            latents = noise * sched.init_noise_sigma
        else:
            timesteps = img2img_timesteps(sched, steps, denoise)
            if len(timesteps) == 0:
                raise NodeFailure(f"denoise {denoise:g} of {steps} steps leaves no step to run; "
                                  "raise steps or denoise")
            noise = randn_tensor(tuple(init.shape), generator=generator, device=device, dtype=dtype)
            latents = sched.add_noise(init.to(device=device, dtype=dtype), noise, timesteps[:1].repeat(batch))
        if isinstance(sched, DPMSolverSDEScheduler):
            _seed_brownian_tree(sched, tuple(init.shape), int(seed), device, dtype)

        # --- conditioning ---------------------------------------------------------------------
        pos = _per_batch(positive.embeds.to(device=device, dtype=dtype), batch, "the positive conditioning")
        if cfg_on:
            neg = _per_batch(negative.embeds.to(device=device, dtype=dtype), batch, "the negative conditioning")
            neg, pos = _common_length(neg, pos)
            embeds = torch.cat([neg, pos])
        else:
            embeds = pos
        halves = [negative, positive] if cfg_on else [positive]

        added: dict[str, Any] | None = None
        if getattr(unet.config, "addition_embed_type", None) == "text_time":  # SDXL
            if any(c.pooled is None for c in halves):
                raise NodeFailure("this SDXL model needs conditioning with a pooled embedding "
                                  "(encode the prompt with an SDXL CLIP)")
            text_embeds = torch.cat([_per_batch(c.pooled.to(device=device, dtype=dtype), batch, "pooled embedding")
                                     for c in halves])
            time_ids = torch.tensor([_time_ids(c, height, width) for c in halves], dtype=dtype, device=device)
            added = {"text_embeds": text_embeds, "time_ids": time_ids.repeat_interleave(batch, dim=0)}

        timestep_cond = None
        if getattr(unet.config, "time_cond_proj_dim", None) is not None:
            w = torch.tensor(cfg - 1).repeat(batch)
            timestep_cond = _guidance_embedding(w, unet.config.time_cond_proj_dim, dtype).to(device, dtype)
            if cfg_on:
                timestep_cond = timestep_cond.repeat(2, 1)

        jobs = _control_jobs(positive, negative, batch, cfg_on, height, width)

        step_params = inspect.signature(sched.step).parameters
        step_kwargs: dict[str, Any] = {}
        if "generator" in step_params:
            step_kwargs["generator"] = generator
        if "eta" in step_params:
            step_kwargs["eta"] = 0.0

        # --- the loop -------------------------------------------------------------------------
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            if check_cancel is not None:
                check_cancel()
            model_in = torch.cat([latents] * 2) if cfg_on else latents
            model_in = sched.scale_model_input(model_in, t)

            down, mid = _control_residuals(jobs, i, total, model_in, t, embeds, added)
            noise_pred = unet(
                model_in, t, encoder_hidden_states=embeds, timestep_cond=timestep_cond,
                down_block_additional_residuals=down, mid_block_additional_residual=mid,
                added_cond_kwargs=added, return_dict=False,
            )[0]
            if cfg_on:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + cfg * (cond - uncond)

            out = sched.step(noise_pred, t, latents, **step_kwargs, return_dict=True)
            if on_step is not None:
                on_step(i + 1, total, denoised_estimate(sched, out, noise_pred, latents))
            latents = out.prev_sample

    return Latent(family=model.family, samples=latents.float().cpu())


def _control_residuals(jobs: list[_ControlJob], i: int, total: int, model_in: Any, t: Any, embeds: Any,
                       added: dict[str, Any] | None) -> tuple[Any, Any]:
    """Summed ControlNet residuals for loop iteration ``i`` (None when no ControlNet is active)."""
    down: list[Any] | None = None
    mid: Any = None
    for job in jobs:
        spec = job.spec
        # diffusers' controlnet_keep: on only while the iteration lies inside [start, end].
        keep = 1.0 - float(i / total < spec.start or (i + 1) / total > spec.end)
        scale = spec.strength * keep
        if scale == 0.0:
            continue  # its residuals would be exact zeros
        cn = spec.controlnet.model
        rows = job.rows
        kwargs = {}
        if added is not None:
            kwargs["added_cond_kwargs"] = {k: v[rows] for k, v in added.items()}
        d, m = cn(
            model_in[rows].to(cn.dtype), t, encoder_hidden_states=embeds[rows].to(cn.dtype),
            controlnet_cond=job.hint, conditioning_scale=scale, guess_mode=False, return_dict=False, **kwargs,
        )
        if rows.stop - rows.start != model_in.shape[0]:
            d = [_place(r, rows, model_in.shape[0]) for r in d]
            m = _place(m, rows, model_in.shape[0])
        d = [r.to(model_in.device, model_in.dtype) for r in d]
        m = m.to(model_in.device, model_in.dtype)
        if down is None:
            down, mid = d, m
        else:
            down = [a + b for a, b in zip(down, d, strict=True)]
            mid = mid + m
    return (down, mid) if down is not None else (None, None)


def _place(r: Any, rows: slice, size: int) -> Any:
    """Residuals for some rows of the batch, zero elsewhere."""
    import torch

    full = torch.zeros((size, *r.shape[1:]), dtype=r.dtype, device=r.device)
    full[rows] = r
    return full
