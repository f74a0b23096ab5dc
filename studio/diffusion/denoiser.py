"""The denoiser: the model wrapper that the sampling loop's scheduler steps over.

In DESIGN.md's terms the loop is *a scheduler stepping over a denoiser*. A ``Denoiser`` is built once
per run from the model, the two prompt halves, the CFG scale, the ControlNets attached to the prompts,
SDXL's added conditioning and a guidance embedding. Called with the scheduler-scaled latent and the
timestep, it returns the model output after classifier-free guidance, in the scheduler's own
parameterisation (epsilon, v or sample): the scheduler turns it into the next sample and the x0
estimate, exactly as in diffusers' pipelines, so the loop stays a plain diffusers loop.

Extension points, each a list on the denoiser (a new method plugs into one of them instead of growing
the loop or this call):

- **conditioning patches** (``ConditioningPatch``) may replace what the UNet is conditioned on at a
  step (``UNetInputs``: encoder hidden states, added conditioning, cross-attention kwargs) — regional
  prompts, GLIGEN, IP-Adapter. A model patch with a ``conditioning_patch(unet=, batch=, guided=)``
  method gives one per run (``studio.diffusion.ip_adapter_patch``: image tokens and per-step weight).
- **residual providers** (``ResidualProvider``) return down/mid block residuals for a step, summed
  over providers — ControlNet (``ControlNetResiduals``). They see the patched conditioning and the model
  input without extra channels, as the diffusers pipelines pass it.
- **intrablock providers** (``IntrablockProvider``) return residuals added inside the down blocks,
  summed over providers — T2I-Adapter (``studio.diffusion.t2i_adapter.T2IAdapterResiduals``).
- **input extensions** (``InputExtension``) return channels concatenated to the UNet's input after
  scaling (as diffusers' inpainting pipelines concatenate after ``scale_model_input``) —
  ``ConcatChannels``: a conditioning's ``concat``, the mask and masked-image latents of a 9-channel
  inpainting UNet (SD1.5/SD2/SDXL inpainting checkpoints); Paint-by-Example's 9-channel UNet uses it
  too, with its own channel order (masked-image latents, then the mask).
- **guidance** (``CfgFunction``, ``PostCfg``): a CFG function replaces ``uncond + cfg·(cond − uncond)``
  (CFG rescale); post-CFG functions then change the guided output in turn and may evaluate the model
  again (perturbed-attention guidance). Model patches give them per run through ``cfg_function(model=,
  batch=, guided=)`` / ``post_cfg(model=, batch=, guided=)`` methods.
- **model patches** are not here: weight patches (LoRA) are applied to the UNet the denoiser wraps,
  before the run, so the denoiser calls whatever model it was given.

Per-step work that is not about evaluating the model (cancel, previews, inpaint-mask blending) is
done by the step hooks of ``studio.diffusion.sampling``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from studio.core.context import NodeFailure

from .vae import SCALE
from .values import Conditioning, ControlSpec, UNetModel


@dataclass(frozen=True)
class Step:
    """One model evaluation: ``index`` counts the evaluations of the schedule being run (the tail that
    ``denoise`` keeps) from 0, ``total`` is their number, ``t`` the scheduler's timestep. Fractions
    such as ControlNet start/end are ``index / total``, as diffusers' ``controlnet_keep``."""

    index: int
    total: int
    t: Any


@dataclass(frozen=True)
class UNetInputs:
    """What the UNet is conditioned on besides the latent, one row per model-batch row
    ([negative, positive] with CFG, [positive] without)."""

    encoder_hidden_states: Any
    added_cond_kwargs: dict[str, Any] | None = None
    timestep_cond: Any = None
    cross_attention_kwargs: dict[str, Any] | None = None


class ConditioningPatch(Protocol):
    """Change what the UNet is conditioned on at this step; return ``inputs`` itself to leave it."""

    def __call__(self, inputs: UNetInputs, step: Step) -> UNetInputs: ...


