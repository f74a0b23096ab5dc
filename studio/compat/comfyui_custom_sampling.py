"""ComfyUI's custom-sampling nodes (comfy_extras/nodes_custom_sampler.py, AlignYourStepsScheduler) → ours.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .comfyui_core_nodes import _strength
from .comfyui_schema import CONTROL_AFTER_GENERATE, SPECS, ComfySpec
from .names import COMFY_SAMPLERS, COMFY_SCHEDULERS, CUSTOM_NEAREST

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_SIGMAS = (("SIGMAS", "SIGMAS"),)
_SIGMA_RANGE = (("sigma_max", 14.614642), ("sigma_min", 0.0291675))
_LATENTS = (("output", "LATENT"), ("denoised_output", "LATENT"))

CUSTOM_SAMPLING_SPECS: dict[str, ComfySpec] = {
    "KSamplerSelect": ComfySpec("KSamplerSelect", widgets=(("sampler_name", "euler"),),
                                outputs=(("SAMPLER", "SAMPLER"),)),
    "BasicScheduler": ComfySpec(
        "BasicScheduler", inputs=(("model", "MODEL"),),
        widgets=(("scheduler", "normal"), ("steps", 20), ("denoise", 1.0)), outputs=_SIGMAS),
    "KarrasScheduler": ComfySpec("KarrasScheduler", widgets=(("steps", 20), *_SIGMA_RANGE, ("rho", 7.0)),
                                 outputs=_SIGMAS),
    "ExponentialScheduler": ComfySpec("ExponentialScheduler", widgets=(("steps", 20), *_SIGMA_RANGE),
                                      outputs=_SIGMAS),
    "SDTurboScheduler": ComfySpec("SDTurboScheduler", inputs=(("model", "MODEL"),),
                                  widgets=(("steps", 1), ("denoise", 1.0)), outputs=_SIGMAS),
    "AlignYourStepsScheduler": ComfySpec("AlignYourStepsScheduler",
                                         widgets=(("model_type", "SD1"), ("steps", 10), ("denoise", 1.0)),
                                         outputs=_SIGMAS),
    "SplitSigmas": ComfySpec("SplitSigmas", inputs=(("sigmas", "SIGMAS"),), widgets=(("step", 0),),
                             outputs=(("high_sigmas", "SIGMAS"), ("low_sigmas", "SIGMAS"))),
    "SamplerCustom": ComfySpec(
        "SamplerCustom",
        inputs=(("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"), ("latent_image", "LATENT")),
        widgets=(("add_noise", True), ("noise_seed", 0), ("cfg", 8.0)), outputs=_LATENTS, seeds=("noise_seed",)),
    "RandomNoise": ComfySpec("RandomNoise", widgets=(("noise_seed", 0),), outputs=(("NOISE", "NOISE"),),
                             seeds=("noise_seed",)),
    "DisableNoise": ComfySpec("DisableNoise", outputs=(("NOISE", "NOISE"),)),
    "BasicGuider": ComfySpec("BasicGuider", inputs=(("model", "MODEL"), ("conditioning", "CONDITIONING")),
                             outputs=(("GUIDER", "GUIDER"),)),
    "CFGGuider": ComfySpec(
        "CFGGuider", inputs=(("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")),
        widgets=(("cfg", 8.0),), outputs=(("GUIDER", "GUIDER"),)),
    "SamplerCustomAdvanced": ComfySpec(
        "SamplerCustomAdvanced",
        inputs=(("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                ("latent_image", "LATENT")),
        outputs=_LATENTS),
}
SPECS.update(CUSTOM_SAMPLING_SPECS)

# Our samplers that run any noise schedule (studio.diffusion.custom_sampling.CUSTOM_SAMPLERS; a test keeps
# them in step, read here without importing torch).
CUSTOM_SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2s_ancestral")
# The schedules the Basic Scheduler node makes (studio.diffusion.custom_sampling.BASIC_SCHEDULERS).
BASIC_SCHEDULERS = ("normal", "karras", "exponential", "simple", "sgm_uniform", "ddim_uniform", "beta")
_ANCESTRAL = ("ancestral", "sde", "ddpm", "seeds", "lcm")


def _flag(b: _Builder, c: CNode, name: str) -> bool:
    value = c.values.get(name, SPECS[c.class_type].default(name))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "enable", "disable"):
        return value.lower() in ("true", "enable")
    b.report.approximated(f"{c.label}: {name} {value!r} is not true or false; using true")
    return True


def _seed_params(b: _Builder, c: CNode, type_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {"noise_seed": b.whole(c, "noise_seed")}
    control = c.seed_controls.get("noise_seed", c.values.get("control_after_generate"))
    nt = b.registry.get(type_id)
    if nt is not None and nt.input("noise_seed_control") is not None and control in CONTROL_AFTER_GENERATE:
        params["noise_seed_control"] = control
    return params


def ksampler_select(b: _Builder, c: CNode) -> None:
    name = b.text(c, "sampler_name")
    key = name.strip().lower()
    ours = key if key in CUSTOM_SAMPLERS else None
    if ours is None:
        nearest = CUSTOM_NEAREST.get(key) or COMFY_SAMPLERS.get(key, ("", ""))[0]
        if nearest in CUSTOM_SAMPLERS:
            ours = nearest
        else:
            ours = "euler_ancestral" if any(w in key for w in _ANCESTRAL) else "euler"
        b.report.approximated(f"{c.label}: sampler {name!r} → {ours!r} (custom schedules run with "
                              f"{', '.join(CUSTOM_SAMPLERS)} here)")
    b.add(c, "sample.select_sampler", {"sampler_name": ours}, {}, ["sampler"])


def basic_scheduler(b: _Builder, c: CNode) -> None:
    name = b.text(c, "scheduler")
    key = name.lower()
    ours, why = (key, "") if key in BASIC_SCHEDULERS else COMFY_SCHEDULERS.get(key, ("normal", "an unknown scheduler"))
    if why:
        b.report.approximated(f"{c.label}: scheduler {name!r} → {ours!r} ({why})")
    steps, denoise = b.whole(c, "steps"), b.num(c, "denoise")
    if steps < 1:
        raise b.r.fail(c.value_paths.get("steps", c.path), f"steps must be at least 1, found {steps}")
    params: dict[str, Any] = {"scheduler": ours, "steps": steps, "denoise": 1.0}
    if denoise <= 0.0:
        params["denoise"] = 0.0
    elif denoise < 1.0:
        # ComfyUI keeps the last `steps` levels of a steps/denoise schedule; ours keeps steps × denoise of `steps`.
        total = 1000 if steps / denoise > 1000 else max(steps, int(steps / denoise))
        params.update(steps=total, denoise=_strength(min(steps, total), total))
        b.report.approximated(f"{c.label}: denoise {denoise:g} with {steps} steps → steps {total}, denoise "
                              f"{params['denoise']:g} (the same last {min(steps, total)} levels)")
    b.add(c, "sigmas.basic", params, {"model": "model"}, ["sigmas"])


def karras_scheduler(b: _Builder, c: CNode) -> None:
    params = {k: b.num(c, k) for k in ("sigma_max", "sigma_min", "rho")}
    b.add(c, "sigmas.karras", {"steps": b.whole(c, "steps"), **params}, {}, ["sigmas"])


def exponential_scheduler(b: _Builder, c: CNode) -> None:
    params = {k: b.num(c, k) for k in ("sigma_max", "sigma_min")}
    b.add(c, "sigmas.exponential", {"steps": b.whole(c, "steps"), **params}, {}, ["sigmas"])


def sd_turbo_scheduler(b: _Builder, c: CNode) -> None:
    params = {"steps": b.whole(c, "steps"), "denoise": b.num(c, "denoise")}
    b.add(c, "sigmas.sd_turbo", params, {"model": "model"}, ["sigmas"])


def align_your_steps(b: _Builder, c: CNode) -> None:
    kind = b.text(c, "model_type")
    if kind not in ("SD1", "SDXL"):
        b.report.approximated(f"{c.label}: model type {kind!r} has no schedule here; using SD1's")
        kind = "SD1"
    params = {"model_type": kind, "steps": b.whole(c, "steps"), "denoise": b.num(c, "denoise")}
    b.add(c, "sigmas.align_your_steps", params, {}, ["sigmas"])


def split_sigmas(b: _Builder, c: CNode) -> None:
    b.add(c, "sigmas.split", {"step": b.whole(c, "step")}, {"sigmas": "sigmas"}, ["high_sigmas", "low_sigmas"])


def sampler_custom(b: _Builder, c: CNode) -> None:
    params = {"add_noise": _flag(b, c, "add_noise"), **_seed_params(b, c, "sample.custom"), "cfg": b.num(c, "cfg")}
    ports = {"model": "model", "positive": "positive", "negative": "negative", "sampler": "sampler",
             "sigmas": "sigmas", "latent_image": "latent_image"}
    b.add(c, "sample.custom", params, ports, ["output", "denoised_output"])


def random_noise(b: _Builder, c: CNode) -> None:
    b.add(c, "sample.random_noise", _seed_params(b, c, "sample.random_noise"), {}, ["noise"])


def disable_noise(b: _Builder, c: CNode) -> None:
    b.add(c, "sample.disable_noise", {}, {}, ["noise"])


def basic_guider(b: _Builder, c: CNode) -> None:
    b.add(c, "sample.basic_guider", {}, {"model": "model", "conditioning": "conditioning"}, ["guider"])


def cfg_guider(b: _Builder, c: CNode) -> None:
    b.add(c, "sample.cfg_guider", {"cfg": b.num(c, "cfg")},
          {"model": "model", "positive": "positive", "negative": "negative"}, ["guider"])


def sampler_custom_advanced(b: _Builder, c: CNode) -> None:
    ports = {"noise": "noise", "guider": "guider", "sampler": "sampler", "sigmas": "sigmas",
             "latent_image": "latent_image"}
    b.add(c, "sample.custom_advanced", {}, ports, ["output", "denoised_output"])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "KSamplerSelect": ksampler_select,
    "BasicScheduler": basic_scheduler,
    "KarrasScheduler": karras_scheduler,
    "ExponentialScheduler": exponential_scheduler,
    "SDTurboScheduler": sd_turbo_scheduler,
    "AlignYourStepsScheduler": align_your_steps,
    "SplitSigmas": split_sigmas,
    "SamplerCustom": sampler_custom,
    "RandomNoise": random_noise,
    "DisableNoise": disable_noise,
    "BasicGuider": basic_guider,
    "CFGGuider": cfg_guider,
    "SamplerCustomAdvanced": sampler_custom_advanced,
}
