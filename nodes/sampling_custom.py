"""Custom sampling: noise schedules (SIGMAS), sampler choice (SAMPLER), noise (NOISE) and guidance (GUIDER)
wired into a custom sampler, as ComfyUI's SamplerCustom and SamplerCustomAdvanced build a run."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Bool, Choice, Float, Int, Out, Seed, SeedControl, Wire, node
from studio.diffusion.custom_sampling import AYS_TABLES, BASIC_SCHEDULERS, CUSTOM_SAMPLERS

_CAT = "Sampling"
_SIGMA_MAX, _SIGMA_MIN = 14.614642, 0.0291675  # SD 1.x / SDXL training σ range


@node(
    "sample.select_sampler", title="Sampler Select", category=_CAT,
    inputs=[Choice("sampler_name", CUSTOM_SAMPLERS, "euler", label="sampler")],
    outputs=[Out("sampler", "SAMPLER")], aliases=("KSamplerSelect",),
)
def select_sampler(ctx: NodeContext, sampler_name: str) -> Any:
    """Pick the sampler a custom sampler steps with: one that can run any noise schedule."""
    from studio.diffusion.custom_sampling import SamplerChoice

    return SamplerChoice(sampler_name)


@node(
    "sigmas.basic", title="Basic Scheduler", category=_CAT,
    inputs=[Wire("model", "MODEL[$F]"), Choice("scheduler", BASIC_SCHEDULERS, "normal",
                   tooltip="normal and karras: as the Sampler node spaces them; the others: ComfyUI's spacings"),
            Int("steps", 20, min=1, max=1000),
            Float("denoise", 1.0, min=0.0, max=1.0, step=0.01,
                  tooltip="below 1: keep the last steps × denoise steps (image-to-image), as the Sampler node")],
    outputs=[Out("sigmas", "SIGMAS")], summary=["scheduler", "steps", "denoise"], aliases=("BasicScheduler",),
)
def basic_scheduler(ctx: NodeContext, model: Any, scheduler: str, steps: int, denoise: float) -> Any:
    """Noise levels for a scheduler and step count, ending at 0: normal and karras as the Sampler node uses
    them; exponential, simple, sgm_uniform, ddim_uniform and beta spaced over the model's training noise levels."""
    from studio.diffusion.custom_sampling import sigmas_basic

    return sigmas_basic(model, scheduler, int(steps), float(denoise))


@node(
    "sigmas.karras", title="Karras Scheduler", category=_CAT,
    inputs=[Int("steps", 20, min=1, max=1000), Float("sigma_max", _SIGMA_MAX, min=0.0, max=5000.0, step=0.01),
            Float("sigma_min", _SIGMA_MIN, min=0.0, max=5000.0, step=0.01),
            Float("rho", 7.0, min=0.0, max=100.0, step=0.01, tooltip="higher: more steps at low noise")],
    outputs=[Out("sigmas", "SIGMAS")], summary=["steps", "rho"], aliases=("KarrasScheduler",),
)
def karras_scheduler(ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float, rho: float) -> Any:
    """Karras et al.'s noise levels from sigma max down to sigma min, then 0."""
    from studio.diffusion.custom_sampling import karras_sigmas

    return karras_sigmas(int(steps), float(sigma_min), float(sigma_max), float(rho))


@node(
    "sigmas.exponential", title="Exponential Scheduler", category=_CAT,
    inputs=[Int("steps", 20, min=1, max=1000), Float("sigma_max", _SIGMA_MAX, min=0.0, max=5000.0, step=0.01),
            Float("sigma_min", _SIGMA_MIN, min=0.0, max=5000.0, step=0.01)],
    outputs=[Out("sigmas", "SIGMAS")], summary=["steps"], aliases=("ExponentialScheduler",),
)
def exponential_scheduler(ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float) -> Any:
    """Noise levels evenly spaced in log σ from sigma max down to sigma min, then 0."""
    from studio.diffusion.custom_sampling import exponential_sigmas

    return exponential_sigmas(int(steps), float(sigma_min), float(sigma_max))


