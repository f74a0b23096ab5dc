"""Custom sampling: our denoiser run over an explicit noise schedule (SIGMAS) with a chosen sampler.

A **SIGMAS** value is a 1-D float32 CPU tensor of descending noise levels in k-diffusion's sigma space
(σ = √((1-ᾱ)/ᾱ) of the model's training schedule), ending at 0 for a run that denoises fully. A
**SAMPLER** value (``SamplerChoice``) names one of our samplers; a **NOISE** value (``NoiseSource``) is a
seed or none; a **GUIDER** value (``Guider``) is a model with its prompts and CFG scale.

Rules (the rest as ``studio.diffusion.sampling`` states them: noise from one seeded CPU generator,
previews, cancel, noise-mask blending, model patches):

- **Samplers.** Only samplers whose diffusers scheduler keeps samples as x0 + σ·ε and can step over
  any sigmas run here: ``euler`` (diffusers takes the sigmas itself, ``set_timesteps(sigmas=...)``) and
  ``euler_ancestral`` and ``heun`` (given the same sigmas and timesteps, heun's in its two-evaluation
  layout), and ``dpmpp_2s_ancestral`` (ours: it takes the sigmas itself). Any other sampler is refused with a
  NodeFailure: its diffusers scheduler spaces its own steps.
- **Timesteps.** The UNet sees the timestep diffusers derives from each sigma (log-σ interpolation of
  the training schedule); one within 1e-4 of a whole number is that number, so a schedule taken from
  the model's own spacing evaluates at exactly the timesteps the Sampler node uses.
- **Starting latents.** With noise, an all-zero latent (an empty latent: text-to-image) starts from
  noise × the scheduler's ``init_noise_sigma`` for these sigmas, as the Sampler node does at full
  strength; any other latent gets noise × σ₀ added (image-to-image). Without noise (add_noise off, or
  DisableNoise) the latent is used as it is: it already carries noise at σ₀ (leftover-noise form).
- **Noise mask.** After every step the area to keep is put back to the input latent noised with the
  run's noise to the level the sample reached (x0 + σ·ε), as the Sampler node does; a run without noise
  continues the kept area from the clean latent and noise an earlier run handed on (``Latent.kept``).
- **Result.** The sample at the last sigma (still noisy where that is not 0: leftover-noise form, to
  continue with the low half of a split schedule) and the x0 estimate of the last step.

So ``sigmas_basic(model, scheduler, steps, denoise)`` with ``euler`` gives what the Sampler node gives
for the same settings, and a schedule split at step k and run in two (the second without noise) gives
what one run gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from studio.core.context import NodeFailure

from . import sigma_schedules
from .denoiser import build_denoiser, latent_channels
from .sampling import (
    Plan,
    StepCallback,
    StepState,
    _step_kwargs,
    base_hooks,
    check_families,
    latent_mask,
    patched_run,
    run_steps,
)
from .schedulers import SAMPLERS, make_scheduler
from .vae import SCALE
from .values import Conditioning, KeptArea, Latent, UNetModel

# Samplers that step over any given sigmas (see "Samplers" above).
CUSTOM_SAMPLERS: tuple[str, ...] = ("euler", "euler_ancestral", "heun", "dpmpp_2s_ancestral")

# Align Your Steps (Sabour et al., NVIDIA 2024): the published 10-step schedules.
AYS_TABLES: dict[str, tuple[float, ...]] = {
    "SD1": (14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092, 0.9642583904,
            0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582),
    "SDXL": (14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141, 0.5550693289,
             0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582),
}


@dataclass(frozen=True)
class SamplerChoice:
    """A SAMPLER value: one of our sampler names, with options for later use."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class NoiseSource:
    """A NOISE value: starting noise drawn from ``seed``; ``seed`` None adds no noise (DisableNoise)."""

    seed: int | None


@dataclass(frozen=True)
class Guider:
    """A GUIDER value: the model and prompts a run is guided by. ``negative`` None: no CFG (BasicGuider)."""

    model: UNetModel
    positive: Conditioning
    negative: Conditioning | None = None
    cfg: float = 1.0


@dataclass
class CustomResult:
    output: Latent
    denoised: Latent


# --- schedules ----------------------------------------------------------------------------------------

def as_sigmas(values: Any) -> Any:
    """``values`` as a SIGMAS tensor (1-D float32, CPU), checked: finite, not negative, not increasing."""
    import torch

    t = values.detach().cpu() if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    t = t.to(torch.float32).reshape(-1)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise NodeFailure("sigmas must be finite and not negative")
    if t.numel() > 1 and bool((t[1:] > t[:-1]).any()):
        raise NodeFailure("sigmas must not increase: a schedule runs from high noise to low")
    return t


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Any:
    """Karras et al. (2022), eq. 5: σ_i = (σmax^(1/ρ) + i/(n-1)·(σmin^(1/ρ) - σmax^(1/ρ)))^ρ, then 0."""
    import torch

    _check_steps(steps)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.float32)