class ResidualProvider(Protocol):
    """Down-block residuals (a list, one per UNet down-block output) and the mid-block residual for
    this step, each of the model batch's size; (None, None) when it adds nothing at this step."""

    def __call__(self, model_in: Any, step: Step, inputs: UNetInputs) -> tuple[list[Any] | None, Any]: ...


class IntrablockProvider(Protocol):
    """Residuals added inside the UNet's down blocks (``down_intrablock_additional_residuals``), one per
    down block, of the model batch's size; None when it adds nothing at this step — T2I-Adapters."""

    def __call__(self, step: Step) -> list[Any] | None: ...


class InputExtension(Protocol):
    """Extra channels (rows, c, h, w) concatenated after the latent channels of the UNet's input."""

    def __call__(self, model_in: Any, step: Step) -> Any: ...


@dataclass(frozen=True)
class Guided:
    """One evaluation as guidance sees it: ``uncond``/``cond`` the model's outputs (``uncond`` None without
    CFG), ``out`` the guided output so far, ``model_in`` the UNet's input latent (the whole model batch),
    ``evaluate()`` the model evaluated again on the same batch and conditioning (whatever hooks are set now)."""

    out: Any
    uncond: Any
    cond: Any
    cfg: float
    model_in: Any
    step: Step
    evaluate: Any  # Callable[[], Any]


class CfgFunction(Protocol):
    """The guided output from ``g.uncond``/``g.cond`` in place of the CFG formula (called with CFG only)."""

    def __call__(self, g: Guided) -> Any: ...


class PostCfg(Protocol):
    """A changed guided output (``g.out``), after CFG."""

    def __call__(self, g: Guided) -> Any: ...


@dataclass
class Denoiser:
    """``denoiser(latents, t, step_index, total)`` → model output after CFG (see the module docstring).

    ``latents`` is the current sample of the batch, already scaled by the scheduler's
    ``scale_model_input``; with CFG the denoiser runs it as [negative, positive] in one batch.
    """

    unet: Any
    inputs: UNetInputs
    cfg: float
    guided: bool  # two halves [negative, positive] combined by CFG; False runs the positive only
    conditioning_patches: list[ConditioningPatch] = field(default_factory=list)
    residual_providers: list[ResidualProvider] = field(default_factory=list)
    input_extensions: list[InputExtension] = field(default_factory=list)
    intrablock_providers: list[IntrablockProvider] = field(default_factory=list)
    cfg_function: CfgFunction | None = None
    post_cfg: list[PostCfg] = field(default_factory=list)

    def __call__(self, latents: Any, t: Any, step_index: int, total: int) -> Any:
        import torch

        step = Step(step_index, total, t)
        model_in = torch.cat([latents] * 2) if self.guided else latents
        inputs = self.inputs
        for patch in self.conditioning_patches:
            inputs = patch(inputs, step)
        out = self._evaluate(model_in, step, inputs)
        uncond, cond = out.chunk(2) if self.guided else (None, out)
        if self.guided:
            out = uncond + self.cfg * (cond - uncond)
        if self.cfg_function is None and not self.post_cfg:
            return out
        g = Guided(out, uncond, cond, self.cfg, model_in, step, lambda: self._evaluate(model_in, step, inputs))
        if self.guided and self.cfg_function is not None:
            g = Guided(self.cfg_function(g), uncond, cond, self.cfg, model_in, step, g.evaluate)
        for post in self.post_cfg:
            g = Guided(post(g), uncond, cond, self.cfg, model_in, step, g.evaluate)
        return g.out

    def _evaluate(self, model_in: Any, step: Step, inputs: UNetInputs) -> Any:
        import torch

        t = step.t
        down, mid = _sum_residuals(provider(model_in, step, inputs) for provider in self.residual_providers)
        intra = _sum_intrablock(provider(step) for provider in self.intrablock_providers)
        unet_in = model_in
        if self.input_extensions:
            unet_in = torch.cat([model_in, *(ext(model_in, step) for ext in self.input_extensions)], dim=1)
        out = self.unet(
            unet_in, t, encoder_hidden_states=inputs.encoder_hidden_states, timestep_cond=inputs.timestep_cond,
            down_block_additional_residuals=down, mid_block_additional_residual=mid,
            added_cond_kwargs=inputs.added_cond_kwargs, cross_attention_kwargs=inputs.cross_attention_kwargs,
            return_dict=False, **({"down_intrablock_additional_residuals": intra} if intra is not None else {}),
        )[0]
        return out


