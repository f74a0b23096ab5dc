"""The sampler node: denoise a latent with a model, prompts and any attached ControlNets."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Bool, Choice, Float, Int, Out, Seed, SeedControl, Wire, node
from studio.diffusion.sampling import END
from studio.diffusion.schedulers import SAMPLERS, SCHEDULERS


@node(
    "sample.sampler", title="Sampler", category="Sampling", version="1.1.0",
    inputs=[
        Wire("model", "MODEL[$F]"),
        Wire("positive", "CONDITIONING[$F]"),
        Wire("negative", "CONDITIONING[$F]"),
        Wire("latent", "LATENT"),
        Seed("seed", 0),
        SeedControl("seed"),
        Int("steps", 20, min=1, max=1000),
        Float("cfg", 7.0, min=0.0, max=30.0, step=0.1, tooltip="classifier-free guidance scale; 1 = off"),
        Choice("sampler", SAMPLERS, "euler"),
        Choice("scheduler", SCHEDULERS, "normal",
               tooltip="noise spacing; karras and exponential where the sampler supports them; simple, "
                       "ddim_uniform and beta with euler, heun, dpmpp_2s_ancestral, dpmpp_2m/2m_sde/3m_sde and lcm; "
                       "sgm_uniform with euler and dpmpp_2s_ancestral"),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.01,
              tooltip="1: start from pure noise (text-to-image); below 1: image-to-image from the latent"),
        Int("start_step", 0, min=0, max=END, label="start at step",
            tooltip="the first step to run, counted in the steps that denoise keeps (0: the first)"),
        Int("end_step", END, min=0, max=END, label="end at step",
            tooltip="run up to this step, not including it; past the last step: to the end"),
        Bool("add_noise", True, label="add noise",
             tooltip="off: the latent already carries noise for the first step (it continues an earlier run)"),
        Bool("return_leftover_noise", False, label="return leftover noise",
             tooltip="when stopping early, return the still-noisy latent for another sampler to continue; "
                     "off: the last step denoises fully"),
    ],
    outputs=[Out("latent", "LATENT[$F]")],
    summary=["seed", "steps", "cfg", "sampler"],
    aliases=("KSampler", "KSamplerAdvanced"),
)
def sampler(ctx: NodeContext, model: Any, positive: Any, negative: Any, latent: Any, seed: int, steps: int,
            cfg: float, sampler: str, scheduler: str, denoise: float, start_step: int = 0, end_step: int = END,
            add_noise: bool = True, return_leftover_noise: bool = False, seed_control: str = "fixed") -> Any:
    """Denoise the latent step by step, guided by the prompts and any ControlNets. The same seed gives
    the same image on any device. A latent with a noise mask is repainted only where the mask is 1 and
    kept where it is 0 (inpainting with any model). Start and end step run part of the schedule: stop
    one sampler early returning its leftover noise, and continue with another from the same step with
    add noise off, to switch models or settings midway. The preview pane shows the current estimate at
    every step (full size when TAESD weights are installed)."""
    from studio.diffusion.previews import preview
    from studio.diffusion.sampling import sample

    show = ctx.settings.preview != "none"
    taesd = ctx.preview_decoder(model.family) if show else None

    def on_step(step: int, total: int, x0: Any) -> None:
        ctx.progress(step / total, f"step {step}/{total}")
        if show:
            ctx.preview(preview(x0, model.family, taesd), step)

    return sample(model, positive, negative, latent, seed=seed, steps=steps, cfg=cfg, sampler=sampler,
                  scheduler=scheduler, denoise=denoise, start_step=start_step, end_step=end_step,
                  add_noise=add_noise, return_leftover_noise=return_leftover_noise, on_step=on_step,
                  check_cancel=ctx.check_cancel)
