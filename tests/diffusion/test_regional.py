"""Regional conditioning (areas, masks, combined prompts): the blend against a per-pixel reference on a
fake UNet whose output shows which prompt it saw, exactness with one plain entry, ControlNets inside
areas, CFG, batching and SDXL on the tiny models."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.denoiser import build_denoiser
from studio.diffusion.regional import regional_denoiser
from studio.diffusion.tiled import TileSpec
from studio.diffusion.values import Area, Conditioning, ControlSpec, Latent, UNetModel, combine
from tests.diffusion.sampling import conftest as tiny_models

# The tiny SD 1.5 / SDXL fixtures of the sampling tests.
sd15, sdxl = tiny_models.sd15, tiny_models.sdxl
SD15_SCHEDULER = tiny_models.SD15_SCHEDULER


class FakeUNet:
    """Output 0.5·x + mean(prompt embedding), pixel by pixel: the prompt an area saw shows in its output."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(in_channels=4, out_channels=4, addition_embed_type=None, time_cond_proj_dim=None)
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, sample, t, *, encoder_hidden_states, cross_attention_kwargs=None, return_dict=False, **kw):
        self.calls.append(tuple(sample.shape))
        self.timestep_cond = kw.get("timestep_cond")
        out = 0.5 * sample + encoder_hidden_states.mean(dim=(1, 2))[:, None, None, None]
        if cross_attention_kwargs is not None:  # per-row values from a model patch (as IP-Adapter's tokens)
            out = out + cross_attention_kwargs["tag"][0][:, None, None, None]
        return (out,)


class TagPatch:
    """A model patch that acts per step like IP-Adapter: a value per CFG row, -1 for the negative half and
    +1 for the positive, handed to the UNet through its cross-attention kwargs."""

    def conditioning_patch(self, *, unet, batch, guided):
        rows = torch.cat([torch.full((batch,), -1.0), torch.ones(batch)]) if guided else torch.ones(batch)
        return lambda inputs, step: replace(inputs, cross_attention_kwargs={"tag": (rows, 0.5)})


def _model(prediction: str = "epsilon") -> UNetModel:
    return UNetModel("sd15", FakeUNet(), dict(SD15_SCHEDULER, prediction_type=prediction))


def _cond(value: float, **kw) -> Conditioning:
    return Conditioning("sd15", torch.full((1, 77, 32), float(value)), **kw)


def _alpha_bar(t: int) -> float:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    return float(np.cumprod(1.0 - betas)[t])