def exponential_sigmas(steps: int, sigma_min: float, sigma_max: float) -> Any:
    """Evenly spaced in log σ from σmax to σmin, then 0."""
    import torch

    _check_steps(steps)
    if sigma_min <= 0 or sigma_max <= 0:
        raise NodeFailure("an exponential schedule needs sigma_min and sigma_max above 0")
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64).exp()
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.float32)


def training_sigmas(model: UNetModel) -> Any:
    """σ of every training timestep of the model (index = timestep), float64 numpy."""
    sched = make_scheduler("euler", "normal", model.scheduler_config)
    alphas = sched.alphas_cumprod.double().numpy()
    return np.sqrt((1 - alphas) / alphas)


def _levels(name: str, train: Any, steps: int) -> list[float]:
    return [float(v) for v in sigma_schedules.levels(name, train, steps)]


# Schedules of their own (k-diffusion/ComfyUI spacings over the model's training σ), for custom sampling.
# (The Sampler node offers the same spacings: studio.diffusion.sigma_schedules computes them for both.)
EXTRA_SCHEDULES: dict[str, Callable[[Any, int], list[float]]] = {
    name: partial(_levels, name) for name in ("exponential", "simple", "sgm_uniform", "ddim_uniform", "beta")
}
BASIC_SCHEDULERS: tuple[str, ...] = ("normal", "karras", *EXTRA_SCHEDULES)


def sigmas_basic(model: UNetModel, scheduler: str, steps: int, denoise: float) -> Any:
    """A named schedule of ``steps`` levels then 0: ``normal`` and ``karras`` as the Sampler node spaces
    them (euler's), or one of ``EXTRA_SCHEDULES``. ``denoise`` < 1 keeps the last ``int(steps × denoise)``
    steps, as the Sampler node."""
    import torch

    _check_steps(steps)
    if denoise <= 0:
        return torch.zeros(0, dtype=torch.float32)
    if scheduler in EXTRA_SCHEDULES:
        levels = EXTRA_SCHEDULES[scheduler](training_sigmas(model), steps)
        sigmas = torch.tensor([*levels, 0.0], dtype=torch.float32)
        steps = len(levels)  # ddim_uniform may give one more than asked for, beta fewer
    else:
        if scheduler not in BASIC_SCHEDULERS:
            raise NodeFailure(f"unknown scheduler {scheduler!r}; choose one of {', '.join(BASIC_SCHEDULERS)}")
        sched = make_scheduler("euler", scheduler, model.scheduler_config)
        sched.set_timesteps(steps, device="cpu")
        sigmas = sched.sigmas.to(torch.float32)
    if denoise < 1.0:
        n = int(steps * denoise)
        if n <= 0:
            raise NodeFailure(f"denoise {denoise:g} of {steps} steps leaves no step to run; raise steps or denoise")
        sigmas = sigmas[-(n + 1):]
    return sigmas.clone()


def sigmas_sd_turbo(model: UNetModel, steps: int, denoise: float) -> Any:
    """SD-Turbo's schedule: timesteps 999, 899, …, 99 (from step 10 - int(10 × denoise)), their σ, then 0."""
    import torch

    if not 1 <= steps <= 10:
        raise NodeFailure("SD-Turbo schedules have 1 to 10 steps")
    start = 10 - int(10 * denoise)
    timesteps = [999 - 100 * i for i in range(10)][start:start + steps]
    if not timesteps:
        return torch.zeros(0, dtype=torch.float32)
    sig = training_sigmas(model)
    return torch.tensor([*(float(sig[t]) for t in timesteps), 0.0], dtype=torch.float32)


def loglinear_interp(values: Sequence[float], count: int) -> Any:
    """``count`` values spread over a descending positive schedule, interpolated linearly in log σ."""
    xs = np.linspace(0, 1, len(values))
    ys = np.log(np.asarray(values, dtype=np.float64)[::-1])
    new = np.interp(np.linspace(0, 1, count), xs, ys)
    return np.exp(new)[::-1].copy()


