"""Tiled inference: one tile is the network's output exactly; overlapping tiles blend to the untiled
result; cancel, progress, out-of-memory retries, alpha and grey images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.context import CancelledError, OutOfMemory
from studio.diffusion.upscale_models import load_upscale_model, upscale_image
from studio.diffusion.upscale_tiling import ramp, tile_starts, upscale_tiled


def test_tile_starts_cover_the_side_and_end_flush():
    assert tile_starts(100, 512, 32) == [0]
    assert tile_starts(100, 40, 8) == [0, 32, 60]
    for size, tile, overlap in ((1000, 512, 32), (513, 512, 32), (77, 16, 4)):
        starts = tile_starts(size, tile, overlap)
        assert starts[-1] + tile == size
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_ramps_of_neighbours_sum_to_one_across_the_overlap():
    a, b = ramp(40, 0, 16), ramp(40, 16, 0)
    assert torch.allclose(a[-16:] + b[:16], torch.ones(16))
    assert a[-4:].eq(0).all() and b[:4].eq(0).all()  # the outer quarter is not used


@pytest.mark.parametrize("name", ["realesr-general-x4v3.safetensors", "RealESRGAN_x4plus.safetensors",
                                  "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors"])
def test_one_tile_is_exactly_the_network(upscale_dir: Path, name: str):
    model = load_upscale_model(upscale_dir / name)
    image = np.random.default_rng(1).random((1, 21, 30, 3), dtype=np.float32)
    x = torch.from_numpy(image).permute(0, 3, 1, 2)
    expected = model(x).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(upscale_image(model, image, tile=512, overlap=32), expected)


def test_tiles_equal_untiled_where_the_overlap_covers_the_receptive_field(upscale_dir: Path):
    # tiny SRVGG: 4 convolutions see 4 pixels around; a quarter of a 16-pixel overlap hides the tile edges
    model = load_upscale_model(upscale_dir / "realesr-general-x4v3.safetensors")
    image = np.random.default_rng(2).random((1, 60, 52, 3), dtype=np.float32)  # 3 × 3 tiles
    whole = upscale_image(model, image, tile=512)
    seen: list[float] = []
    tiled = upscale_image(model, image, tile=32, overlap=16, progress=lambda f, t: seen.append(f))
    assert seen == [n / 9 for n in range(1, 10)]  # progress per tile
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("name", ["RealESRGAN_x4plus.safetensors", "RealESRGAN_x2plus.safetensors",
                                  "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors"])
def test_tiles_are_close_to_untiled_for_wide_receptive_fields(upscale_dir: Path, name: str):
    model = load_upscale_model(upscale_dir / name)
    image = np.random.default_rng(3).random((1, 30, 26, 3), dtype=np.float32)
    whole = upscale_image(model, image, tile=512)
    tiled = upscale_image(model, image, tile=20, overlap=8)  # 2 × 2 tiles
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).mean() < 0.01


def test_cancel_is_checked_between_tiles(upscale_dir: Path):
    model = load_upscale_model(upscale_dir / "realesr-general-x4v3.safetensors")
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise CancelledError()

    with pytest.raises(CancelledError):
        upscale_image(model, np.zeros((1, 64, 64, 3), np.float32), tile=16, overlap=4, check_cancel=check)
    assert len(calls) == 3


def test_out_of_memory_halves_the_tile_and_retries(monkeypatch):
    from studio.diffusion import upscale_tiling

    freed: list[int] = []
    monkeypatch.setattr(upscale_tiling, "free_memory", lambda: freed.append(1))  # gc.collect is slow
    sizes = []

    def run(x):
        sizes.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > 32:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    retries: list[str] = []
    x = torch.rand(1, 3, 100, 90)
    out = upscale_tiled(run, x, 2, tile=128, overlap=8, on_retry=retries.append)
    assert torch.allclose(out, torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"), atol=1e-6)
    assert sizes[0] == 100 and len(retries) == 2 and "64" in retries[0] and "32" in retries[1]
    assert len(freed) == 2

    def always(x):
        raise RuntimeError("out of memory")

    with pytest.raises(OutOfMemory):
        upscale_tiled(always, x, 2, tile=64)


def test_alpha_and_grey_images(upscale_dir: Path):
    model = load_upscale_model(upscale_dir / "realesr-general-x4v3.safetensors")
    rgba = np.random.default_rng(4).random((1, 9, 11, 4), dtype=np.float32)
    out = upscale_image(model, rgba)
    assert out.shape == (1, 36, 44, 4)
    np.testing.assert_allclose(out[..., :3], upscale_image(model, rgba[..., :3]), atol=1e-6)
    grey = upscale_image(model, rgba[..., :1])
    assert grey.shape == (1, 36, 44, 1)


def test_a_greyscale_network_takes_the_mean_of_rgb():
    from bench.make_upscale import make_upscale_model
    from studio.diffusion.upscale_models import UpscaleModel, inspect_upscale

    net = make_upscale_model("SRVGGNetCompact", {"num_in_ch": 1, "num_out_ch": 1, "num_feat": 4, "num_conv": 1,
                                                 "upscale": 2}, 0)
    info = inspect_upscale(net.state_dict())
    assert info.config["num_in_ch"] == 1 and info.scale == 2
    model = UpscaleModel(net, info, "grey")
    image = np.random.default_rng(5).random((1, 6, 5, 3), dtype=np.float32)
    out = upscale_image(model, image)
    grey = torch.from_numpy(image).permute(0, 3, 1, 2).mean(1, keepdim=True)
    expected = model(grey).clamp(0, 1)[0, 0].numpy()
    assert out.shape == (1, 12, 10, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[0, :, :, c], expected)