def _reference(x: torch.Tensor, entries: list[tuple], t: int) -> torch.Tensor:
    """The blend of one half: each entry's weight worked out pixel by pixel, then the weighted mean.
    ``entries``: (latent box (y, x, h, w) or None, strength, mask (H, W) or None, mask_strength, embed value)."""
    _, _, height, width = x.shape
    num, den = torch.zeros_like(x), torch.zeros(height, width, dtype=torch.float64)
    for box, strength, mask, mask_strength, value in entries:
        weights = np.zeros((height, width))
        y0, x0, h, w = box if box is not None else (0, 0, height, width)
        for i in range(y0, y0 + h):
            for j in range(x0, x0 + w):
                weight = strength
                if mask is not None:
                    weight *= float(mask[i, j]) * mask_strength
                elif box is not None:
                    ry, rx = min(8, h // 4), min(8, w // 4)
                    if y0 > 0 and i - y0 < ry:
                        weight *= (i - y0 + 1) / ry
                    if y0 + h < height and y0 + h - 1 - i < ry:
                        weight *= (y0 + h - i) / ry
                    if x0 > 0 and j - x0 < rx:
                        weight *= (j - x0 + 1) / rx
                    if x0 + w < width and x0 + w - 1 - j < rx:
                        weight *= (x0 + w - j) / rx
                weights[i, j] = weight
        wt = torch.from_numpy(weights)
        num += wt.float() * (0.5 * x + value)
        den += wt
    fill = x / math.sqrt(1.0 - _alpha_bar(t))  # an epsilon whose denoised estimate is 0
    covered = den > 0
    return torch.where(covered, num / den.clamp_min(1e-30).float(), fill)


def _mask(size: int = 32) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[4:28, 2:14] = torch.linspace(0.2, 1.0, 12)  # a soft band on the left
    return mask


def test_two_areas_a_full_frame_prompt_and_a_mask_match_the_per_pixel_reference():
    x = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = _mask()
    positive = combine(
        _cond(1.0),
        _cond(3.0, area=Area(0, 64, 128, 128), strength=1.5),  # inner edges on three sides: feathered
        _cond(-2.0, area=Area(128, 0, 128, 256)),  # touches the top, bottom and right borders
        _cond(5.0, mask=mask.numpy(), mask_strength=0.5, strength=2.0),
    )
    negative = _cond(0.3)
    denoiser = regional_denoiser(_model(), positive, negative, batch=2, cfg=3.0, height=256, width=256)
    got = denoiser(x, torch.tensor(500), 0, 3)
    cond = _reference(x, [(None, 1.0, None, 1.0, 1.0), ((8, 0, 16, 16), 1.5, None, 1.0, 3.0),
                          ((0, 16, 32, 16), 1.0, None, 1.0, -2.0), (None, 2.0, mask, 0.5, 5.0)], 500)
    uncond = 0.5 * x + 0.3
    assert torch.allclose(got, uncond + 3.0 * (cond - uncond), atol=1e-5)
    # Regions of one size share a UNet call: the full frame twice (both halves), then each area.
    assert denoiser.unet_calls == 3


def test_pixels_no_prompt_covers_get_a_denoised_estimate_of_zero():
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    positive = _cond(2.0, area=Area(0, 0, 64, 128))  # the left half only
    for prediction in ("epsilon", "v_prediction"):
        denoiser = regional_denoiser(_model(prediction), positive, _cond(0.0), batch=1, cfg=1.0, height=128,
                                     width=128)
        out = denoiser(x, torch.tensor(300), 0, 2)
        a = _alpha_bar(300)
        scale = 1 / math.sqrt(1 - a) * (math.sqrt(a) if prediction == "v_prediction" else 1.0)
        assert torch.allclose(out[..., 8:], x[..., 8:] * scale, atol=1e-5)
        assert torch.allclose(out[..., :8], 0.5 * x[..., :8] + 2.0, atol=1e-5)
        # The estimate of x0 there is 0: x_t = sqrt(a)·x0 + sqrt(1-a)·eps.
        if prediction == "epsilon":
            x0 = (x[..., 8:] - math.sqrt(1 - a) * out[..., 8:]) / math.sqrt(a)
            assert float(x0.abs().max()) < 1e-4


def test_strengths_weight_overlapping_prompts():
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    positive = combine(_cond(1.0), _cond(4.0, strength=3.0))
    out = regional_denoiser(_model(), positive, _cond(0.0), batch=1, cfg=1.0, height=64, width=64)(
        x, torch.tensor(10), 0, 1)
    assert torch.allclose(out, 0.5 * x + (1.0 * 1.0 + 3.0 * 4.0) / 4.0, atol=1e-6)


def test_a_tall_area_fades_over_eight_latent_pixels_at_its_inner_edges():
    x = torch.randn(1, 4, 48, 8, generator=torch.Generator().manual_seed(9))
    positive = combine(_cond(0.0), _cond(4.0, area=Area(0, 64, 64, 256)))  # rows 8–39, the full width
    out = regional_denoiser(_model(), positive, _cond(0.0), batch=1, cfg=1.0, height=384, width=64)(
        x, torch.tensor(20), 0, 1)
    reference = _reference(x, [(None, 1.0, None, 1.0, 0.0), ((8, 0, 32, 8), 1.0, None, 1.0, 4.0)], 20)
    assert torch.allclose(out, reference, atol=1e-5)
    weights = (out - 0.5 * x)[0, 0, :, 0] / 4.0  # the area's share of each row
    assert torch.allclose(weights[8:16], torch.arange(1, 9) / 8 / (1 + torch.arange(1, 9) / 8), atol=1e-5)


def test_cfg_is_applied_after_each_half_is_blended():
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    positive = combine(_cond(1.0), _cond(3.0, area=Area(0, 0, 64, 64)))
    negative = combine(_cond(-1.0), _cond(0.5, mask=_mask(16).numpy()))
    t = torch.tensor(700)

    def run(pos, neg, cfg):
        return regional_denoiser(_model(), pos, neg, batch=1, cfg=cfg, height=128, width=128)(x, t, 0, 1)

    cond, uncond = run(positive, negative, 1.0), run(negative, positive, 1.0)
    assert torch.allclose(run(positive, negative, 6.5), uncond + 6.5 * (cond - uncond), atol=1e-5)


def test_a_per_step_model_patch_gives_each_entry_the_rows_of_its_half():
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(10))
    model = replace(_model(), patches=(TagPatch(),))
    positive = combine(_cond(1.0), _cond(3.0, area=Area(0, 0, 64, 128)), _cond(2.0, area=Area(64, 0, 64, 128)))
    out = regional_denoiser(model, positive, _cond(0.5), batch=2, cfg=2.0, height=128, width=128)(
        x, torch.tensor(100), 0, 1)
    cond = _reference(x, [(None, 1.0, None, 1.0, 2.0), ((0, 0, 16, 8), 1.0, None, 1.0, 4.0),
                          ((0, 8, 16, 8), 1.0, None, 1.0, 3.0)], 100)  # each value + 1 from the patch
    uncond = 0.5 * x + 0.5 - 1.0
    assert torch.allclose(out, uncond + 2.0 * (cond - uncond), atol=1e-5)
    assert model.unet.calls == [(4, 4, 16, 16), (4, 4, 16, 8)]  # the two halves, then both areas in one call