def sigmas_align_your_steps(model_type: str, steps: int, denoise: float) -> Any:
    """The published Align Your Steps schedule for ``model_type`` (SD1, SDXL), log-linearly interpolated
    to ``steps``; ``denoise`` < 1 keeps the last round(steps × denoise) steps. The last level is 0."""
    import torch

    table = AYS_TABLES.get(model_type)
    if table is None:
        raise NodeFailure(f"no Align Your Steps schedule for {model_type!r}; choose one of {', '.join(AYS_TABLES)}")
    _check_steps(steps)
    run = steps if denoise >= 1.0 else round(steps * denoise)
    if run <= 0:
        return torch.zeros(0, dtype=torch.float32)
    values = np.asarray(table, dtype=np.float64) if steps + 1 == len(table) else loglinear_interp(table, steps + 1)
    values = values[-(run + 1):].copy()
    values[-1] = 0.0
    return torch.from_numpy(values).to(torch.float32)


def split_sigmas(sigmas: Any, step: int) -> tuple[Any, Any]:
    """The schedule's first ``step`` steps and the rest; they share the level at ``step``."""
    s = as_sigmas(sigmas)
    step = max(int(step), 0)
    return s[:step + 1].clone(), s[step:].clone()


def _check_steps(steps: int) -> None:
    if steps < 1:
        raise NodeFailure("steps must be at least 1")


# --- the run -----------------------------------------------------------------------------------------

def custom_scheduler(sampler: str, model: UNetModel, sigmas: Any, device: Any) -> Any:
    """A fresh diffusers scheduler of ``sampler`` set to step over ``sigmas`` (refused where it cannot)."""
    import torch

    if sampler not in CUSTOM_SAMPLERS:
        known = "" if sampler in SAMPLERS else " (an unknown sampler)"
        raise NodeFailure(
            f"sampler {sampler!r}{known} cannot run a custom sigma schedule: its diffusers scheduler spaces its "
            f"own steps. Use {', '.join(CUSTOM_SAMPLERS)} with custom sigmas, or the Sampler node")
    values = sigmas.double().numpy()
    euler = make_scheduler("euler", "normal", model.scheduler_config)
    euler.set_timesteps(sigmas=values.tolist(), device=device)
    t = euler.timesteps.double()
    snapped = torch.where((t - t.round()).abs() < 1e-4, t.round(), t).to(euler.timesteps.dtype)
    euler.timesteps = snapped
    if sampler == "euler":
        return euler
    if sampler == "dpmpp_2s_ancestral":
        own = make_scheduler(sampler, "normal", model.scheduler_config)
        own.set_timesteps(sigmas=values.tolist(), device=device)
        t = own.timesteps.double()
        own.timesteps = torch.where((t - t.round()).abs() < 1e-4, t.round(), t).to(own.timesteps.dtype)
        return own
    sched = make_scheduler(sampler, "normal", model.scheduler_config)
    sched.set_timesteps(len(values) - 1, device=device)
    # The k-diffusion ports step from sigmas[i] to sigmas[i + 1] and find i by timestep: give them ours.
    sig, ts = euler.sigmas.clone(), snapped.clone()
    if sampler == "heun":
        sig, ts = _heun_layout(model, values, sig, ts, device)
    sched.sigmas, sched.timesteps = sig, ts
    return sched


def _heun_layout(model: UNetModel, values: Any, sig: Any, ts: Any, device: Any) -> tuple[Any, Any]:
    """diffusers' Heun layout: each step evaluates at its level's timestep, then (the correction) at the
    next level's. A step to σ = 0 has no correction, as there; a schedule ending above 0 keeps its last one."""
    import torch

    if values[-1] == 0:
        return (torch.cat([sig[:1], sig[1:-1].repeat_interleave(2), sig[-1:]]),
                torch.cat([ts[:1], ts[1:].repeat_interleave(2)]))
    every = make_scheduler("euler", "normal", model.scheduler_config)
    every.set_timesteps(sigmas=[*values.tolist(), 0.0], device=device)  # a timestep for the last level too
    t = every.timesteps.double()
    t = torch.where((t - t.round()).abs() < 1e-4, t.round(), t).to(ts.dtype)
    return (torch.cat([sig[:1], sig[1:].repeat_interleave(2)]),
            torch.cat([t[:1], t[1:].repeat_interleave(2)])[:-1])


