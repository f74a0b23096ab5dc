"""Regional conditioning: every entry of a prompt evaluated on its own part of the latent.

A CONDITIONING may hold several entries (Conditioning Combine), each limited to an area and/or a mask
and weighted by a strength (``studio.diffusion.values.Conditioning``). The sampler then steps over a
``RegionalDenoiser`` instead of the plain one. The semantics are those of ComfyUI's area and mask
conditioning, restated here:

- **Region.** An entry is evaluated on its area, cropped from the latent: image pixels // 8 (relative
  areas: fractions of the latent's own size, at least one latent pixel), the size then clamped so
  that the area stays inside the latent. An entry without an area covers the whole latent. With
  ``set_area_to_bounds`` the area is the bounding box of the mask's non-zero pixels (at least 8
  latent pixels a side; an empty mask gives an 8×8 area at the corner, where its weight is zero).
- **Weight map.** ``strength`` × the mask, where the mask (resized bilinearly to the whole latent,
  then cropped to the area) is scaled by ``mask_strength``. An area without a mask is feathered
  instead: along each of its edges that does not lie on the latent's border, the last
  ``min(8, side // 4)`` latent pixels fade linearly (1/r, 2/r, … towards the inside), so that
  neighbouring areas blend instead of leaving seams.
- **Blend.** Per CFG half, ``sum(weight · prediction) / (sum(weight) + 1e-37)``. Where no entry
  covers a pixel (total weight 0) ComfyUI's division leaves a denoised estimate (x0) of exactly 0
  there, which we match: the half's model output there is the one whose x0 is 0 (for an epsilon
  model ``x_t / sqrt(1 - alpha_bar_t)``). Predictions are blended in the scheduler's own
  parameterisation; x0 is affine in it with the same coefficients for every entry, so the weighted
  mean is the same in either space wherever something covers the pixel.
- **CFG** after the blend: ``uncond + cfg · (cond - uncond)``. With cfg = 1 only the positive half
  runs, as in the plain denoiser.

Each entry keeps what is attached to it: its ControlNets and T2I-Adapters (hints and features cropped
to the area with the tiled sampler's helpers, so a ControlNet still sees the part of the hint under
the area; ComfyUI rescales the whole hint to the area instead, which puts the hint out of place),
its inpainting ``concat`` (cropped; an entry without one borrows the first entry's that has one), its
SDXL pooled embedding and size conditioning (kept as they are: an area is told nothing about its
position, as in ComfyUI) and what ``build_denoiser`` builds from it (GLIGEN's grounded UNet and its
per-step inputs; GLIGEN boxes stay relative to the whole image). Model patches that act per step
(IP-Adapter) are built once for the CFG batch and each entry takes the rows of its half.

Entries whose areas have the same size are evaluated in one UNet call (prompts of different lengths
are tiled to a common length, which leaves cross-attention unchanged; entries with their own UNet
wrapper or differently shaped inputs run on their own). One entry per half without area or mask
gives exactly the plain denoiser's output. Tiled sampling does not combine with regions (the
sampler refuses it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.context import NodeFailure

from .denoiser import Denoiser, Step, UNetInputs, _guidance_embedding, build_denoiser
from .tiled import TileRows, crop_extension, crop_intrablock, crop_residuals
from .vae import SCALE
from .values import Area, Conditioning, UNetModel

Box = tuple[int, int, int, int]  # (y, x, height, width) in latent pixels, as the tiled sampler's

# ComfyUI's counts start here, so that a pixel no entry covers divides 0 by a tiny number.
EPSILON = 1e-37
FEATHER = 8  # latent pixels faded at an area's inner edges (at most a quarter of its side)
MIN_BOUNDS = 8  # the smallest side of a mask's bounding box used as an area, latent pixels


@dataclass
class Region:
    """One entry of one CFG half, ready to evaluate: its box, its weight map (rows 1 or B, 1, h, w,
    float32) and the unguided denoiser of the entry for the whole latent."""

    half: int  # index into the CFG batch: 0 = negative, 1 = positive (0 when unguided)
    box: Box
    weight: Any
    base: Denoiser


class _Unbatchable(Exception):
    """Two regions' inputs differ in structure: evaluate them one by one."""