def test_a_guidance_distilled_unet_is_told_the_runs_cfg_in_every_region():
    model = _model()
    model.unet.config.time_cond_proj_dim = 8
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(11))
    positive = combine(_cond(1.0), _cond(2.0, area=Area(0, 0, 32, 64)))
    regional_denoiser(model, positive, _cond(0.0), batch=1, cfg=4.0, height=64, width=64)(x, torch.tensor(9), 0, 1)
    plain = build_denoiser(model, _cond(1.0), _cond(0.0), batch=1, cfg=4.0, height=64, width=64)
    assert plain.inputs.timestep_cond is not None
    assert torch.equal(model.unet.timestep_cond, plain.inputs.timestep_cond[:1])  # the area's call, one row


def test_mask_bounds_evaluate_the_prompt_on_the_masks_bounding_box():
    x = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    mask = _mask()
    whole = combine(_cond(1.0), _cond(5.0, mask=mask.numpy()))
    bounded = combine(_cond(1.0), _cond(5.0, mask=mask.numpy(), set_area_to_bounds=True))
    model = _model()
    a = regional_denoiser(model, whole, _cond(0.0), batch=1, cfg=1.0, height=256, width=256)(x, torch.tensor(50), 0, 1)
    b = regional_denoiser(model, bounded, _cond(0.0), batch=1, cfg=1.0, height=256, width=256)(x, torch.tensor(50), 0, 1)
    assert torch.allclose(a, b, atol=1e-6)  # a pointwise UNet: only the region evaluated changes
    assert model.unet.calls[-1] == (1, 4, 24, 12)  # rows 4–27, columns 2–13
    # A mask smaller than 8 latent pixels still gets an 8×8 region.
    tiny = torch.zeros(32, 32)
    tiny[30, 30] = 1.0
    regional_denoiser(model, _cond(2.0, mask=tiny.numpy(), set_area_to_bounds=True), _cond(0.0), batch=1, cfg=1.0,
                      height=256, width=256)(x, torch.tensor(50), 0, 1)
    assert model.unet.calls[-1] == (1, 4, 2, 2)  # 8×8 from (30, 30), clamped inside the latent


