"""Tiled denoising on the tiny SD 1.5 / SDXL models: exactness with one tile, coverage, fstd offsets,
ControlNet hint and concat crops, inpainting masks, and the work each mode does."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.denoiser import ConcatChannels, ControlNetResiduals, build_denoiser
from studio.diffusion.tiled import TilePatch, TileRows, TileSpec, crop_extension, crop_residuals
from studio.diffusion.tiled_layout import boxes_for, fstd_offsets, grid_starts, make_layout
from studio.diffusion.values import ControlSpec, Latent

MODES = ("fstd", "mixture", "multidiffusion")


def _conds(ns):
    return prompts.encode_prompt(ns.clip, "a photo of a cat"), prompts.encode_prompt(ns.clip, "blurry")


def _run(ns, latent, *, positive=None, negative=None, tiling=None, **kw):
    p, n = _conds(ns)
    args = dict(seed=7, steps=3, cfg=5.0, sampler="dpmpp_2m", scheduler="normal")
    args.update(kw)
    return sampling.sample(ns.model, positive or p, negative or n, latent, tiling=tiling, **args).samples


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("denoise", [1.0, 0.6])
def test_one_tile_covering_the_latent_equals_untiled_sampling_exactly(sd15, mode, denoise):
    latent = Latent("sd15", torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)))
    plain = _run(sd15, latent, denoise=denoise)
    tiled = _run(sd15, latent, denoise=denoise, tiling=TileSpec(mode, 64, 64, 16, 3))
    assert torch.equal(plain, tiled)
    # A tile larger than the latent is the whole latent too; and tiles change the result once smaller.
    assert torch.equal(plain, _run(sd15, latent, denoise=denoise, tiling=TileSpec(mode, 128, 96, 16, 1)))
    assert not torch.equal(plain, _run(sd15, latent, denoise=denoise, tiling=TileSpec(mode, 32, 32, 16, 1)))


def test_one_tile_is_exact_with_a_controlnet_on_sdxl_and_through_the_model_attachment(sdxl):
    from studio.diffusion.values import ControlNet

    p, n = _conds(sdxl)
    hint = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    spec = ControlSpec(ControlNet("sdxl", sdxl.controlnet), hint, 0.8)
    p, n = p.with_control(spec), n.with_control(spec)
    latent = Latent("sdxl", torch.zeros(1, 4, 8, 8))
    plain = _run(sdxl, latent, positive=p, negative=n, sampler="euler")
    model = replace(sdxl.model, tiling=TileSpec("mixture", 64, 64, 0, 1))
    tiled = sampling.sample(model, p, n, latent, seed=7, steps=3, cfg=5.0, sampler="euler",
                            scheduler="normal").samples
    assert torch.equal(plain, tiled)


@pytest.mark.parametrize("mode", ["mixture", "multidiffusion"])
def test_overlapping_tiles_cover_the_latent_and_their_weights_sum_to_one(mode):
    boxes = boxes_for(mode, (20, 37), (8, 12), 3)
    layout = make_layout(mode, boxes, 20, 37, "cpu")
    assert layout.covered is None
    total = torch.zeros(20, 37)
    for (y, x, h, w), wt in zip(layout.boxes, layout.weights, strict=True):
        assert (h, w) == (8, 12) and bool((wt > 0).all())
        total[y:y + h, x:x + w] += wt[0, 0]
    assert torch.allclose(total, torch.ones(20, 37), atol=1e-6)
    if mode == "mixture":  # Gaussian: a tile's centre outweighs its border
        wt = tile = layout.weights[4][0, 0]
        assert float(tile[4, 6]) > float(wt[0, 0])


def test_fstd_offsets_are_reproducible_per_seed_and_differ_between_seeds():
    draw = [fstd_offsets(5, i, (64, 64), (128, 192)) for i in range(1, 9)]
    assert draw == [fstd_offsets(5, i, (64, 64), (128, 192)) for i in range(1, 9)]
    assert draw != [fstd_offsets(6, i, (64, 64), (128, 192)) for i in range(1, 9)]
    assert len(set(draw)) > 1 and all(0 <= a < 64 and 0 <= b < 64 for a, b in draw)
    assert all(a % 8 == 0 and b % 8 == 0 for a, b in (fstd_offsets(5, i, (64, 64), (128, 192), 8) for i in range(9)))
    assert fstd_offsets(5, 3, (64, 64), (64, 200))[0] == 0  # a side the tile covers whole never moves


def test_fstd_grid_keeps_cells_mostly_inside_and_covers_everything_without_a_previous_prediction():
    assert grid_starts(20, 8, 0, True) == [0, 8, 12]  # the cut last cell moves inside
    assert grid_starts(16, 8, 3, True) == [3, 8]  # [0, 3) dropped, [11, 16) moved inside to 8
    assert grid_starts(16, 8, 5, True) == [0, 5]
    assert grid_starts(16, 8, 3, False) == [0, 3, 8]  # first evaluation: everything covered
    layout = make_layout("fstd", boxes_for("fstd", (16, 16), (8, 8), 0, offset=(3, 3), has_previous=True),
                         16, 16, "cpu")
    assert layout.covered is not None and not bool(layout.covered[0, 0, 0, 0]) and bool(layout.covered[0, 0, 5, 5])


def test_fstd_runs_are_reproducible_per_seed(sd15):
    latent = Latent("sd15", torch.zeros(1, 4, 16, 24))
    spec = TileSpec("fstd", 64, 64, 0, 2)
    a = _run(sd15, latent, tiling=spec, sampler="euler", steps=3)
    assert torch.equal(a, _run(sd15, latent, tiling=spec, sampler="euler", steps=3))
    assert not torch.equal(a, _run(sd15, latent, tiling=spec, sampler="euler", steps=3, seed=8))


def test_the_controlnet_hint_is_cropped_to_each_tile(sd15):
    from studio.diffusion.values import ControlNet

    p, n = _conds(sd15)
    hint = np.random.default_rng(1).random((1, 64, 128, 3)).astype(np.float32)
    spec = ControlSpec(ControlNet("sd15", sd15.controlnets[0]), hint)
    p, n = p.with_control(spec), n.with_control(spec)
    base = build_denoiser(sd15.model, p, n, batch=1, cfg=5.0, height=64, width=128)
    full = base.residual_providers[0].jobs[0].hint  # (2, 3, 64, 128): both CFG halves
    rows = TileRows(1, 2, ((0, 0, 8, 8), (0, 8, 8, 8)))
    cropped = crop_residuals(base.residual_providers[0], rows)
    assert isinstance(cropped, ControlNetResiduals)
    job = cropped.jobs[0]
    manual = torch.cat([full[0:1, :, :, 0:64], full[0:1, :, :, 64:128], full[1:2, :, :, 0:64], full[1:2, :, :, 64:128]])
    assert torch.equal(job.hint, manual) and job.rows == slice(0, 4)
    # ... and a 2×1 tiling runs with it.
    out = _run(sd15, Latent("sd15", torch.zeros(1, 4, 8, 16)), positive=p, negative=n,
               tiling=TileSpec("multidiffusion", 64, 64, 0, 2), sampler="euler", steps=2)
    assert out.shape == (1, 4, 8, 16) and torch.isfinite(out).all()


def test_concat_channels_and_sdxl_crop_coordinates_follow_the_tile():
    rows = TileRows(2, 2, ((0, 0, 4, 4), (2, 4, 4, 4)))
    concat = torch.arange(4 * 5 * 6 * 8, dtype=torch.float32).reshape(4, 5, 6, 8)  # [neg b0 b1, pos b0 b1]
    out = crop_extension(ConcatChannels(concat), rows).rows
    assert out.shape == (8, 5, 4, 4)
    assert torch.equal(out[2:4], concat[0:2, :, 2:6, 4:8]) and torch.equal(out[4:6], concat[2:4, :, 0:4, 0:4])
    from studio.diffusion.denoiser import Step, UNetInputs

    ids = torch.tensor([[512.0, 768.0, 0.0, 0.0, 512.0, 768.0]] * 4)
    inputs = UNetInputs(torch.zeros(4, 3, 2), {"text_embeds": torch.arange(4.0)[:, None], "time_ids": ids})
    patched = TilePatch([], rows)(inputs, Step(0, 1, 0))
    assert patched.encoder_hidden_states.shape[0] == 8
    assert patched.added_cond_kwargs["text_embeds"][:, 0].tolist() == [0, 1, 0, 1, 2, 3, 2, 3]
    crops = patched.added_cond_kwargs["time_ids"][:, 2:4].tolist()
    assert crops == [[0, 0]] * 2 + [[16, 32]] * 2 + [[0, 0]] * 2 + [[16, 32]] * 2


def test_an_inpaint_mask_keeps_the_unmasked_area(sd15):
    clean = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 16, 16)
    mask[:, 4:12, 4:12] = 1.0
    out = _run(sd15, Latent("sd15", clean, noise_mask=mask), tiling=TileSpec("fstd", 64, 64, 0, 2), sampler="euler")
    keep = mask[0] == 0
    assert torch.equal(out[0][:, keep], clean[0][:, keep])
    assert not torch.equal(out[0][:, ~keep], clean[0][:, ~keep])


def test_fstd_evaluates_fewer_tiles_than_multidiffusion_and_tile_batches_agree(sd15):
    calls: list[int] = []
    handle = sd15.unet.register_forward_hook(lambda mod, args, kwargs_out: calls.append(args[0].shape[0]))
    latent = Latent("sd15", torch.zeros(1, 4, 16, 32))
    counts, results = {}, {}
    try:
        for mode in MODES:
            calls.clear()
            results[mode] = _run(sd15, latent, tiling=TileSpec(mode, 64, 64, 32, 1), sampler="euler", steps=3)
            counts[mode] = len(calls)
        calls.clear()
        batched = _run(sd15, latent, tiling=TileSpec("mixture", 64, 64, 32, 4), sampler="euler", steps=3)
        batched_calls = len(calls)
    finally:
        handle.remove()
    assert counts["fstd"] < counts["mixture"] == counts["multidiffusion"]
    assert counts["multidiffusion"] == 3 * 3 * 7  # 3 steps × (3 × 7 windows of stride 4)
    assert batched_calls == 3 * 6 and torch.allclose(batched, results["mixture"], atol=1e-4)


def test_unknown_mode_is_refused():
    with pytest.raises(NodeFailure, match="unknown tiling mode"):
        TileSpec("spiral")


def test_t2i_adapter_features_are_cropped_at_their_own_scale_and_misaligned_tiles_refused():
    from studio.diffusion.t2i_adapter import AdapterJob, T2IAdapterResiduals
    from studio.diffusion.tiled import crop_intrablock

    feats = [torch.randn(2, 3, 8, 16), torch.randn(2, 5, 4, 8)]  # [negative, positive] rows
    provider = T2IAdapterResiduals([AdapterJob(feats, 0.0, 1.0)])
    rows = TileRows(1, 2, ((0, 0, 8, 8), (0, 8, 8, 8)))
    cropped = crop_intrablock(provider, rows, (8, 16))
    fine, coarse = cropped.jobs[0].features
    assert torch.equal(fine, torch.cat([feats[0][0:1, :, :, :8], feats[0][0:1, :, :, 8:],
                                        feats[0][1:2, :, :, :8], feats[0][1:2, :, :, 8:]]))
    assert torch.equal(coarse[1], feats[1][0, :, :, 4:]) and torch.equal(coarse[2], feats[1][1, :, :, :4])
    with pytest.raises(NodeFailure, match="T2I-Adapter with tiled sampling needs tile sizes"):
        crop_intrablock(provider, TileRows(1, 2, ((0, 3, 8, 8),)), (8, 16))


@pytest.mark.parametrize("mode", MODES)
def test_cfg_patches_reach_the_tiles(sd15, mode):
    # Rescale CFG works on the guided output, so the tiled denoiser has to pass it on to each tile's evaluation:
    # with one tile the patched tiled run equals the patched untiled run, and differs from the unpatched one.
    from studio.diffusion.cfg_rescale import RescaleCFG

    latent = Latent("sd15", torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5)))
    patched = replace(sd15.model, patches=(RescaleCFG(0.7),))
    p, n = _conds(sd15)
    args = dict(seed=7, steps=3, cfg=5.0, sampler="euler", scheduler="normal")
    plain = sampling.sample(patched, p, n, latent, **args).samples
    tiled = sampling.sample(patched, p, n, latent, tiling=TileSpec(mode, 64, 64, 16, 1), **args).samples
    unpatched = sampling.sample(sd15.model, p, n, latent, tiling=TileSpec(mode, 64, 64, 16, 1), **args).samples
    assert torch.equal(plain, tiled)
    assert not torch.allclose(tiled, unpatched, atol=1e-4)