@dataclass
class RegionalDenoiser:
    """``denoiser(latents, t, step_index, total)`` as ``Denoiser``, for regional conditioning (see the
    module docstring). ``unet_calls`` counts the UNet calls made so far."""

    unet: Any  # the model's UNet (an entry's own evaluation may wrap it: GLIGEN)
    regions: list[Region]
    cfg: float
    guided: bool
    batch: int
    size: tuple[int, int]  # latent (height, width)
    uncovered: Any  # _Uncovered: the model output whose x0 is 0
    run_patches: list[Any] = field(default_factory=list)  # per-step model patches for the CFG batch
    unet_calls: int = 0

    def __call__(self, latents: Any, t: Any, step_index: int, total: int) -> Any:
        import torch

        step = Step(step_index, total, t)
        halves = 2 if self.guided else 1
        b, (h, w) = self.batch, self.size
        acc = torch.zeros((halves, b, latents.shape[1], h, w), dtype=torch.float32, device=latents.device)
        count = torch.zeros((halves, b, 1, h, w), dtype=torch.float32, device=latents.device)
        for group in self._groups():
            outs = self._evaluate(latents, step, group)
            for region, out in zip(group, outs, strict=True):
                y, x, rh, rw = region.box
                acc[region.half, :, :, y:y + rh, x:x + rw] += region.weight * out.float()
                count[region.half, :, :, y:y + rh, x:x + rw] += region.weight
        total_weight = count + EPSILON
        # Where the count is 0 the second term is the output whose x0 is 0; where it is ≥ ~1e-30 the
        # factor rounds to exactly 0, so a covered pixel is the plain weighted mean.
        fill = self.uncovered(latents, t).float()
        result = acc / total_weight + (1.0 - count / total_weight) * fill
        if self.guided:
            uncond, cond = result[0], result[1]
            out = uncond + self.cfg * (cond - uncond)
        else:
            out = result[0]
        return out.to(latents.dtype)

    def _groups(self) -> list[list[Region]]:
        """Regions of equal size together (one UNet call each), in the order of their first region."""
        groups: dict[tuple[int, int], list[Region]] = {}
        for region in self.regions:
            groups.setdefault(region.box[2:], []).append(region)
        return list(groups.values())

    def _evaluate(self, latents: Any, step: Step, group: list[Region]) -> list[Any]:
        parts = [self._prepare(latents, step, r) for r in group]
        try:
            batched = [_batch(parts)] if len(parts) > 1 else parts
        except _Unbatchable:
            batched = parts
        outs = []
        for p in batched:
            self.unet_calls += 1
            outs.append(_call_unet(p, step.t))
        if len(outs) == 1 and len(group) > 1:
            return list(outs[0].chunk(len(group)))
        return outs

    def _prepare(self, latents: Any, step: Step, region: Region) -> _Parts:
        """Everything one region's UNet evaluation needs, cropped to its box (rows: the latent batch)."""
        import torch

        base, rows = region.base, TileRows(self.batch, 1, (region.box,))
        model_in = rows.crop(latents, halves=1)
        inputs = base.inputs
        for patch in base.conditioning_patches:
            inputs = patch(inputs, step)
        inputs = self._run_patched(inputs, step, region.half)
        try:
            providers = [crop_residuals(p, rows) for p in base.residual_providers]
            intrablock = [crop_intrablock(p, rows, self.size) for p in base.intrablock_providers]
            extensions = [crop_extension(e, rows) for e in base.input_extensions]
        except NodeFailure as exc:
            raise NodeFailure(f"{exc} (here: an area of the regional conditioning)".replace(
                "tiled sampling", "an area").replace("tile", "area")) from None
        down: list[Any] | None = None
        mid: Any = None
        for provider in providers:
            d, m = provider(model_in, step, inputs)
            if d is not None:
                down = list(d) if down is None else [a + c for a, c in zip(down, d, strict=True)]
                mid = m if mid is None else mid + m
        intra: list[Any] | None = None
        for ip in intrablock:
            f = ip(step)
            if f is not None:
                intra = list(f) if intra is None else [a + c for a, c in zip(intra, f, strict=True)]
        unet_in = model_in
        if extensions:
            unet_in = torch.cat([model_in, *(e(model_in, step) for e in extensions)], dim=1)
        # The entry's own UNet: GLIGEN wraps it for the entries that carry boxes.
        return _Parts(base.unet, unet_in, inputs, down, mid, intra)

    def _run_patched(self, inputs: UNetInputs, step: Step, half: int) -> UNetInputs:
        """The run's per-step model patches (IP-Adapter), built for the whole CFG batch: applied to the
        entry's inputs spread over that batch, then the rows of the entry's half kept."""
        if not self.run_patches:
            return inputs
        b, halves = self.batch, 2 if self.guided else 1
        spread = _rows(inputs, b, [i for _ in range(halves) for i in range(b)])
        for patch in self.run_patches:
            spread = patch(spread, step)
        return _rows(spread, b * halves, list(range(half * b, (half + 1) * b)))