@node(
    "sigmas.sd_turbo", title="SD Turbo Scheduler", category=_CAT,
    inputs=[Wire("model", "MODEL[$F]"), Int("steps", 1, min=1, max=10),
            Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
    outputs=[Out("sigmas", "SIGMAS")], summary=["steps", "denoise"], aliases=("SDTurboScheduler",),
)
def sd_turbo_scheduler(ctx: NodeContext, model: Any, steps: int, denoise: float) -> Any:
    """SD-Turbo's few-step schedule (timesteps 999, 899, …), for SD-Turbo and SDXL-Turbo models."""
    from studio.diffusion.custom_sampling import sigmas_sd_turbo

    return sigmas_sd_turbo(model, int(steps), float(denoise))


@node(
    "sigmas.align_your_steps", title="Align Your Steps Scheduler", category=_CAT,
    inputs=[Choice("model_type", tuple(AYS_TABLES), "SD1"), Int("steps", 10, min=1, max=1000),
            Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
    outputs=[Out("sigmas", "SIGMAS")], summary=["model_type", "steps"], aliases=("AlignYourStepsScheduler",),
)
def align_your_steps_scheduler(ctx: NodeContext, model_type: str, steps: int, denoise: float) -> Any:
    """NVIDIA's Align Your Steps schedules for SD 1.5 and SDXL (published for 10 steps, interpolated for
    other counts): good images in few steps."""
    from studio.diffusion.custom_sampling import sigmas_align_your_steps

    return sigmas_align_your_steps(model_type, int(steps), float(denoise))


@node(
    "sigmas.split", title="Split Sigmas", category=_CAT,
    inputs=[Wire("sigmas", "SIGMAS"), Int("step", 0, min=0, max=10000)],
    outputs=[Out("high_sigmas", "SIGMAS"), Out("low_sigmas", "SIGMAS")], summary=["step"],
    aliases=("SplitSigmas",),
)
def split_sigmas(ctx: NodeContext, sigmas: Any, step: int) -> Any:
    """Cut a schedule at a step: the high-noise steps before it and the low-noise steps after (they share
    the level at the cut). Run the high part, then the low part without adding noise, e.g. with two models."""
    from studio.diffusion.custom_sampling import split_sigmas as split

    return split(sigmas, int(step))


@node(
    "sample.random_noise", title="Random Noise", category=_CAT,
    inputs=[Seed("noise_seed", 0), SeedControl("noise_seed")],
    outputs=[Out("noise", "NOISE")], summary=["noise_seed"], aliases=("RandomNoise",),
)
def random_noise(ctx: NodeContext, noise_seed: int, noise_seed_control: str = "fixed") -> Any:
    """Starting noise from a seed (the same seed gives the same noise on any device)."""
    from studio.diffusion.custom_sampling import NoiseSource

    return NoiseSource(int(noise_seed))


@node(
    "sample.disable_noise", title="Disable Noise", category=_CAT, inputs=[],
    outputs=[Out("noise", "NOISE")], aliases=("DisableNoise",),
)
def disable_noise(ctx: NodeContext) -> Any:
    """No starting noise: the latent already carries it (it continues an earlier run)."""
    from studio.diffusion.custom_sampling import NoiseSource

    return NoiseSource(None)


@node(
    "sample.cfg_guider", title="CFG Guider", category=_CAT,
    inputs=[Wire("model", "MODEL[$F]"), Wire("positive", "CONDITIONING[$F]"), Wire("negative", "CONDITIONING[$F]"),
            Float("cfg", 8.0, min=0.0, max=30.0, step=0.1, tooltip="classifier-free guidance scale; 1 = off")],
    outputs=[Out("guider", "GUIDER")], summary=["cfg"], aliases=("CFGGuider",),
)
def cfg_guider(ctx: NodeContext, model: Any, positive: Any, negative: Any, cfg: float) -> Any:
    """Guide a custom run by a positive and a negative prompt with classifier-free guidance."""
    from studio.diffusion.custom_sampling import Guider

    return Guider(model, positive, negative, float(cfg))


@node(
    "sample.basic_guider", title="Basic Guider", category=_CAT,
    inputs=[Wire("model", "MODEL[$F]"), Wire("conditioning", "CONDITIONING[$F]")],
    outputs=[Out("guider", "GUIDER")], aliases=("BasicGuider",),
)
def basic_guider(ctx: NodeContext, model: Any, conditioning: Any) -> Any:
    """Guide a custom run by one prompt alone (no negative prompt, no CFG): for guidance-distilled models."""
    from studio.diffusion.custom_sampling import Guider

    return Guider(model, conditioning, None, 1.0)


def _run(ctx: NodeContext, guider: Any, latent: Any, sampler: Any, sigmas: Any, noise_seed: int | None) -> Any:
    from studio.diffusion.custom_sampling import sample_custom
    from studio.diffusion.previews import preview

    model = guider.model
    show = ctx.settings.preview != "none"
    taesd = ctx.preview_decoder(model.family) if show else None

    def on_step(step: int, total: int, x0: Any) -> None:
        ctx.progress(step / total, f"step {step}/{total}")
        if show:
            ctx.preview(preview(x0, model.family, taesd), step)

    result = sample_custom(model, guider.positive, guider.negative, latent, sampler=sampler, sigmas=sigmas,
                           cfg=guider.cfg, noise_seed=noise_seed, on_step=on_step, check_cancel=ctx.check_cancel)
    return result.output, result.denoised


@node(
    "sample.custom", title="Custom Sampler", category=_CAT,
    inputs=[
        Wire("model", "MODEL[$F]"),
        Bool("add_noise", True, label="add noise",
             tooltip="off: the latent already carries noise at the first level (it continues an earlier run)"),
        Seed("noise_seed", 0),
        SeedControl("noise_seed"),
        Float("cfg", 8.0, min=0.0, max=30.0, step=0.1, tooltip="classifier-free guidance scale; 1 = off"),
        Wire("positive", "CONDITIONING[$F]"),
        Wire("negative", "CONDITIONING[$F]"),
        Wire("sampler", "SAMPLER"),
        Wire("sigmas", "SIGMAS"),
        Wire("latent_image", "LATENT"),
    ],
    outputs=[Out("output", "LATENT[$F]"), Out("denoised_output", "LATENT[$F]")],
    summary=["noise_seed", "cfg"], aliases=("SamplerCustom",),
)
def sampler_custom(ctx: NodeContext, model: Any, add_noise: bool, noise_seed: int, cfg: float, positive: Any,
                   negative: Any, sampler: Any, sigmas: Any, latent_image: Any,
                   noise_seed_control: str = "fixed") -> Any:
    """Denoise the latent over the given noise schedule with the chosen sampler. Outputs the result (still
    noisy where the schedule ends above 0) and the last step's estimate of the clean latent."""
    from studio.diffusion.custom_sampling import Guider

    guider = Guider(model, positive, negative, float(cfg))
    return _run(ctx, guider, latent_image, sampler, sigmas, int(noise_seed) if add_noise else None)


@node(
    "sample.custom_advanced", title="Custom Sampler (Advanced)", category=_CAT,
    inputs=[Wire("noise", "NOISE"), Wire("guider", "GUIDER"), Wire("sampler", "SAMPLER"), Wire("sigmas", "SIGMAS"),
            Wire("latent_image", "LATENT")],
    outputs=[Out("output", "LATENT"), Out("denoised_output", "LATENT")],
    aliases=("SamplerCustomAdvanced",),
)
def sampler_custom_advanced(ctx: NodeContext, noise: Any, guider: Any, sampler: Any, sigmas: Any,
                            latent_image: Any) -> Any:
    """Denoise the latent with noise, guidance, sampler and schedule each from its own node."""
    return _run(ctx, guider, latent_image, sampler, sigmas, noise.seed)