def sample_custom(
    model: UNetModel,
    positive: Conditioning,
    negative: Conditioning | None,
    latent: Latent,
    *,
    sampler: SamplerChoice | str,
    sigmas: Any,
    cfg: float,
    noise_seed: int | None,
    on_step: StepCallback | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> CustomResult:
    """Denoise ``latent`` over ``sigmas``; ``noise_seed`` None adds no noise. ``negative`` None: no CFG
    (``cfg`` is then 1). Returns the sample at the last sigma and the last step's x0 estimate, LATENT
    on the CPU in float32 with the input's noise mask."""
    name = sampler.name if isinstance(sampler, SamplerChoice) else sampler
    neg = negative if negative is not None else positive
    if negative is None:
        cfg = 1.0
    check_families(model, positive, neg, latent)
    s = as_sigmas(sigmas)
    if s.numel() < 2:  # no step: ComfyUI returns the latent as it is
        same = Latent(family=model.family, samples=latent.samples, noise_mask=latent.noise_mask, kept=latent.kept)
        return CustomResult(same, same)
    with patched_run(model, latent):
        return _run(model, positive, neg, latent, name, s, cfg, noise_seed, on_step, check_cancel)


@dataclass
class _MaskBlend:
    """A noise mask's after-step hook for samples kept as x0 + σ·ε: the area to keep is put back to
    ``clean + σ·noise`` at the level the sample reached (which a schedule ending above 0 leaves above 0);
    equal to ``sampling.NoiseMaskBlend`` over euler's own schedule."""

    sigmas: Any
    mask: Any
    clean: Any
    noise: Any

    def __call__(self, state: StepState) -> None:
        sigma = float(self.sigmas[state.index + 1])
        kept = self.clean + self.noise * sigma if sigma > 0 else self.clean
        state.latents = (1 - self.mask) * kept + self.mask * state.latents
        if state.x0 is not None:
            state.x0 = (1 - self.mask) * self.clean + self.mask * state.x0


@dataclass
class _LastX0:
    x0: Any = None

    def __call__(self, state: StepState) -> None:
        self.x0 = state.x0


def _run(model: UNetModel, positive: Conditioning, negative: Conditioning, latent: Latent, sampler: str,
         sigmas: Any, cfg: float, noise_seed: int | None, on_step: StepCallback | None,
         check_cancel: Callable[[], None] | None) -> CustomResult:
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    unet = model.unet
    device, dtype = unet.device, unet.dtype
    init = latent.samples
    channels = latent_channels(unet)
    if init.ndim != 4 or init.shape[1] != channels:
        raise NodeFailure(f"the latent has shape {tuple(init.shape)}; this model needs {channels} channels")
    batch, _, lh, lw = init.shape
    generator = torch.Generator("cpu").manual_seed(int(noise_seed or 0))

    with torch.no_grad():
        sched = custom_scheduler(sampler, model, sigmas, device)
        plan = Plan(0, 0, len(sched.timesteps))
        noise = randn_tensor(tuple(init.shape), generator=generator, device=device, dtype=dtype)
        source = init.to(device=device, dtype=dtype)
        if noise_seed is None:
            latents = source
        elif not bool(source.any()):
            latents = noise * sched.init_noise_sigma
        else:
            latents = source + noise * float(sigmas[0])

        hooks = base_hooks(model, positive, negative, sched, plan, batch=batch, size=(lh, lw),
                           check_cancel=check_cancel)
        blend = None
        if latent.noise_mask is not None:
            mask = latent_mask(latent.noise_mask, batch, lh, lw).to(device=device, dtype=dtype)
            clean, kept_noise = source, noise
            if noise_seed is None and latent.kept is not None:
                clean = latent.kept.clean.to(device=device, dtype=dtype)
                kept_noise = latent.kept.noise.to(device=device, dtype=dtype)
            blend = _MaskBlend(sched.sigmas, mask, clean, kept_noise)
            hooks.after.append(blend)
        last = _LastX0()
        hooks.after.append(last)
        if on_step is not None:
            hooks.after.append(lambda state: on_step(state.count, state.evaluations, state.x0))
        denoiser = _denoiser(model, positive, negative, batch, cfg, lh, lw)
        latents = run_steps(sched, denoiser, latents, plan, hooks, _step_kwargs(sched, generator))

    kept = None
    if float(sigmas[-1]) > 0 and blend is not None:
        kept = KeptArea(blend.clean.float().cpu(), blend.noise.float().cpu())
    out = Latent(family=model.family, samples=latents.float().cpu(), noise_mask=latent.noise_mask, kept=kept)
    denoised = Latent(family=model.family, samples=last.x0.float().cpu(), noise_mask=latent.noise_mask)
    return CustomResult(out, denoised)


def _denoiser(model: UNetModel, positive: Conditioning, negative: Conditioning, batch: int, cfg: float,
              lh: int, lw: int) -> Callable[[Any, Any, int, int], Any]:
    if model.tiling is not None:
        raise NodeFailure("the custom sampler does not sample in tiles; use the Sampler node for tiled diffusion")
    if positive.regional or negative.regional:
        from .regional import regional_denoiser

        return regional_denoiser(model, positive, negative, batch=batch, cfg=cfg, height=lh * SCALE,
                                 width=lw * SCALE)
    return build_denoiser(model, positive, negative, batch=batch, cfg=cfg, height=lh * SCALE, width=lw * SCALE)
