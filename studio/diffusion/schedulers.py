"""Sampler and scheduler names people know, mapped onto diffusers schedulers.

A *sampler* picks the diffusers scheduler class (and its solver options); a *scheduler* picks the
noise-level spacing: ``normal`` keeps the model's own spacing, ``karras`` uses Karras et al. sigmas
where the diffusers class offers them. Every scheduler is built from the model's scheduler config,
so prediction type, beta schedule and timestep spacing stay those the model was trained with.

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
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    # DPM++ SDE (single-step, Brownian-tree noise); its diffusers class needs the torchsde package.
    "dpmpp_sde": ("DPMSolverSDEScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "uni_pc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

SAMPLERS: tuple[str, ...] = tuple(_SAMPLERS)
SCHEDULERS: tuple[str, ...] = ("normal", "karras")

# Sigma-spacing flags the diffusers classes know; at most one may be on.
_SPACING_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


def scheduler_class(sampler: str) -> type[Any]:
    import diffusers

    try:
        class_name = _SAMPLERS[sampler][0]
    except KeyError:
        raise NodeFailure(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}") from None
    return getattr(diffusers, class_name)


def supports_karras(sampler: str) -> bool:
    return "use_karras_sigmas" in inspect.signature(scheduler_class(sampler).__init__).parameters


def combinations() -> list[tuple[str, str]]:
    """Every (sampler, scheduler) pair that ``make_scheduler`` accepts."""
    return [(s, k) for s in SAMPLERS for k in SCHEDULERS if k == "normal" or supports_karras(s)]


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
    if scheduler == "karras":
        if "use_karras_sigmas" not in accepted:
            raise NodeFailure(
                f"the karras scheduler does not apply to sampler {sampler!r} (its diffusers scheduler "
                f"{cls.__name__} has no Karras sigmas); use 'normal', or a sampler such as "
                f"{', '.join(s for s in SAMPLERS if supports_karras(s))}"
            )
        options["use_karras_sigmas"] = True
    if config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in accepted:
        # Sampled without it, a zero-terminal-SNR model would get the wrong noise levels, silently.
        raise NodeFailure(
            f"sampler {sampler!r} cannot sample a zero-terminal-SNR model (its diffusers scheduler "
            f"{cls.__name__} has no rescale_betas_zero_snr); use "
            + ", ".join(s for s in SAMPLERS if _accepts(s, "rescale_betas_zero_snr")))
    return cls.from_config(dict(config), **options)


def _accepts(sampler: str, option: str) -> bool:
    try:
        return option in inspect.signature(scheduler_class(sampler).__init__).parameters
    except ImportError:
        return False
