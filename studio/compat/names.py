"""Sampler and scheduler names of other tools → ours, with what each translation changes."""

from __future__ import annotations

from .report import ImportReport

# Our samplers whose diffusers scheduler offers no Karras sigmas, nor exponential ones (kept in step with
# studio.diffusion.schedulers by a test; read here without importing diffusers).
NO_KARRAS = frozenset({"euler_ancestral", "ddim", "lcm"})
# ComfyUI's spacings → the only samplers that run them (the others' diffusers schedulers take no custom
# timesteps, and sgm_uniform's timesteps are fractional); kept in step by the same test.
_WHOLE_TIMESTEPS = frozenset({"euler", "heun", "dpmpp_2s_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde",
                              "lcm"})
SPACING_SAMPLERS: dict[str, frozenset[str]] = {
    "simple": _WHOLE_TIMESTEPS, "ddim_uniform": _WHOLE_TIMESTEPS, "beta": _WHOLE_TIMESTEPS,
    "sgm_uniform": frozenset({"euler", "dpmpp_2s_ancestral"}),
}

# ComfyUI sampler → (ours, why it is only the nearest one, or "" when it is the same method)
COMFY_SAMPLERS: dict[str, tuple[str, str]] = {
    "euler": ("euler", ""),
    "euler_ancestral": ("euler_ancestral", ""),
    "heun": ("heun", ""),
    "dpmpp_2m": ("dpmpp_2m", ""),
    "dpmpp_2m_sde": ("dpmpp_2m_sde", ""),
    "dpmpp_2m_sde_gpu": ("dpmpp_2m_sde", "the same method with CPU noise"),
    "dpmpp_sde": ("dpmpp_sde", ""),
    "dpmpp_sde_gpu": ("dpmpp_sde", "the same method with CPU noise"),
    "ddim": ("ddim", ""),
    "uni_pc": ("uni_pc", ""),
    "lcm": ("lcm", ""),
    "euler_cfg_pp": ("euler", "CFG++ is not available"),
    "euler_ancestral_cfg_pp": ("euler_ancestral", "CFG++ is not available"),
    "heunpp2": ("heun", "nearest second-order method"),
    "dpm_2": ("dpm_2", ""),
    "dpm_2_ancestral": ("dpm_2_ancestral", ""),
    "dpmpp_2s_ancestral": ("dpmpp_2s_ancestral", ""),
    "dpmpp_2s_ancestral_cfg_pp": ("dpmpp_2s_ancestral", "CFG++ is not available"),
    "dpmpp_2m_cfg_pp": ("dpmpp_2m", "CFG++ is not available"),
    "dpmpp_3m_sde": ("dpmpp_3m_sde", ""),
    "dpmpp_3m_sde_gpu": ("dpmpp_3m_sde", "the same method with CPU noise"),
    "lms": ("lms", ""),
    "ddpm": ("euler_ancestral", "nearest ancestral method"),
    "dpm_fast": ("dpmpp_2m", "nearest fast method"),
    "dpm_adaptive": ("dpmpp_2m", "adaptive step size is not available"),
    "uni_pc_bh2": ("uni_pc_bh2", ""),
    "ipndm": ("dpmpp_2m", "nearest multistep method"),
    "ipndm_v": ("dpmpp_2m", "nearest multistep method"),
    "deis": ("deis", ""),
    "res_multistep": ("dpmpp_2m", "nearest multistep method"),
    "gradient_estimation": ("euler", "nearest first-order method"),
    "er_sde": ("dpmpp_2m_sde", "nearest SDE method"),
    "seeds_2": ("dpmpp_sde", "nearest SDE method"),
    "seeds_3": ("dpmpp_sde", "nearest SDE method"),
}

# ComfyUI samplers whose own method the custom sampler (KSamplerSelect) cannot run, → the nearest it can,
# where that is not what the name's fallback gives.
CUSTOM_NEAREST: dict[str, str] = {"dpm_2": "heun"}

# ComfyUI scheduler → (ours, what changes, or "")
COMFY_SCHEDULERS: dict[str, tuple[str, str]] = {
    "normal": ("normal", ""),
    "karras": ("karras", ""),
    "simple": ("simple", ""),
    "sgm_uniform": ("sgm_uniform", ""),
    "ddim_uniform": ("ddim_uniform", ""),
    "exponential": ("exponential", ""),
    "beta": ("beta", ""),
    "linear_quadratic": ("normal", "a different spacing of the noise levels"),
    "kl_optimal": ("normal", "a different spacing of the noise levels"),
    "align_your_steps": ("normal", "a different spacing of the noise levels"),
}

