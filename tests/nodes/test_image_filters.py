"""Image filters and batches against direct per-pixel computations of their definitions."""

import numpy as np
import pytest

from nodes import image_filters as f
from studio.core.context import NodeFailure


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def check_cancel(self):
        pass


def _kernel_2d(radius, sigma):
    """The square kernel: taps on a grid over [-1, 1]², weight exp(-d² / 2σ²), normalised."""
    n = 2 * radius + 1
    k = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            y, x = -1 + 2 * i / (n - 1), -1 + 2 * j / (n - 1)
            k[i, j] = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return k / k.sum()


def _correlate(img, k):
    r = k.shape[0] // 2
    h, w = img.shape[1:3]
    pad = np.pad(img.astype(np.float64), ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = np.zeros(img.shape)
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * pad[:, i:i + h, j:j + w]
    return out


@pytest.mark.parametrize(("radius", "sigma"), [(1, 1.0), (3, 0.4), (2, 5.0)])
def test_blur_is_the_normalised_gaussian_over_the_radius_with_mirrored_edges(radius, sigma):
    img = np.random.default_rng(radius).random((2, 9, 11, 3), dtype=np.float32)
    out = f.blur.fn(Ctx(), img, radius, sigma)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.allclose(out, _correlate(img, _kernel_2d(radius, sigma)), atol=1e-5)


def test_blur_wider_than_the_image_keeps_mirroring():
    img = np.random.default_rng(9).random((1, 3, 4, 3), dtype=np.float32)
    assert np.allclose(f.blur.fn(Ctx(), img, 5, 0.7), _correlate(img, _kernel_2d(5, 0.7)), atol=1e-5)


def test_sharpen_adds_ten_alpha_times_the_detail_and_clips():
    img = np.random.default_rng(4).random((1, 8, 8, 3), dtype=np.float32)
    radius, sigma, alpha = 2, 0.8, 0.3
    k = -(alpha * 10) * _kernel_2d(radius, sigma)
    k[radius, radius] += 1.0 - k.sum()
    expected = np.clip(_correlate(img, k), 0, 1)
    assert np.allclose(f.sharpen.fn(Ctx(), img, radius, sigma, alpha), expected, atol=1e-5)
    flat = np.full((1, 6, 6, 3), 0.4, np.float32)
    assert np.allclose(f.sharpen.fn(Ctx(), flat, 1, 1.0, 5.0), 0.4, atol=1e-6)


def test_quantize_maps_to_a_small_palette_nearest_or_dithered():
    rng = np.random.default_rng(5)
    img = np.clip(rng.normal(0.5, 0.2, (2, 24, 24, 3)), 0, 1).astype(np.float32)
    plain = f.quantize.fn(Ctx(), img, 4, "none")
    dithered = f.quantize.fn(Ctx(), img, 4, "floyd-steinberg")
    bytes_in = (img * 255).astype(np.uint8).astype(int)
    for n in range(2):
        palette = np.unique((plain[n] * 255).round().astype(int).reshape(-1, 3), axis=0)
        assert len(palette) <= 4
        # Without dithering every pixel takes its nearest palette colour (Pillow looks it up in a coarse
        # colour cache: the nearest but for a few levels).
        dist = np.sqrt(((bytes_in[n].reshape(-1, 1, 3) - palette[None]) ** 2).sum(-1))
        got = ((plain[n] * 255).round().astype(int).reshape(-1, 1, 3) == palette[None]).all(-1).argmax(1)
        chosen = dist[np.arange(len(got)), got]
        assert (chosen <= dist.min(1) + 6).all() and (chosen == dist.min(1)).mean() > 0.95
        # Dithering uses the same palette but spreads the error: the mean colour stays closer.
        assert set(map(tuple, (dithered[n] * 255).round().astype(int).reshape(-1, 3))) <= set(map(tuple, palette))
        assert not np.array_equal(dithered[n], plain[n])
        err_plain = np.abs(plain[n].mean((0, 1)) - img[n].mean((0, 1))).sum()
        err_dither = np.abs(dithered[n].mean((0, 1)) - img[n].mean((0, 1))).sum()
        assert err_dither < err_plain


def _window(img, size, fn):
    """Min or max over a size² window anchored at its centre (size // 2), ignoring pixels outside."""
    h, w = img.shape[1:3]
    out = np.zeros_like(img)
    a = size // 2
    for y in range(h):
        for x in range(w):
            win = img[:, max(0, y - a):max(0, y - a + size), max(0, x - a):max(0, x - a + size)]
            out[:, y, x] = fn(win, axis=(1, 2))
    return out


@pytest.mark.parametrize("size", [3, 4])
def test_morphology_matches_window_minima_and_maxima(size):
    img = np.random.default_rng(size).random((1, 7, 9, 3), dtype=np.float32)
    ero, dil = _window(img, size, np.min), _window(img, size, np.max)
    assert np.allclose(f.morphology.fn(Ctx(), img, "erode", size), ero)
    assert np.allclose(f.morphology.fn(Ctx(), img, "dilate", size), dil)
    assert np.allclose(f.morphology.fn(Ctx(), img, "gradient", size), dil - ero, atol=1e-6)
    opened = _window(ero, size, np.max)
    assert np.allclose(f.morphology.fn(Ctx(), img, "open", size), opened)
    assert np.allclose(f.morphology.fn(Ctx(), img, "top_hat", size), img - opened, atol=1e-6)
    closed = _window(dil, size, np.min)
    assert np.allclose(f.morphology.fn(Ctx(), img, "close", size), closed)
    assert np.allclose(f.morphology.fn(Ctx(), img, "bottom_hat", size), closed - img, atol=1e-6)


def test_image_batch_fits_the_second_by_centre_crop_and_bilinear_resize():
    a = np.zeros((1, 4, 4, 3), np.float32)
    b = np.random.default_rng(6).random((2, 4, 8, 3), dtype=np.float32)
    ctx = Ctx()
    out = f.batch.fn(ctx, a, b)
    assert out.shape == (3, 4, 4, 3) and ctx.warnings
    assert np.array_equal(out[1:], b[:, :, 2:6])
    double = np.random.default_rng(7).random((1, 8, 8, 3), dtype=np.float32)
    halved = f.batch.fn(Ctx(), a, double)[1]
    assert np.allclose(halved, double[0].reshape(4, 2, 4, 2, 3).mean(axis=(1, 3)), atol=1e-6)
    with pytest.raises(NodeFailure):
        f.batch.fn(Ctx(), a, np.zeros((1, 4, 4, 1), np.float32))


def test_image_from_batch_clamps_to_the_batch():
    img = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones((5, 2, 2, 3), np.float32)
    assert f.from_batch.fn(Ctx(), img, 1, 2)[:, 0, 0, 0].tolist() == [1, 2]
    ctx = Ctx()
    assert f.from_batch.fn(ctx, img, 9, 3)[:, 0, 0, 0].tolist() == [4] and ctx.warnings


def test_match_size_stretches_to_the_reference():
    img = np.random.default_rng(8).random((1, 8, 8, 3), dtype=np.float32)
    out = f.match_size.fn(Ctx(), img, np.zeros((2, 4, 4, 3), np.float32))
    assert np.allclose(out[0], img[0].reshape(4, 2, 4, 2, 3).mean(axis=(1, 3)), atol=1e-6)