@dataclass
class _Parts:
    unet: Any
    unet_in: Any
    inputs: UNetInputs
    down: list[Any] | None
    mid: Any
    intra: list[Any] | None


def _call_unet(p: _Parts, t: Any) -> Any:
    inputs = p.inputs
    return p.unet(
        p.unet_in, t, encoder_hidden_states=inputs.encoder_hidden_states, timestep_cond=inputs.timestep_cond,
        down_block_additional_residuals=p.down, mid_block_additional_residual=p.mid,
        added_cond_kwargs=inputs.added_cond_kwargs, cross_attention_kwargs=inputs.cross_attention_kwargs,
        return_dict=False, **({"down_intrablock_additional_residuals": p.intra} if p.intra is not None else {}),
    )[0]


def _batch(parts: list[_Parts]) -> _Parts:
    """Several regions of one size as one UNet batch, region-major (region j: rows [j·B, (j+1)·B))."""
    import torch

    n = parts[0].unet_in.shape[0]
    embeds = [p.inputs.encoder_hidden_states for p in parts]
    length = math.lcm(*(e.shape[1] for e in embeds))
    embeds = [e.repeat(1, length // e.shape[1], 1) if e.shape[1] != length else e for e in embeds]
    if (len({tuple(e.shape[2:]) for e in embeds}) != 1 or len({p.unet_in.shape[1] for p in parts}) != 1
            or any(p.unet is not parts[0].unet for p in parts)):
        raise _Unbatchable
    inputs = UNetInputs(
        torch.cat(embeds),
        _cat([p.inputs.added_cond_kwargs for p in parts], n),
        _cat([p.inputs.timestep_cond for p in parts], n),
        _cat([p.inputs.cross_attention_kwargs for p in parts], n),
    )
    down, mid = _cat_residuals([(p.down, p.mid) for p in parts])
    intra = _cat_optional([p.intra for p in parts])
    return _Parts(parts[0].unet, torch.cat([p.unet_in for p in parts]), inputs, down, mid, intra)


def _cat(values: list[Any], rows: int) -> Any:
    """Per-row tensors (first dimension ``rows``) anywhere in equal structures, concatenated; other
    leaves must be equal."""
    import torch

    first = values[0]
    if first is None:
        if any(v is not None for v in values):
            raise _Unbatchable
        return None
    if hasattr(first, "shape"):
        if not all(hasattr(v, "shape") and v.shape == first.shape for v in values):
            raise _Unbatchable
        if first.ndim > 0 and first.shape[0] == rows:
            return torch.cat(values)
        if all(v is first or torch.equal(v, first) for v in values):
            return first
        raise _Unbatchable
    if isinstance(first, dict):
        if any(not isinstance(v, dict) or v.keys() != first.keys() for v in values):
            raise _Unbatchable
        return {k: _cat([v[k] for v in values], rows) for k in first}
    if isinstance(first, (list, tuple)):
        if any(type(v) is not type(first) or len(v) != len(first) for v in values):
            raise _Unbatchable
        return type(first)(_cat([v[i] for v in values], rows) for i in range(len(first)))
    if any(v != first for v in values):
        raise _Unbatchable
    return first


def _cat_residuals(parts: list[tuple[list[Any] | None, Any]]) -> tuple[list[Any] | None, Any]:
    import torch

    template = next(((d, m) for d, m in parts if d is not None), None)
    if template is None:
        return None, None
    d0, m0 = template
    downs = [d if d is not None else [torch.zeros_like(r) for r in d0] for d, _ in parts]
    mids = [m if m is not None else torch.zeros_like(m0) for _, m in parts]
    return [torch.cat(level) for level in zip(*downs, strict=True)], torch.cat(mids)


def _cat_optional(parts: list[list[Any] | None]) -> list[Any] | None:
    import torch

    template = next((p for p in parts if p is not None), None)
    if template is None:
        return None
    filled = [p if p is not None else [torch.zeros_like(f) for f in template] for p in parts]
    return [torch.cat(level) for level in zip(*filled, strict=True)]


def _rows(value: Any, rows: int, index: list[int]) -> Any:
    """``value`` with the rows ``index`` of every per-row tensor (first dimension ``rows``) in it."""
    if value is None:
        return None
    if isinstance(value, UNetInputs):
        return UNetInputs(*(_rows(v, rows, index) for v in (value.encoder_hidden_states, value.added_cond_kwargs,
                                                              value.timestep_cond, value.cross_attention_kwargs)))
    if hasattr(value, "shape"):
        return value[index] if value.ndim > 0 and value.shape[0] == rows else value
    if isinstance(value, dict):
        return {k: _rows(v, rows, index) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rows(v, rows, index) for v in value)
    return value


# --- what a pixel that no entry covers gets ---------------------------------------------------------

@dataclass
class _Uncovered:
    """The model output whose denoised estimate is 0, for the scaled model input ``x_t`` at timestep t:
    x_t is in variance-preserving form (the schedulers' ``scale_model_input`` makes it so), hence
    epsilon = x_t / sqrt(1 - a), v = sqrt(a) · epsilon, sample = 0, where a = alpha_bar(t) (log-sigma
    interpolated between training timesteps for fractional t, as diffusers' Karras sigmas place them)."""

    log_sigmas: Any  # float64, one per training timestep
    prediction: str

    def __call__(self, x: Any, t: Any) -> Any:
        import torch

        if self.prediction not in ("epsilon", "v_prediction"):
            return torch.zeros_like(x)
        tt = min(max(float(t), 0.0), len(self.log_sigmas) - 1.0)
        lo = math.floor(tt)
        hi = min(lo + 1, len(self.log_sigmas) - 1)
        frac = tt - lo
        log_sigma = (1 - frac) * float(self.log_sigmas[lo]) + frac * float(self.log_sigmas[hi])
        sigma2 = math.exp(2 * log_sigma)
        alpha_bar = 1.0 / (1.0 + sigma2)
        eps_scale = 1.0 / math.sqrt(max(1.0 - alpha_bar, 1e-12))
        if self.prediction == "v_prediction":
            eps_scale *= math.sqrt(alpha_bar)
        return x * eps_scale


def uncovered_output(scheduler_config: Any) -> _Uncovered:
    import numpy as np
    from diffusers import DDPMScheduler

    config = dict(scheduler_config)
    sched = DDPMScheduler.from_config(config)
    a = sched.alphas_cumprod.double().numpy()
    # Zero-terminal-SNR schedules end at alpha_bar = 0: keep the log finite there.
    log_sigmas = 0.5 * np.log(np.maximum(1.0 - a, 1e-20) / np.maximum(a, 1e-20))
    return _Uncovered(log_sigmas, str(config.get("prediction_type", "epsilon")))


# --- building ---------------------------------------------------------------------------------------

def latent_box(area: Area | None, height: int, width: int) -> Box:
    """An area in latent pixels (y, x, h, w) for a latent of ``height``×``width``, clamped inside it;
    the whole latent for None."""
    if area is None:
        return (0, 0, height, width)
    if area.relative:
        h, w = max(1, round(area.height * height)), max(1, round(area.width * width))
        y, x = round(area.y * height), round(area.x * width)
    else:
        x, y, w, h = (int(v) // SCALE for v in area.pixels(height * SCALE, width * SCALE))
    y, x = min(max(y, 0), height - 1), min(max(x, 0), width - 1)
    return (y, x, max(1, min(h, height - y)), max(1, min(w, width - x)))


def latent_mask(mask: Any, height: int, width: int) -> Any:
    """A mask (H, W) or (N, H, W) at any size → float32 (N, 1, height, width), bilinear."""
    import torch
    import torch.nn.functional as F

    m = torch.as_tensor(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask).float()
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3:
        raise NodeFailure(f"a conditioning mask must be (H, W) or (N, H, W); this one has shape {tuple(m.shape)}")
    m = m[:, None]
    if tuple(m.shape[-2:]) != (height, width):
        m = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
    return m


def mask_bounds(mask: Any) -> Box:
    """The bounding box (y, x, h, w) of a latent mask's non-zero pixels over its batch, each side at
    least ``MIN_BOUNDS``; (0, 0, 8, 8) for an empty mask."""
    import torch

    any_rows = mask.abs().amax(dim=(0, 1)) > 0
    ys = torch.nonzero(any_rows.any(dim=1)).flatten()
    xs = torch.nonzero(any_rows.any(dim=0)).flatten()
    if ys.numel() == 0:
        return (0, 0, MIN_BOUNDS, MIN_BOUNDS)
    y, x = int(ys[0]), int(xs[0])
    return (y, x, max(MIN_BOUNDS, int(ys[-1]) - y + 1), max(MIN_BOUNDS, int(xs[-1]) - x + 1))


def weight_map(entry: Conditioning, box: Box, mask: Any, height: int, width: int) -> Any:
    """The entry's weights over its box: float32 (1 or N, 1, h, w) (see the module docstring)."""
    import torch

    y, x, h, w = box
    if mask is not None:
        return mask[:, :, y:y + h, x:x + w] * float(entry.mask_strength) * float(entry.strength)
    weight = torch.full((1, 1, h, w), float(entry.strength), dtype=torch.float32)
    if entry.area is None:
        return weight
    # Feather the inner edges (those not on the latent's border) so that areas blend without seams.
    for dim, offset, side, extent in ((2, y, h, height), (3, x, w, width)):
        r = min(FEATHER, side // 4)
        for i in range(r):
            fade = (i + 1) / r
            if offset != 0:
                weight.narrow(dim, i, 1).mul_(fade)
            if offset + side < extent:
                weight.narrow(dim, side - 1 - i, 1).mul_(fade)
    return weight


def _fit_rows(weight: Any, batch: int) -> Any:
    """A weight map of 1 or N rows for a latent batch of ``batch``: one row applies to all; more are
    cut or repeated to the batch."""
    n = weight.shape[0]
    if n in (1, batch):
        return weight
    if n > batch:
        return weight[:batch]
    return weight.repeat(math.ceil(batch / n), 1, 1, 1)[:batch]


def regional_denoiser(model: UNetModel, positive: Conditioning, negative: Conditioning, *, batch: int, cfg: float,
                      height: int, width: int) -> RegionalDenoiser:
    """The denoiser for a run whose prompts have several entries, areas or masks (``height``×``width``
    image pixels; see the module docstring)."""
    unet = model.unet
    device = unet.device
    guided = cfg != 1.0
    lh, lw = height // SCALE, width // SCALE
    # Per-entry denoisers without the run's model patches: those are built once for the CFG batch.
    bare = replace(model, patches=())
    halves = [negative, positive] if guided else [positive]
    guidance = None
    if getattr(unet.config, "time_cond_proj_dim", None) is not None:
        # A guidance-distilled UNet is told the run's cfg, not the per-entry denoiser's 1.
        import torch

        w = torch.tensor(cfg - 1).repeat(batch)
        guidance = _guidance_embedding(w, unet.config.time_cond_proj_dim, unet.dtype).to(device, unet.dtype)
    # An inpainting UNet needs every entry's extra channels: an entry without them borrows the first
    # entry's that has them (as the plain denoiser lets one half borrow the other's).
    concat = next((e.concat for c in (positive, negative) for e in c.entries() if e.concat is not None), None)
    regions: list[Region] = []
    for half, cond in enumerate(halves):
        for entry in cond.entries():
            if entry.concat is None and concat is not None:
                entry = replace(entry, concat=concat)
            mask = latent_mask(entry.mask, lh, lw) if entry.mask is not None else None
            if mask is not None and entry.set_area_to_bounds:
                box = mask_bounds(mask)
                box = (box[0], box[1], min(box[2], lh - box[0]), min(box[3], lw - box[1]))
            else:
                box = latent_box(entry.area, lh, lw)
            weight = _fit_rows(weight_map(entry, box, mask, lh, lw), batch).to(device)
            base = build_denoiser(bare, entry, entry, batch=batch, cfg=1.0, height=height, width=width)
            if guidance is not None:
                base.inputs = replace(base.inputs, timestep_cond=guidance)
            regions.append(Region(half, box, weight, base))
    run_patches = [make(unet=unet, batch=batch, guided=guided) for p in getattr(model, "patches", ())
                   if (make := getattr(p, "conditioning_patch", None)) is not None]
    return RegionalDenoiser(unet, regions, float(cfg), guided, batch, (lh, lw),
                            uncovered_output(model.scheduler_config), run_patches)