def test_areas_of_one_size_share_a_unet_call_and_agree_with_separate_calls():
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))
    quads = [_cond(float(i), area=Area(64 * (i % 2), 64 * (i // 2), 64, 64)) for i in range(4)]
    positive = combine(_cond(9.0), *quads)
    model = _model()
    denoiser = regional_denoiser(model, positive, _cond(0.0), batch=1, cfg=5.0, height=128, width=128)
    out = denoiser(x, torch.tensor(400), 0, 1)
    assert model.unet.calls == [(2, 4, 16, 16), (4, 4, 8, 8)]
    cond = _reference(x, [(None, 1.0, None, 1.0, 9.0)] + [((8 * (i // 2), 8 * (i % 2), 8, 8), 1.0, None, 1.0, float(i))
                                                         for i in range(4)], 400)
    uncond = 0.5 * x
    assert torch.allclose(out, uncond + 5.0 * (cond - uncond), atol=1e-5)


def test_relative_areas_are_fractions_of_the_latent():
    x = torch.randn(1, 4, 16, 24, generator=torch.Generator().manual_seed(6))
    model = _model()
    positive = combine(_cond(0.0), _cond(1.0, area=Area(0.5, 0.25, 0.5, 0.5, relative=True)))
    regional_denoiser(model, positive, _cond(0.0), batch=1, cfg=1.0, height=128, width=192)(x, torch.tensor(5), 0, 1)
    assert (1, 4, 8, 12) in model.unet.calls


# --- the tiny Stable Diffusion models -------------------------------------------------------------

@pytest.mark.parametrize("cfg", [5.0, 1.0])
def test_one_plain_entry_per_half_is_exactly_the_plain_denoiser(sd15, cfg):
    p, n = prompts.encode_prompt(sd15.clip, "a photo of a cat"), prompts.encode_prompt(sd15.clip, "blurry")
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    plain = build_denoiser(sd15.model, p, n, batch=2, cfg=cfg, height=64, width=64)
    regional = regional_denoiser(sd15.model, p, n, batch=2, cfg=cfg, height=64, width=64)
    for t in (torch.tensor(901), torch.tensor(41)):
        assert torch.equal(plain(x, t, 0, 2), regional(x, t, 0, 2))


def test_a_controlnet_on_an_area_sees_the_hint_under_that_area(sd15):
    hint = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    spec = ControlSpec(sd15.control[0], hint, 0.9)
    text = prompts.encode_prompt(sd15.clip, "a red house")
    entry = replace(text, area=Area(32, 0, 32, 64)).with_control(spec)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(8))
    t = torch.tensor(500)
    out = regional_denoiser(sd15.model, entry, text, batch=1, cfg=1.0, height=64, width=64)(x, t, 0, 2)
    # The same ControlNet run on the crop, with the crop of the hint.
    cropped = replace(text, controls=(replace(spec, hint=hint[:, :, 32:]),))
    reference = build_denoiser(sd15.model, cropped, cropped, batch=1, cfg=1.0, height=64, width=32)(
        x[..., 4:].contiguous(), t, 0, 2)
    assert torch.allclose(out[..., 4:], reference, atol=1e-5)
    uncontrolled = regional_denoiser(sd15.model, replace(text, area=Area(32, 0, 32, 64)), text, batch=1, cfg=1.0,
                                     height=64, width=64)(x, t, 0, 2)
    assert not torch.allclose(out[..., 4:], uncontrolled[..., 4:], atol=1e-3)  # the control does act


def test_sdxl_samples_with_areas_and_keeps_each_prompts_size_conditioning(sdxl):
    p, n = prompts.encode_prompt(sdxl.clip, "a red house"), prompts.encode_prompt(sdxl.clip, "blurry")
    left = replace(prompts.encode_prompt(sdxl.clip, "a tree"), area=Area(0, 0, 32, 64), strength=1.2)
    positive = combine(p, left)
    denoiser = regional_denoiser(sdxl.model, positive, n, batch=1, cfg=5.0, height=64, width=64)
    plain = build_denoiser(sdxl.model, p, n, batch=1, cfg=5.0, height=64, width=64)
    plain_added = plain.inputs.added_cond_kwargs
    assert plain_added is not None
    for region in denoiser.regions:  # an area is told the whole output's size and no crop, as ComfyUI does
        added = region.base.inputs.added_cond_kwargs
        assert added is not None
        assert torch.equal(added["time_ids"], plain_added["time_ids"][region.half:region.half + 1])
    latent = Latent("sdxl", torch.zeros(1, 4, 8, 8))
    args: dict[str, Any] = dict(seed=3, steps=2, cfg=5.0, sampler="euler", scheduler="normal")
    regional = sampling.sample(sdxl.model, positive, n, latent, **args).samples
    assert bool(torch.isfinite(regional).all())
    assert not torch.equal(regional, sampling.sample(sdxl.model, p, n, latent, **args).samples)
    with pytest.raises(NodeFailure, match="tiled sampling cannot use regional"):
        sampling.sample(sdxl.model, positive, n, latent, tiling=TileSpec("mixture", 32, 32, 0, 1), **args)
