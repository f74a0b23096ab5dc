"""Sampler and scheduler names people know, mapped onto diffusers schedulers.

A *sampler* picks the diffusers scheduler class (and its solver options); a *scheduler* picks the
noise-level spacing: ``normal`` keeps the model's own spacing; ``karras`` and ``exponential`` use the
diffusers class's Karras or exponential sigmas where it offers them; ``simple``, ``sgm_uniform``,
``ddim_uniform`` and ``beta`` are ComfyUI's spacings (``studio.diffusion.sigma_schedules``), handed to
the diffusers class as custom timesteps (whole ones: classes whose ``set_timesteps`` takes
``timesteps``) or custom sigmas (fractional ones: classes that take the model's σ, ``sigmas=``). A
pair that cannot be run that way is refused, not approximated. Every scheduler is built from the
model's scheduler config, so prediction type, beta schedule and timestep spacing stay those the model
was trained with.

This module imports diffusers only inside functions: node modules read the name lists at import time.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from studio.core.context import NodeFailure

# name → (diffusers class, options). Options override whatever the model's config says.
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),  # its step's default order, 4, is k-diffusion's
    "dpmpp_2s_ancestral": ("DPMSolverPlusPlus2SAncestralScheduler", {}),  # ours: studio.diffusion.dpmpp_2s_ancestral
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "dpmpp_3m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3}),
    # DPM++ SDE (single-step, Brownian-tree noise); its diffusers class needs the torchsde package.
    "dpmpp_sde": ("DPMSolverSDEScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "deis": ("DEISMultistepScheduler", {"solver_order": 3}),  # third order, as ComfyUI's deis (max order 3)
    # UniPC's two B(h) variants: plain uni_pc is bh1 (as ComfyUI's), diffusers' own default is bh2. bh1's
    # B(h) = h is infinite on a step to σ = 0, so it ends at the smallest training σ instead (as ComfyUI's
    # bh1 ends just above 0).
    "uni_pc": ("UniPCMultistepScheduler", {"solver_type": "bh1", "final_sigmas_type": "sigma_min"}),
    "uni_pc_bh2": ("UniPCMultistepScheduler", {"solver_type": "bh2"}),
    "lcm": ("LCMScheduler", {}),
}

SAMPLERS: tuple[str, ...] = tuple(_SAMPLERS)
SCHEDULERS: tuple[str, ...] = ("normal", "karras", "exponential", "simple", "sgm_uniform", "ddim_uniform", "beta")

# Schedulers that are a diffusers flag: name → the flag the class must have.
_FLAG_SCHEDULERS = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas"}
# Classes whose set_timesteps(sigmas=...) takes σ of the model's own training schedule (UniPC's
# sigmas are flow-matching ones: it takes none for these models).
_TAKES_SIGMAS = frozenset({"EulerDiscreteScheduler", "DPMSolverPlusPlus2SAncestralScheduler"})

# Sigma-spacing flags the diffusers classes know; at most one may be on.
_SPACING_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


def scheduler_class(sampler: str) -> type[Any]:
    import diffusers

    try:
        class_name = _SAMPLERS[sampler][0]
    except KeyError:
        raise NodeFailure(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}") from None
    if class_name == "DPMSolverPlusPlus2SAncestralScheduler":
        from .dpmpp_2s_ancestral import DPMSolverPlusPlus2SAncestralScheduler

        return DPMSolverPlusPlus2SAncestralScheduler
    return getattr(diffusers, class_name)


def _init_params(sampler: str) -> Any:
    return inspect.signature(scheduler_class(sampler).__init__).parameters


def supports_karras(sampler: str) -> bool:
    return "use_karras_sigmas" in _init_params(sampler)


def _custom_schedule(cls: type[Any]) -> tuple[bool, bool]:
    """(takes whole custom timesteps, takes custom sigmas) for a diffusers scheduler class."""
    params = inspect.signature(cls.set_timesteps).parameters
    sigmas = "sigmas" in params and cls.__name__ in _TAKES_SIGMAS
    return "timesteps" in params or sigmas, sigmas


def supports(sampler: str, scheduler: str) -> bool:
    """Whether ``make_scheduler`` runs this pair faithfully (False for an unknown name or a sampler whose
    package is missing)."""
    from .sigma_schedules import WHOLE_TIMESTEPS

    try:
        cls = scheduler_class(sampler)
    except (ImportError, NodeFailure):
        return False
    if scheduler == "normal":
        return True
    if scheduler in _FLAG_SCHEDULERS:
        return _FLAG_SCHEDULERS[scheduler] in inspect.signature(cls.__init__).parameters
    if scheduler not in SCHEDULERS:
        return False
    whole, sigmas = _custom_schedule(cls)
    return sigmas or (whole and scheduler in WHOLE_TIMESTEPS)


def combinations() -> list[tuple[str, str]]:
    """Every (sampler, scheduler) pair that ``make_scheduler`` accepts."""
    return [(s, k) for s in SAMPLERS for k in SCHEDULERS if supports(s, k)]


def make_scheduler(sampler: str, scheduler: str, config: Mapping[str, Any]) -> Any:
    """A fresh diffusers scheduler (they are stateful: one per sampling run)."""
    if scheduler not in SCHEDULERS:
        raise NodeFailure(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
    try:
        cls = scheduler_class(sampler)
    except ImportError as exc:  # dpmpp_sde without torchsde
        raise NodeFailure(f"sampler {sampler!r} needs a package that is not installed: {exc}") from None
    accepted = inspect.signature(cls.__init__).parameters
    options = dict(_SAMPLERS[sampler][1])
    # Switch every spacing flag off, then the chosen one on: a model config that asks for another
    # spacing must not combine with ours (diffusers refuses two at once).
    options.update({flag: False for flag in _SPACING_FLAGS if flag in accepted})
    if not supports(sampler, scheduler):
        raise NodeFailure(_refusal(sampler, scheduler, cls))
    if scheduler in _FLAG_SCHEDULERS:
        options[_FLAG_SCHEDULERS[scheduler]] = True
    elif scheduler != "normal" and "final_sigmas_type" in accepted:
        options["final_sigmas_type"] = "zero"  # ComfyUI's spacings end at σ = 0
    if config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in accepted:
        # Sampled without it, a zero-terminal-SNR model would get the wrong noise levels, silently.
        raise NodeFailure(
            f"sampler {sampler!r} cannot sample a zero-terminal-SNR model (its diffusers scheduler "
            f"{cls.__name__} has no rescale_betas_zero_snr); use "
            + ", ".join(s for s in SAMPLERS if _accepts(s, "rescale_betas_zero_snr")))
    sched = cls.from_config(dict(config), **options)
    if scheduler not in _FLAG_SCHEDULERS and scheduler != "normal":
        _space_by(sched, scheduler)
    return sched


def _refusal(sampler: str, scheduler: str, cls: type[Any]) -> str:
    if scheduler in _FLAG_SCHEDULERS:
        why = f"has no {scheduler} sigmas"
    elif _custom_schedule(cls)[0]:
        why = f"takes whole custom timesteps only, and {scheduler} spaces fractional ones"
    else:
        why = "cannot take custom timesteps or sigmas"
    able = ", ".join(s for s in SAMPLERS if supports(s, scheduler))
    return (f"the {scheduler} scheduler does not apply to sampler {sampler!r} (its diffusers scheduler "
            f"{cls.__name__} {why}); use 'normal', or a sampler such as {able}")


def _space_by(sched: Any, spacing: str) -> None:
    """Make ``sched.set_timesteps(steps)`` set ComfyUI's ``spacing`` over the model's training σ (the
    scheduler's own method, given custom timesteps or sigmas; a call with them passes through)."""
    import numpy as np

    from . import sigma_schedules as ss

    original = sched.set_timesteps
    whole, _ = _custom_schedule(type(sched))
    by_timesteps = whole and spacing in ss.WHOLE_TIMESTEPS

    def set_timesteps(num_inference_steps: int | None = None, device: Any = None, **kwargs: Any) -> None:
        if num_inference_steps is None or kwargs:
            return original(num_inference_steps, device=device, **kwargs)
        alphas = np.asarray(sched.alphas_cumprod, dtype=np.float64)
        if by_timesteps:
            ts = ss.TIMESTEP_SPACINGS[spacing](len(alphas), int(num_inference_steps))
            return original(device=device, timesteps=[int(t) for t in ts])
        levels = ss.levels(spacing, ss.training_sigmas_of(alphas), int(num_inference_steps))
        return original(device=device, sigmas=[*map(float, levels), 0.0])

    sched.set_timesteps = set_timesteps


def _accepts(sampler: str, option: str) -> bool:
    try:
        return option in inspect.signature(scheduler_class(sampler).__init__).parameters
    except ImportError:
        return False