# A1111 sampler label (without a scheduler suffix) → (ours, what changes, or "")
A1111_SAMPLERS: dict[str, tuple[str, str]] = {
    "euler": ("euler", ""),
    "euler a": ("euler_ancestral", ""),
    "heun": ("heun", ""),
    "dpm++ 2m": ("dpmpp_2m", ""),
    "dpm++ sde": ("dpmpp_sde", ""),
    "dpm++ 2m sde": ("dpmpp_2m_sde", ""),
    "ddim": ("ddim", ""),
    "unipc": ("uni_pc", ""),
    "lcm": ("lcm", ""),
    "lms": ("lms", ""),
    "dpm2": ("dpm_2", ""),
    "dpm2 a": ("dpm_2_ancestral", ""),
    "dpm++ 2s a": ("dpmpp_2s_ancestral", ""),
    "dpm++ 2m sde heun": ("dpmpp_2m_sde", "the midpoint variant"),
    "dpm++ 3m sde": ("dpmpp_3m_sde", ""),
    "dpm fast": ("dpmpp_2m", "nearest fast method"),
    "dpm adaptive": ("dpmpp_2m", "adaptive step size is not available"),
    "plms": ("ddim", "nearest DDIM-family method"),
    "restart": ("euler", "the restart method is not available"),
    "ddpm": ("euler_ancestral", "nearest ancestral method"),
    "ddim cfg++": ("ddim", "CFG++ is not available"),
    "heun pp2": ("heun", "nearest second-order method"),
}
# A1111 ≥ 1.9 with "Schedule type: Automatic" uses Karras sigmas for these.
A1111_AUTO_KARRAS = frozenset({"dpm++ 2m", "dpm++ sde", "dpm++ 2m sde", "dpm++ 2m sde heun", "dpm++ 3m sde",
                               "dpm2", "dpm2 a", "dpm++ 2s a"})
A1111_SCHEDULES: dict[str, tuple[str, str]] = {
    "karras": ("karras", ""),
    "automatic": ("normal", ""),
    "normal": ("normal", ""),
    "uniform": ("normal", "close: both space the steps evenly over the model's timesteps"),
    "simple": ("simple", ""),
    "sgm uniform": ("sgm_uniform", ""),
    "exponential": ("exponential", ""),
    "polyexponential": ("normal", "a different spacing of the noise levels"),
    "kl optimal": ("normal", "a different spacing of the noise levels"),
    "align your steps": ("normal", "a different spacing of the noise levels"),
    "beta": ("beta", ""),
    "ddim": ("ddim_uniform", ""),
}


_FUNCTION_PREFIX = "sample_"


def sampler_pair(sampler: str, scheduler: str, report: ImportReport, where: str, *,
                 samplers: dict[str, tuple[str, str]], schedulers: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(our sampler, our scheduler), noting every change of meaning."""
    key = sampler.strip().lower()
    if key not in samplers and key.startswith(_FUNCTION_PREFIX):
        key = key.removeprefix(_FUNCTION_PREFIX)  # an early name: k-diffusion's function, "sample_dpmpp_2m"
    ours, why = samplers.get(key, ("euler", "an unknown sampler"))
    if why:
        report.approximated(f"{where}: sampler {sampler!r} → {ours!r} ({why})")
    sched, why = schedulers.get(scheduler.lower(), ("normal", "an unknown scheduler"))
    if why:
        report.approximated(f"{where}: scheduler {scheduler!r} → {sched!r} ({why})")
    if sched == "karras" and ours in NO_KARRAS:
        report.approximated(f"{where}: {ours} has no Karras variant here; scheduler 'normal' is used")
        sched = "normal"
    elif sched == "exponential" and ours in NO_KARRAS:
        report.approximated(f"{where}: {ours} has no exponential variant here; scheduler 'normal' is used")
        sched = "normal"
    elif sched in SPACING_SAMPLERS and ours not in SPACING_SAMPLERS[sched]:
        able = ", ".join(sorted(SPACING_SAMPLERS[sched]))
        report.approximated(f"{where}: {ours} cannot run the {sched} scheduler here (only {able} can); "
                            "scheduler 'normal' is used")
        sched = "normal"
    return ours, sched
