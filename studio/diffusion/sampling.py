"""The sampling loop: a diffusers scheduler stepping over a denoiser, with hooks around each step.

In DESIGN.md's terms ("Denoiser and hooks"):

- the **denoiser** (``studio.diffusion.denoiser``) wraps the model: given the scheduler-scaled latent
  and the timestep it returns the model output after CFG, with ControlNet residuals and the other
  extension points (conditioning patches, input extensions) applied;
- the **scheduler** is diffusers' own and steps exactly as in the pipelines (``scale_model_input``,
  the denoiser, ``step``); its output gives the next sample and the x0 estimate;
- **step hooks** (``StepHooks``) run around each step: ``before`` (the cancel check) and ``after``
  (inpaint-mask blending, then previews). A hook is a function of one ``StepState``.

It reproduces what diffusers' ``StableDiffusionPipeline``, ``StableDiffusionImg2ImgPipeline``,
``StableDiffusion(XL)InpaintPipeline`` (4- and 9-channel UNets), ``StableDiffusionControlNetInpaintPipeline``,
``StableDiffusion(XL)ControlNetPipeline`` and ``StableDiffusionXLPipeline`` compute for the same weights, seed and settings, step by step, while adding
what a pipeline call cannot: any number of ControlNets per prompt half, runs split in two, a cancel check
and a preview at every step.

Rules, stated once (CFG, SDXL and ControlNet rules: see ``build_denoiser``):

- **Noise.** Every random draw comes from one CPU ``torch.Generator`` seeded with ``seed``, through
  diffusers' ``randn_tensor`` (drawn on the CPU, then moved): the same seed gives the same image on
  CUDA, MPS or CPU, and the same as a diffusers pipeline given ``torch.Generator("cpu")``. The starting
  noise is drawn even when it is not added, so later draws (ancestral, SDE) do not depend on
  ``add_noise``. DPM++ SDE draws from a Brownian tree seeded with ``seed`` itself, built on the CPU.
- **Schedule.** The scheduler's timesteps are set for ``steps``. ``denoise`` ≥ 1 keeps them all;
  ``denoise`` < 1 keeps the last ``int(steps × denoise)`` steps, diffusers' ``strength``;
  ``denoise`` = 0 returns the latent unchanged. A *step* is one interval of noise levels: one model
  evaluation, or two for second-order samplers (heun, dpmpp_sde; their last step has one).
- **Stop and resume** (ComfyUI's advanced sampler). ``start_step`` and ``end_step`` count steps of the
  schedule that ``denoise`` kept (0 = its first); only steps [start_step, end_step) run, and
  ``end_step`` past the end means to the end. ControlNet start/end fractions stay fractions of the
  whole kept schedule, so both halves of a split run see control exactly as one run would.
- **Starting latents.** With ``add_noise`` (the default) the run starts from noise: at the very first
  step of a full-strength schedule from pure noise × ``init_noise_sigma`` (the latent gives only batch,
  size and, with a noise mask, the kept area: txt2img), otherwise from the latent noised to the first
  step's timestep with the scheduler's ``add_noise`` (img2img). Without ``add_noise`` the latent is
  used as it is: it already carries noise at the first step's level, in the form below.
- **Leftover noise.** A run that stops before the end of the schedule with ``return_leftover_noise``
  returns the sample as it stands, at the noise level of step ``end_step``, as ``x0 + σ·ε`` (the
  variance-exploding form of k-diffusion and ComfyUI, whatever the scheduler keeps internally), so
  another sampler, or the same one with ``start_step = end_step`` and ``add_noise`` off, continues it.
  Without ``return_leftover_noise`` its last step goes to noise level 0, as ComfyUI does: the result
  is that step's x0 estimate, which is what every sampler here gives for a final step to σ = 0.
  A run split at step k (``end_step=k`` with leftover noise, then ``start_step=k`` without
  ``add_noise``, same settings) equals the uninterrupted run for samplers whose step depends only on
  the current sample: euler, heun, ddim, and dpmpp_sde (its Brownian noise depends only on the seed
  and the noise levels). Multistep solvers (dpmpp_2m, dpmpp_2m_sde, uni_pc) restart their history at
  the split; ancestral and SDE samplers and lcm draw their later noise from a generator that is at
  another state after the split. Their split runs differ a little from the uninterrupted ones.
- **Noise mask** (``Latent.noise_mask``: 1 = repaint, 0 = keep): as diffusers' inpainting pipeline
  does for 4-channel UNets, after every step ``latents = (1 - mask) · kept + mask · latents``, where
  ``kept`` is the input latent noised with the run's noise to the level the sample has reached
  (``add_noise`` at the next step's timestep), or the input latent itself after the last step. The
  x0 estimate handed to previews is blended with the input latent the same way. Without ``add_noise``
  the kept area continues from the clean latent and noise that the interrupted run hands on
  (``Latent.kept``); a latent without them is held as though it were clean.
- **Inpainting models** (9-channel UNets) get the mask and masked-image latents from the conditioning's
  ``concat`` (see ``denoiser.ConcatChannels``), not from the latent; the latent has the model's output
  channels (4). Blending follows the noise mask alone: diffusers' 9-channel pipelines do not blend, and
  neither does this loop for a latent without a noise mask; with one (the Inpaint Conditioning node's
  default, as ComfyUI's) the kept area is blended as above, for any model.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.context import NodeFailure, OutOfMemory
from studio.core.types import latents_compatible

from .denoiser import build_denoiser, latent_channels
from .model_patches import applied
from .schedulers import make_scheduler
from .vae import SCALE, _oom, free_memory
from .values import Conditioning, KeptArea, Latent, UNetModel

StepCallback = Callable[[int, int, Any], None]
END = 10000  # end_step's default and most (as ComfyUI's advanced sampler): to the end of the schedule


@dataclass
class StepState:
    """What a step hook sees of one model evaluation.

    ``index`` is the entry of ``scheduler.timesteps`` being run and ``t`` its timestep; ``count`` counts
    this run's evaluations so far (this one included) out of ``evaluations``. Before the step
    ``latents`` is the sample about to be evaluated. After it ``latents`` is the sample the step
    produced, at the noise level of timestep ``next_t`` (None: noise level 0, the result), and ``x0``
    the step's estimate of the clean latent. A hook may replace ``latents`` or ``x0``: later hooks and
    the loop see the replacement.
    """

    index: int
    t: Any
    count: int
    evaluations: int
    latents: Any
    next_t: Any = None
    x0: Any = None


StepHook = Callable[[StepState], None]


@dataclass
class StepHooks:
    before: list[StepHook] = field(default_factory=list)
    after: list[StepHook] = field(default_factory=list)


@dataclass
class NoiseMaskBlend:
    """The after-step hook of a noise mask (see "Noise mask" above). ``mask`` is (B, 1, h, w); the area
    to keep is put back to ``clean`` noised with ``noise`` to the sample's level, exactly as diffusers'
    ``StableDiffusionInpaintPipeline`` does for a 4-channel UNet."""

    scheduler: Any
    mask: Any
    clean: Any
    noise: Any

    def __call__(self, state: StepState) -> None:
        kept = self.clean
        if state.next_t is not None:
            kept = self.scheduler.add_noise(self.clean, self.noise, state.next_t.reshape(1))
        state.latents = (1 - self.mask) * kept + self.mask * state.latents
        if state.x0 is not None:
            state.x0 = (1 - self.mask) * self.clean + self.mask * state.x0


@dataclass(frozen=True)
class Plan:
    """Which entries of ``scheduler.timesteps`` a run evaluates: [first, stop). ``tail`` is the first
    entry that ``denoise`` keeps. ``to_zero``: the last evaluation ends at noise level 0 (its x0 is the
    result); ``leftover``: the result still carries the noise of entry ``stop``."""

    tail: int
    first: int
    stop: int
    to_zero: bool = False
    leftover: bool = False


def plan_steps(scheduler: Any, steps: int, denoise: float, start_step: int = 0, end_step: int = END,
               return_leftover_noise: bool = False) -> Plan | None:
    """The entries to run (None: nothing to run). ``scheduler`` has its timesteps set for ``steps``."""
    n = steps if denoise >= 1.0 else min(int(steps * denoise), steps)  # diffusers' get_timesteps
    if n <= 0:
        raise NodeFailure(f"denoise {denoise:g} of {steps} steps leaves no step to run; raise steps or denoise")
    order = getattr(scheduler, "order", 1)
    entries = len(scheduler.timesteps)
    skip = steps - n
    a, b = min(max(start_step, 0), n), min(max(end_step, 0), n)
    if a >= b:
        return None
    first = (skip + a) * order
    if b == n:
        return Plan(skip * order, first, entries)
    if return_leftover_noise:
        return Plan(skip * order, first, (skip + b) * order, leftover=True)
    return Plan(skip * order, first, (skip + b - 1) * order + 1, to_zero=True)


def check_families(model: UNetModel, positive: Conditioning, negative: Conditioning, latent: Latent) -> None:
    fam = model.family
    for what, value in (("CONDITIONING", positive), ("CONDITIONING", negative)):
        if value.family != fam:
            raise NodeFailure(f"{what}[{value.family}] does not fit MODEL[{fam}]")
    if not latents_compatible(latent.family, fam):
        raise NodeFailure(f"LATENT[{latent.family}] does not fit MODEL[{fam}]")
    for cond in (positive, negative):
        for spec in cond.controls:
            if spec.controlnet.family != fam:
                raise NodeFailure(f"CONTROL_NET[{spec.controlnet.family}] does not fit MODEL[{fam}]")


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
    start_step: int = 0,
    end_step: int = END,
    add_noise: bool = True,
    return_leftover_noise: bool = False,
    on_step: StepCallback | None = None,
    check_cancel: Callable[[], None] | None = None,
    tiling: Any = None,
) -> Latent:
    """Denoise ``latent``; returns LATENT[model family] on the CPU in float32, with the input's noise
    mask. See the module docstring for ``denoise``, ``start_step``/``end_step``, ``add_noise`` and
    ``return_leftover_noise``; their defaults run the whole schedule.

    ``on_step(step, total, x0)`` runs after each model evaluation (``total`` counts this run's
    evaluations, so second-order samplers report 2·steps-1 of them); ``check_cancel()`` runs before
    each, so a cancel takes effect within one step. ``tiling`` (a ``studio.diffusion.tiled.TileSpec``,
    default: the model's own ``tiling``) evaluates the model tile by tile (see ``studio.diffusion.tiled``).
    """
    check_families(model, positive, negative, latent)
    if steps < 1:
        raise NodeFailure("steps must be at least 1")
    if denoise <= 0:
        return _unchanged(model, latent)
    with patched_run(model, latent):
        return _sample(model, positive, negative, latent, seed=seed, steps=steps, cfg=cfg, sampler=sampler,
                       scheduler=scheduler, denoise=denoise, start_step=start_step, end_step=end_step,
                       add_noise=add_noise, return_leftover_noise=return_leftover_noise, on_step=on_step,
                       check_cancel=check_cancel, tiling=tiling if tiling is not None else model.tiling)


@contextmanager
def patched_run(model: UNetModel, latent: Latent) -> Iterator[None]:
    """A sampling run: the model's patches applied around it and undone after; running out of memory
    frees the cache and fails with the size and batch named."""
    try:
        with applied(model.unet, model.patches):
            yield
    except Exception as exc:
        if not _oom(exc):
            raise
        free_memory()
        b, _, h, w = latent.samples.shape
        raise OutOfMemory(f"out of memory sampling {w * SCALE}×{h * SCALE} with a batch of {b}; "
                          "try a smaller size or batch") from None


def _unchanged(model: UNetModel, latent: Latent) -> Latent:
    return Latent(family=model.family, samples=latent.samples, noise_mask=latent.noise_mask, kept=latent.kept)


def _sample(model: UNetModel, positive: Conditioning, negative: Conditioning, latent: Latent, *, seed: int,
            steps: int, cfg: float, sampler: str, scheduler: str, denoise: float, start_step: int, end_step: int,
            add_noise: bool, return_leftover_noise: bool, on_step: StepCallback | None,
            check_cancel: Callable[[], None] | None, tiling: Any = None) -> Latent:
    import torch
    from diffusers import DPMSolverSDEScheduler
    from diffusers.utils.torch_utils import randn_tensor

    unet = model.unet
    device, dtype = unet.device, unet.dtype
    init = latent.samples
    channels = latent_channels(unet)
    if init.ndim != 4 or init.shape[1] != channels:
        raise NodeFailure(f"the latent has shape {tuple(init.shape)}; this model needs {channels} channels")
    batch, _, lh, lw = init.shape
    sched = make_scheduler(sampler, scheduler, model.scheduler_config)
    generator = torch.Generator("cpu").manual_seed(int(seed))

    with torch.no_grad():
        sched.set_timesteps(steps, device=device)
        plan = plan_steps(sched, steps, denoise, start_step, end_step, return_leftover_noise)
        if plan is None:
            return _unchanged(model, latent)
        if (denoise < 1.0 or plan.first > 0) and hasattr(sched, "set_begin_index"):
            sched.set_begin_index(plan.first)

        # --- starting latents -------------------------------------------------------------------
        noise = randn_tensor(tuple(init.shape), generator=generator, device=device, dtype=dtype)
        source = init.to(device=device, dtype=dtype)
        if not add_noise:
            latents = _from_leftover_form(sched, source, plan.first)
        elif denoise >= 1.0 and plan.first == 0:
            latents = noise * sched.init_noise_sigma
        else:
            latents = sched.add_noise(source, noise, sched.timesteps[plan.first:plan.first + 1].repeat(batch))
        if isinstance(sched, DPMSolverSDEScheduler):
            _seed_brownian_tree(sched, tuple(init.shape), int(seed), device, dtype)

        # --- hooks ------------------------------------------------------------------------------
        hooks = base_hooks(model, positive, negative, sched, plan, batch=batch, size=(lh, lw),
                           check_cancel=check_cancel)
        blend = None
        if latent.noise_mask is not None:
            mask = latent_mask(latent.noise_mask, batch, lh, lw).to(device=device, dtype=dtype)
            clean, kept_noise = source, noise
            if not add_noise and latent.kept is not None:
                clean = latent.kept.clean.to(device=device, dtype=dtype)
                kept_noise = latent.kept.noise.to(device=device, dtype=dtype)
            blend = NoiseMaskBlend(sched, mask, clean, kept_noise)
            hooks.after.append(blend)
        if on_step is not None:
            hooks.after.append(lambda state: on_step(state.count, state.evaluations, state.x0))

        denoiser: Callable[[Any, Any, int, int], Any]
        if positive.regional or negative.regional:
            # Several prompt entries, areas or masks: each entry is evaluated on its own region.
            from .regional import regional_denoiser

            if tiling is not None:
                raise NodeFailure("tiled sampling cannot use regional conditioning (areas, masks, combined "
                                  "prompts); sample without tiles")
            denoiser = regional_denoiser(model, positive, negative, batch=batch, cfg=cfg, height=lh * SCALE,
                                         width=lw * SCALE)
        else:
            denoiser = build_denoiser(
                model, positive, negative, batch=batch, cfg=cfg, height=lh * SCALE, width=lw * SCALE)
        if tiling is not None:
            from .tiled import tile_denoiser

            denoiser = tile_denoiser(denoiser, tiling, family=model.family, batch=batch, height=lh, width=lw,
                                     seed=int(seed))
        latents = run_steps(sched, denoiser, latents, plan, hooks, _step_kwargs(sched, generator))

    kept = None
    if plan.leftover:
        latents = _to_leftover_form(sched, latents, plan.stop)
        if blend is not None:
            kept = KeptArea(blend.clean.float().cpu(), blend.noise.float().cpu())
    return Latent(family=model.family, samples=latents.float().cpu(), noise_mask=latent.noise_mask, kept=kept)


def base_hooks(model: UNetModel, positive: Conditioning, negative: Conditioning, sched: Any, plan: Plan, *,
               batch: int, size: tuple[int, int], check_cancel: Callable[[], None] | None) -> StepHooks:
    """The before-step hooks every run has: cancel, then those of model patches that move the latent
    before a step (layout guidance gives one per run). ``size`` is the latent's (height, width)."""
    hooks = StepHooks()
    if check_cancel is not None:
        hooks.before.append(lambda state: check_cancel())
    lh, lw = size
    hooks.before.extend(make(model=model, positive=positive, negative=negative, scheduler=sched, plan=plan,
                             batch=batch, height=lh * SCALE, width=lw * SCALE, check_cancel=check_cancel)
                        for p in model.patches if (make := getattr(p, "step_hook", None)) is not None)
    return hooks


def run_steps(scheduler: Any, denoiser: Callable[[Any, Any, int, int], Any], latents: Any, plan: Plan,
              hooks: StepHooks, step_kwargs: dict[str, Any]) -> Any:
    """The loop: for each planned entry, the before-hooks, the denoiser, the scheduler's step and the
    after-hooks. Returns the last sample (the x0 estimate where the plan ends at noise level 0)."""
    timesteps = scheduler.timesteps
    total = len(timesteps) - plan.tail  # the denoiser counts evaluations of the kept schedule
    evaluations = plan.stop - plan.first
    for count, index in enumerate(range(plan.first, plan.stop), start=1):
        t = timesteps[index]
        state = StepState(index, t, count, evaluations, latents)
        for hook in hooks.before:
            hook(state)
        latents = state.latents
        model_output = denoiser(scheduler.scale_model_input(latents, t), t, index - plan.tail, total)
        out = scheduler.step(model_output, t, latents, **step_kwargs, return_dict=True)
        state.x0 = denoised_estimate(scheduler, out, model_output, latents)
        if index == plan.stop - 1 and plan.to_zero:
            state.latents, state.next_t = state.x0, None
        else:
            state.latents = out.prev_sample
            state.next_t = timesteps[index + 1] if index + 1 < len(timesteps) else None
        for hook in hooks.after:
            hook(state)
        latents = state.latents
    return latents


def _step_kwargs(scheduler: Any, generator: Any) -> dict[str, Any]:
    params = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {}
    if "generator" in params:
        kwargs["generator"] = generator
    if "eta" in params:
        kwargs["eta"] = 0.0
    return kwargs


def latent_mask(mask: Any, batch: int, height: int, width: int) -> Any:
    """``Latent.noise_mask`` as a float32 (batch, 1, height, width) CPU tensor: resized with
    ``interpolate`` (nearest) as diffusers' inpainting pipeline does; a shorter batch repeats."""
    import torch
    import torch.nn.functional as F

    m = mask.detach().cpu() if isinstance(mask, torch.Tensor) else torch.from_numpy(np.asarray(mask))
    m = m.to(torch.float32)
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or m.shape[1] != 1 or m.shape[0] < 1:
        raise NodeFailure(f"a noise mask of shape {tuple(mask.shape)} is not (B, H, W) or (B, 1, H, W)")
    if m.shape[0] > batch:
        raise NodeFailure(f"a batch of {m.shape[0]} noise masks does not fit a latent batch of {batch}")
    m = F.interpolate(m.clamp(0.0, 1.0), size=(height, width))
    if m.shape[0] < batch:
        m = m[[i % m.shape[0] for i in range(batch)]]
    return m


def _variance_exploding(scheduler: Any) -> bool:
    """Whether the scheduler keeps samples as x0 + σ·ε (the k-diffusion ports: euler, heun, dpmpp_sde,
    which start from noise × σ_max) rather than √ᾱ·x0 + √(1-ᾱ)·ε (ddim, DPM-Solver, UniPC, LCM,
    which start from unit noise)."""
    return float(scheduler.init_noise_sigma) > 1.0


def _noise_level(scheduler: Any, index: int) -> float:
    """σ (as in x0 + σ·ε) of the sample about to be evaluated at ``timesteps[index]``."""
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None:
        return float(sigmas[index])
    alpha_bar = float(scheduler.alphas_cumprod[int(scheduler.timesteps[index])])
    return math.sqrt((1.0 - alpha_bar) / alpha_bar)


def _to_leftover_form(scheduler: Any, sample: Any, index: int) -> Any:
    if _variance_exploding(scheduler):
        return sample
    return sample * math.sqrt(_noise_level(scheduler, index) ** 2 + 1.0)


def _from_leftover_form(scheduler: Any, sample: Any, index: int) -> Any:
    if _variance_exploding(scheduler):
        return sample
    return sample / math.sqrt(_noise_level(scheduler, index) ** 2 + 1.0)
