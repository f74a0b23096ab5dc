"""Latent arithmetic and geometry against values worked out cell by cell."""

import numpy as np
import pytest
import torch

from nodes import latent_math as lm
from studio.diffusion.values import Latent


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def check_cancel(self):
        pass


def _lat(shape, seed=0, family="sd15", mask=None):
    g = torch.Generator().manual_seed(seed)
    return Latent(family=family, samples=torch.randn(shape, generator=g), noise_mask=mask)


def test_add_and_subtract_fit_the_second_to_the_first_and_keep_its_noise_mask():
    mask = torch.ones(1, 16, 16)
    a, b = _lat((2, 4, 6, 8), 1, mask=mask), _lat((1, 4, 6, 8), 2, family="any")
    out = lm.add.fn(Ctx(), a, b)
    assert torch.allclose(out.samples, a.samples + b.samples[0])
    assert out.noise_mask is mask and out.family == "sd15"
    diff = lm.subtract.fn(Ctx(), a, b)
    assert torch.allclose(diff.samples[1], a.samples[1] - b.samples[0])
    # Twice the size: bilinear halving without aligned corners averages each 2×2 block.
    big = _lat((1, 4, 12, 16), 3)
    blocks = big.samples.numpy().reshape(1, 4, 6, 2, 8, 2).mean(axis=(3, 5))
    out = lm.add.fn(Ctx(), _lat((1, 4, 6, 8), 4), big)
    assert np.allclose(out.samples.numpy() - _lat((1, 4, 6, 8), 4).samples.numpy(), blocks, atol=1e-5)


def test_multiply_scales_every_value():
    a = _lat((1, 4, 3, 3))
    assert torch.allclose(lm.multiply.fn(Ctx(), a, -2.5).samples, a.samples * -2.5)


def _interp_cell(v1, v2, r):
    n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
    d1 = v1 / n1 if n1 else np.zeros_like(v1)
    d2 = v2 / n2 if n2 else np.zeros_like(v2)
    t = r * d1 + (1 - r) * d2
    nt = np.linalg.norm(t)
    return (t / nt if nt else np.zeros_like(t)) * (r * n1 + (1 - r) * n2)


def test_interpolate_mixes_directions_and_lengths_per_cell():
    a, b = _lat((2, 4, 3, 5), 5), _lat((2, 4, 3, 5), 6)
    b.samples[1, :, 2, 4] = 0.0  # a zero vector has no direction: it adds none
    for r in (0.0, 0.3, 1.0):
        out = lm.interpolate.fn(Ctx(), a, b, r).samples.numpy()
        s1, s2 = a.samples.numpy(), b.samples.numpy()
        for n, y, x in [(0, 0, 0), (1, 2, 4), (0, 1, 3), (1, 0, 2)]:
            assert np.allclose(out[n, :, y, x], _interp_cell(s1[n, :, y, x], s2[n, :, y, x], r), atol=1e-5)
    assert np.allclose(lm.interpolate.fn(Ctx(), a, b, 1.0).samples.numpy(), a.samples.numpy(), atol=1e-5)
    # Not a plain linear mix: halfway between v and -v... is kept at length, not collapsed.
    half = lm.interpolate.fn(Ctx(), a, b, 0.5).samples.numpy()
    assert not np.allclose(half, (a.samples.numpy() + b.samples.numpy()) / 2)


def test_blend_factor_is_the_share_of_the_first_latent():
    a, b = _lat((1, 4, 4, 4), 7), _lat((1, 4, 4, 4), 8)
    out = lm.blend.fn(Ctx(), a, b, 0.8).samples
    assert torch.allclose(out, a.samples * 0.8 + b.samples * 0.2)


def test_flip_and_rotate_move_cells_where_expected():
    a = _lat((1, 2, 3, 4), 9)
    s = a.samples.numpy()
    v = lm.flip.fn(Ctx(), a, "x-axis: vertically").samples.numpy()
    h = lm.flip.fn(Ctx(), a, "y-axis: horizontally").samples.numpy()
    assert v[0, 1, 0, 2] == s[0, 1, 2, 2] and h[0, 1, 0, 0] == s[0, 1, 0, 3]
    r90 = lm.rotate.fn(Ctx(), a, "90 degrees").samples.numpy()
    assert r90.shape == (1, 2, 4, 3)
    for i in range(4):
        for j in range(3):  # clockwise: the bottom-left cell goes to the top-left
            assert r90[0, 0, i, j] == s[0, 0, 2 - j, i]
    r180 = lm.rotate.fn(Ctx(), a, "180 degrees").samples.numpy()
    assert r180[0, 1, 0, 0] == s[0, 1, 2, 3]
    r270 = lm.rotate.fn(Ctx(), a, "270 degrees").samples.numpy()
    assert r270[0, 0, 0, 0] == s[0, 0, 0, 3]
    assert lm.rotate.fn(Ctx(), a, "none").samples is a.samples


def test_crop_works_in_cells_and_keeps_64_pixels_from_the_edge():
    a = _lat((1, 4, 16, 16), 10)
    out = lm.crop.fn(Ctx(), a, 64, 32, 16, 8).samples
    assert torch.equal(out, a.samples[:, :, 1:5, 2:10])
    ctx = Ctx()
    late = lm.crop.fn(ctx, a, 128, 128, 120, 0).samples  # x pulled back to cell 8
    assert torch.equal(late, a.samples[:, :, 0:16, 8:16]) and ctx.warnings


def test_batch_appends_the_second_fitted_to_the_first():
    a, b = _lat((2, 4, 4, 4), 11), _lat((1, 4, 4, 8), 12)
    out = lm.batch.fn(Ctx(), a, b).samples
    assert out.shape == (3, 4, 4, 4)
    assert torch.equal(out[:2], a.samples)
    assert torch.allclose(out[2], b.samples[0, :, :, 2:6])  # the middle, same size: no resampling


def test_composite_masked_pastes_through_a_resized_mask_and_clips_at_the_edge():
    dest = Latent("sd15", torch.zeros(2, 4, 8, 8), noise_mask="kept")
    src = Latent("any", torch.ones(1, 4, 4, 4))
    out = lm.composite_masked.fn(Ctx(), dest, src, None, 16, 8, False)
    assert out.samples.shape == (2, 4, 8, 8) and out.noise_mask == "kept"
    assert out.samples[:, :, 1:5, 2:6].eq(1).all() and out.samples.sum() == 2 * 4 * 16
    mask = np.zeros((1, 32, 32), np.float32)
    mask[:, :, :16] = 1.0  # left half of the source's pixels
    out = lm.composite_masked.fn(Ctx(), dest, src, mask, 48, 0, False).samples
    assert out[0, 0, 0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]  # only two columns fit, both in the left half
    mask[:, :, :] = 0.0
    mask[:, :, :8] = 1.0  # a quarter: shrunk 8 times (bilinear, sampled at pixel 3.5, 11.5, …) one column
    part = lm.composite_masked.fn(Ctx(), dest, src, mask, 0, 0, False).samples[0, 0, 0, :4]
    assert part.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
    whole = lm.composite_masked.fn(Ctx(), dest, Latent("any", torch.ones(1, 4, 2, 2)), None, 0, 0, True).samples
    assert whole.eq(1).all()
