"""Tiled VAE decode/encode on the tiny VAE: close to untiled (equal when one tile covers the image), any
8-px size, out-of-memory halves the tile, cancel and progress, and the shared VAE left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.anysize_vae import seam_score
from studio.core.context import OutOfMemory
from studio.diffusion import vae as vae_ops
from studio.diffusion.vae_tiled import SCALE, blend_weights, decode_tiled, encode_tiled, tile_spans
from studio.diffusion.values import Latent, VAEModel

# Tolerances against the untiled result, on [0, 1] pixels (decode) and UNet-space latents (encode), for
# 128-px tiles with 32-px overlap on these small random-weight images. Each tile normalises (GroupNorm)
# and attends over itself only, so a tiled result is close to, not equal to, the untiled one.
DECODE_MEAN, DECODE_P99 = 0.03, 0.15
ENCODE_MEAN = 0.25  # × the latent's own mean magnitude


def _latent(h: int, w: int, batch: int = 1, seed: int = 0, family: str = "sd15") -> Latent:
    return Latent(family, torch.randn(batch, 4, h, w, generator=torch.Generator().manual_seed(seed)))


def _image(vae: VAEModel, h: int, w: int) -> np.ndarray:
    # A decoded latent: structured like the images this VAE makes, unlike uniform noise.
    return vae_ops.decode(vae, _latent(h // SCALE, w // SCALE, seed=5, family=vae.family))


@pytest.mark.parametrize(("length", "tile", "overlap"), [(10, 16, 2), (40, 16, 4), (53, 16, 4), (21, 8, 0), (64, 8, 2)])
def test_tiles_cover_the_length_with_at_least_the_overlap_and_weights_sum_to_one(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(e - s == min(tile, length) for s, e in spans)
    assert all(a[1] - b[0] >= overlap for a, b in zip(spans, spans[1:], strict=False))
    total = np.zeros(length * SCALE)
    for (s, e), w in zip(spans, blend_weights(spans, SCALE), strict=True):
        assert w.shape == ((e - s) * SCALE,) and (w > 0).all()
        total[s * SCALE:e * SCALE] += w
    assert np.allclose(total, 1.0, atol=1e-6)


def test_weights_fade_across_the_overlap_only_or_cut_at_its_middle():
    spans = tile_spans(40, 16, 4)  # starts 0, 12, 24: overlaps of exactly 4 cells
    first, middle, _ = blend_weights(spans, 1)
    assert (first[:12] == 1).all() and (np.diff(first[12:]) < 0).all()
    assert (middle[4:12] == 1).all() and (np.diff(middle[:4]) > 0).all()
    first, middle, last = blend_weights(spans, 1, feather=False)
    assert first.tolist() == [1] * 14 + [0] * 2 and middle.tolist() == [0] * 2 + [1] * 12 + [0] * 2
    assert last.tolist() == [0] * 2 + [1] * 14


def test_a_tile_as_large_as_the_image_gives_exactly_the_untiled_result(vae, vae_xl):
    for v in (vae, vae_xl):
        lat = _latent(12, 20, batch=2, family=v.family)
        assert np.array_equal(decode_tiled(v, lat, tile_size=160, overlap=64), vae_ops.decode(v, lat))
        image = _image(v, 96, 160)
        assert torch.equal(encode_tiled(v, image, tile_size=512).samples, vae_ops.encode(v, image).samples)


def test_tiled_decode_stays_close_to_untiled_and_shows_no_seams(vae):
    lat = _latent(24, 40, batch=2)  # 192 × 320 px: 2 × 4 tiles of 128 px
    ref = vae_ops.decode(vae, lat)
    out = decode_tiled(vae, lat, tile_size=128, overlap=32)
    assert out.shape == ref.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    diff = np.abs(out - ref)
    assert diff.mean() < DECODE_MEAN and np.quantile(diff, 0.99) < DECODE_P99, (diff.mean(), np.quantile(diff, 0.99))
    # Cut hard at the middle of each overlap, the result is further off and the tile edges show;
    # cross-faded, they don't.
    hard = decode_tiled(vae, lat, tile_size=128, overlap=32, feather=False)
    assert np.abs(hard - ref).mean() > diff.mean()
    ys = [(s * SCALE, e * SCALE) for s, e in tile_spans(24, 16, 4)]
    xs = [(s * SCALE, e * SCALE) for s, e in tile_spans(40, 16, 4)]
    for i in range(2):
        assert seam_score(out[i], ys, xs) <= 1.10
        assert seam_score(hard[i], ys, xs) > seam_score(out[i], ys, xs)


def test_tiled_encode_stays_close_to_untiled(vae, vae_xl):
    for v in (vae, vae_xl):
        image = _image(v, 192, 256)
        ref = vae_ops.encode(v, image).samples
        lat = encode_tiled(v, image, tile_size=128, overlap=32)
        assert lat.family == v.family and lat.samples.shape == ref.shape == (1, 4, 24, 32)
        assert float((lat.samples - ref).abs().mean()) < ENCODE_MEAN * float(ref.abs().mean())


def test_sizes_that_are_not_multiples_of_the_tile(vae):
    lat = _latent(13, 21)  # 104 × 168 px with 64-px tiles
    out = decode_tiled(vae, lat, tile_size=64, overlap=16)
    assert out.shape == (1, 104, 168, 3) and np.isfinite(out).all()
    assert np.abs(out - vae_ops.decode(vae, lat)).mean() < 2 * DECODE_MEAN
    image = _image(vae, 104, 168)
    odd = np.pad(image, ((0, 0), (1, 2), (3, 2), (0, 0)), mode="edge")  # 107 × 173: cropped back to 104 × 168
    lat2 = encode_tiled(vae, odd, tile_size=64, overlap=16)
    assert lat2.samples.shape == (1, 4, 13, 21)
    assert torch.equal(lat2.samples, encode_tiled(vae, vae_ops.crop_to_multiple(odd), tile_size=64, overlap=16).samples)


class _Limited:
    """A VAE that runs out of memory on inputs larger than ``limit`` latent cells (or 8 × that in pixels)."""

    def __init__(self, model, limit: int) -> None:
        self.model, self.limit, self.sizes = model, limit, []
        self.config, self.device, self.dtype = model.config, model.device, model.dtype

    def _check(self, side: int) -> None:
        self.sizes.append(side)
        if side > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def decode(self, z, return_dict=True):
        self._check(max(z.shape[-2:]))
        return self.model.decode(z, return_dict=return_dict)

    def encode(self, x, return_dict=True):
        self._check(max(x.shape[-2:]) // SCALE)
        return self.model.encode(x, return_dict=return_dict)


def test_out_of_memory_halves_the_tile_and_retries(vae):
    lat = _latent(24, 24)
    limited = VAEModel("sd15", _Limited(vae.vae, limit=16))
    retries: list[int] = []
    out = decode_tiled(limited, lat, tile_size=512, overlap=64, on_retry=retries.append)
    # 512 px covers the 192-px image: the untiled decode fails; then tiles of half the image fit.
    assert retries == [96]
    assert limited.vae.sizes[0] == 24 and set(limited.vae.sizes[1:]) == {12}
    assert np.array_equal(out, decode_tiled(vae, lat, tile_size=96, overlap=64))
    retries.clear()
    limited.vae.limit = 8
    enc = encode_tiled(limited, out, tile_size=128, overlap=32, on_retry=retries.append)
    assert retries == [64]
    assert torch.equal(enc.samples, encode_tiled(vae, out, tile_size=64, overlap=32).samples)


def test_out_of_memory_below_the_smallest_tile_fails_clearly(vae):
    limited = VAEModel("sd15", _Limited(vae.vae, limit=4))
    retries: list[int] = []
    with pytest.raises(OutOfMemory, match=r"out of memory decoding 192×192 even with 64-pixel tiles"):
        decode_tiled(limited, _latent(24, 24), tile_size=256, overlap=32, on_retry=retries.append)
    assert retries == [96, 64]


def test_other_errors_are_not_retried(vae):
    class Broken(_Limited):
        def decode(self, z, return_dict=True):
            raise ValueError("broken weights")

    retries: list[int] = []
    with pytest.raises(ValueError, match="broken weights"):
        decode_tiled(VAEModel("sd15", Broken(vae.vae, 99)), _latent(24, 24), 64, 16, on_retry=retries.append)
    assert retries == []


def test_progress_per_tile_and_cancel_between_tiles(vae):
    seen: list[float] = []
    decode_tiled(vae, _latent(16, 24), tile_size=64, overlap=16, progress=lambda f, text: seen.append(f))
    assert len(seen) == 3 * 4 and seen == sorted(seen) and seen[-1] == 1.0

    class Cancelled(Exception):
        pass

    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        decode_tiled(vae, _latent(16, 24), tile_size=64, overlap=16, check=check)
    assert len(calls) == 3


def test_the_shared_vae_is_left_as_it_was(vae):
    before = {k: v.clone() for k, v in vae.vae.state_dict().items()}
    decode_tiled(vae, _latent(16, 16), tile_size=64, overlap=16)
    encode_tiled(vae, _image(vae, 128, 128), tile_size=64, overlap=16)
    assert not getattr(vae.vae, "use_tiling", False) and vae.vae.dtype == torch.float32
    after = vae.vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