def _sum_residuals(parts: Any) -> tuple[list[Any] | None, Any]:
    down: list[Any] | None = None
    mid: Any = None
    for d, m in parts:
        if d is None:
            continue
        if down is None:
            down, mid = list(d), m
        else:
            down = [a + b for a, b in zip(down, d, strict=True)]
            mid = mid + m
    return down, mid


def _sum_intrablock(parts: Any) -> list[Any] | None:
    total: list[Any] | None = None
    for p in parts:
        if p is not None:
            total = list(p) if total is None else [a + b for a, b in zip(total, p, strict=True)]
    return total


def build_denoiser(model: UNetModel, positive: Conditioning, negative: Conditioning, *, batch: int, cfg: float,
                   height: int, width: int) -> Denoiser:
    """The denoiser for one run over a latent batch of ``batch`` at ``height``×``width`` pixels, on the
    UNet's device and dtype. Rules (shared with the diffusers pipelines unless said otherwise):

    - **CFG.** The batch is [negative, positive]. ``cfg`` = 1 runs the positive half only (the result is
      identical); unlike the pipelines, ``cfg`` < 1 still applies the CFG formula. A positive and a
      negative of different lengths (long prompts) are tiled to a common length, which leaves
      cross-attention unchanged (repeated keys/values do not change a softmax average).
    - **SDXL** gets the pooled embeddings and size/crop conditioning of each half as added conditioning.
    - **Guidance-distilled UNets** (``time_cond_proj_dim``, e.g. LCM) get the embedding of ``cfg - 1``.
    - **ControlNets** (see ``ControlNetResiduals``); **T2I-Adapters** on the same controls feed the
      intrablock residuals (see ``studio.diffusion.t2i_adapter``).
    - **Extra input channels** (see ``ConcatChannels``): a UNet with more input channels than latent
      channels (9 = 4 + mask + masked-image latents for inpainting) gets each half's ``concat``.
    """
    import torch

    unet = model.unet
    device, dtype = unet.device, unet.dtype
    guided = cfg != 1.0
    pos = _per_batch(positive.embeds.to(device=device, dtype=dtype), batch, "the positive conditioning")
    if guided:
        neg = _per_batch(negative.embeds.to(device=device, dtype=dtype), batch, "the negative conditioning")
        neg, pos = _common_length(neg, pos)
        embeds = torch.cat([neg, pos])
    else:
        embeds = pos
    halves = [negative, positive] if guided else [positive]

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
        if guided:
            timestep_cond = timestep_cond.repeat(2, 1)

    providers: list[ResidualProvider] = []
    jobs = _control_jobs(positive, negative, batch, guided, height, width)
    if jobs:
        providers.append(ControlNetResiduals(jobs))
    from .t2i_adapter import adapter_residuals

    adapters = adapter_residuals(positive, negative, batch=batch, guided=guided, height=height, width=width,
                                 device=device, dtype=dtype)
    extensions: list[InputExtension] = []
    concat = _concat_extension(unet, positive, negative, batch=batch, guided=guided, height=height // SCALE,
                               width=width // SCALE)
    if concat is not None:
        extensions.append(concat)
    # Model patches that also act per step (IP-Adapter) give a conditioning patch for this run.
    patches = [make(unet=unet, batch=batch, guided=guided) for p in getattr(model, "patches", ())
               if (make := getattr(p, "conditioning_patch", None)) is not None]
    # GLIGEN boxes on either half: gated layers set around grounded evaluations (studio.diffusion.gligen).
    from .gligen import grounding

    unet, grounded = grounding(unet, positive, negative, batch=batch, guided=guided, height=height, width=width)
    patches += grounded
    # Model patches that change guidance (CFG rescale, perturbed attention); the last CFG function wins.
    made = {kind: [make(model=model, batch=batch, guided=guided) for p in getattr(model, "patches", ())
                   if (make := getattr(p, kind, None)) is not None] for kind in ("cfg_function", "post_cfg")}
    return Denoiser(unet, UNetInputs(embeds, added, timestep_cond), cfg, guided, conditioning_patches=patches,
                    residual_providers=providers, input_extensions=extensions,
                    intrablock_providers=[adapters] if adapters is not None else [],
                    cfg_function=made["cfg_function"][-1] if made["cfg_function"] else None,
                    post_cfg=made["post_cfg"])


def latent_channels(unet: Any) -> int:
    """Channels of the latent the UNet denoises: its output's, where its input has extra channels
    (an inpainting UNet takes 9 = 4 + 5 and returns 4)."""
    cfg = unet.config
    return min(int(cfg.in_channels), int(cfg.out_channels))


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


def _time_ids(cond: Conditioning, height: int, width: int) -> list[float]:
    """SDXL micro-conditioning: original size, crop top-left, then target size — or, for the refiner
    (an ``aesthetic_score`` in the extras, or a refiner conditioning without one: 6.0), the aesthetic
    score, as diffusers' ``requires_aesthetics_score``. Sizes default to the output."""
    ex = cond.extras
    head = [*ex.get("original_size", (height, width)), *ex.get("crop_top_left", (0, 0))]
    if "aesthetic_score" in ex or cond.family == "sdxl_refiner":
        return [*head, float(ex.get("aesthetic_score", 6.0))]
    return [*head, *ex.get("target_size", (height, width))]


def _guidance_embedding(w: Any, dim: int, dtype: Any) -> Any:
    # diffusers' pipeline helper is a method that uses no state, so it is called unbound.
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.get_guidance_scale_embedding(None, w, embedding_dim=dim, dtype=dtype)


# --- Extra input channels: inpainting and Paint-by-Example UNets ---------------------------------

INPAINT_HINT = ("this is an inpainting model: give it an image and mask with the Inpaint Conditioning node "
                "(its positive and negative outputs)")


@dataclass
class ConcatChannels:
    """The input extension of a UNet with extra input channels: ``Conditioning.concat`` of each half,
    (rows, c, h, w) on the UNet's device and dtype, concatenated after the (scaled) latent channels.

    For an inpainting UNet (9 channels) ``concat`` is cat([mask, masked-image latents]) at latent size,
    what diffusers' ``prepare_mask_latents`` builds; the CFG batch gets [negative's, positive's], where a
    half without one borrows the other's (the pipelines use the same for both halves). A ``concat`` of
    another size than the latent is resized to it (mask channel nearest, latent channels bilinear; a
    Paint-by-Example concat puts the mask last and is always built at latent size, so it is never resized).
    Residual providers (ControlNet) see the latent without these channels, as in diffusers'
    ControlNet inpainting pipeline. A 4-channel UNet ignores ``concat`` (so the Inpaint Conditioning
    node may feed an ordinary model too, its latent's noise mask doing the inpainting).
    """

    rows: Any

    def __call__(self, model_in: Any, step: Step) -> Any:
        return self.rows


def _concat_extension(unet: Any, positive: Conditioning, negative: Conditioning, *, batch: int, guided: bool,
                      height: int, width: int) -> ConcatChannels | None:
    import torch

    extra = int(unet.config.in_channels) - latent_channels(unet)
    if extra <= 0:
        return None  # an ordinary UNet: any concat is ignored
    pos, neg = positive.concat, negative.concat
    if pos is None and neg is None:
        if extra == 5:
            raise NodeFailure(INPAINT_HINT)
        raise NodeFailure(f"this model takes {extra} input channels besides the latent; its conditioning has none")
    pos = pos if pos is not None else neg
    neg = neg if neg is not None else pos
    halves = [neg, pos] if guided else [pos]
    device, dtype = unet.device, unet.dtype
    rows = []
    for c in halves:
        c = torch.as_tensor(c)
        if c.ndim != 4 or c.shape[1] != extra:
            raise NodeFailure(f"this model takes {extra} input channels besides the latent; the conditioning's "
                              f"concat has shape {tuple(c.shape)}" + ("" if extra != 5 else f" ({INPAINT_HINT})"))
        c = _per_batch(_fit(c.to(torch.float32), height, width), batch, "the conditioning's inpainting image")
        rows.append(c.to(device=device, dtype=dtype))
    return ConcatChannels(torch.cat(rows))


def _fit(c: Any, height: int, width: int) -> Any:
    import torch
    import torch.nn.functional as F

    if tuple(c.shape[-2:]) == (height, width):
        return c
    if c.shape[1] == 5:  # mask + latents
        return torch.cat([F.interpolate(c[:, :1], size=(height, width)),
                          F.interpolate(c[:, 1:], size=(height, width), mode="bilinear", align_corners=False)], 1)
    return F.interpolate(c, size=(height, width), mode="bilinear", align_corners=False)


# --- ControlNet: the one residual provider so far ------------------------------------------------

@dataclass
class ControlJob:
    spec: ControlSpec
    rows: slice  # rows of the model batch it conditions
    hint: Any  # (rows, 3, H, W) on the ControlNet's device


@dataclass
class ControlNetResiduals:
    """Residuals of the ControlNets attached to the prompts, summed.

    A spec attached to both halves (what ``control.apply`` does) runs once on the whole CFG batch,
    exactly as the diffusers pipelines apply control to both halves; a spec on one half only runs on
    those rows (zero residuals elsewhere). ``start``/``end`` are fractions of the schedule's
    evaluations as diffusers' ``control_guidance_start/end``. The hint is resized to the output size by
    diffusers' own ``VaeImageProcessor`` (stretch, nearest), as the pipelines do.
    """

    jobs: list[ControlJob]

    def __call__(self, model_in: Any, step: Step, inputs: UNetInputs) -> tuple[list[Any] | None, Any]:
        down: list[Any] | None = None
        mid: Any = None
        for job in self.jobs:
            spec = job.spec
            # diffusers' controlnet_keep: on only while the evaluation lies inside [start, end].
            keep = 1.0 - float(step.index / step.total < spec.start or (step.index + 1) / step.total > spec.end)
            scale = spec.strength * keep
            if scale == 0.0:
                continue  # its residuals would be exact zeros
            cn = spec.controlnet.model
            rows = job.rows
            kwargs = {}
            if inputs.added_cond_kwargs is not None:
                kwargs["added_cond_kwargs"] = {k: v[rows] for k, v in inputs.added_cond_kwargs.items()}
            d, m = cn(
                model_in[rows].to(cn.dtype), step.t, encoder_hidden_states=inputs.encoder_hidden_states[rows].to(cn.dtype),
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
        return down, mid


def _control_jobs(positive: Conditioning, negative: Conditioning, batch: int, guided: bool,
                  height: int, width: int) -> list[ControlJob]:
    from diffusers.image_processor import VaeImageProcessor

    # The ControlNet pipelines' own hint preparation: to float tensor, resize to the output size.
    processor = VaeImageProcessor(vae_scale_factor=SCALE, do_convert_rgb=True, do_normalize=False)
    from .t2i_adapter import is_adapter_spec  # adapters are not ControlNets: see ``adapter_residuals``

    pos = [s for s in positive.controls if not is_adapter_spec(s)]
    neg = [s for s in negative.controls if not is_adapter_spec(s)] if guided else []
    # Rows of the model batch: [negative, positive] with CFG, [positive] without.
    whole = slice(0, 2 * batch if guided else batch)
    cond_half = slice(batch, 2 * batch) if guided else whole
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
        if guided and rows is whole:
            hint = hint.repeat(2, 1, 1, 1)
        jobs.append(ControlJob(spec, rows, hint))
    return jobs


def _place(r: Any, rows: slice, size: int) -> Any:
    """Residuals for some rows of the batch, zero elsewhere."""
    import torch

    full = torch.zeros((size, *r.shape[1:]), dtype=r.dtype, device=r.device)
    full[rows] = r
    return full
