"""Blend Images: each mode against a per-pixel reference of its formula, and the resize of a differing top."""

import numpy as np
import pytest

from nodes.image_blend import MODES, blend_layers
from nodes.image_blend import blend as node_type
from studio.core.context import NodeFailure


class Ctx:
    def check_cancel(self):
        pass


def _reference(a: float, b: float, mode: str) -> float:
    """One channel value by the textbook formula of each mode, written out with scalars."""
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return 2 * a * b if a <= 0.5 else 1 - 2 * (1 - a) * (1 - b)
    if mode == "soft_light":
        g = ((16 * a - 12) * a + 4) * a if a <= 0.25 else a ** 0.5
        return a - (1 - 2 * b) * a * (1 - a) if b <= 0.5 else a + (2 * b - 1) * (g - a)
    return a - b


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_matches_its_formula_and_the_factor_mixes_with_the_base(mode):
    rng = np.random.default_rng(3)
    a = rng.random((2, 5, 7, 3), dtype=np.float32)
    b = rng.random((2, 5, 7, 3), dtype=np.float32)
    for factor in (0.0, 0.3, 1.0):
        out = node_type.fn(Ctx(), image1=a, image2=b, blend_factor=factor, blend_mode=mode)
        assert out.shape == a.shape and out.dtype == np.float32
        for idx in [(0, 0, 0, 0), (1, 4, 6, 2), (0, 2, 3, 1), (1, 1, 5, 0)]:
            want = a[idx] * (1 - factor) + _reference(float(a[idx]), float(b[idx]), mode) * factor
            assert out[idx] == pytest.approx(min(max(want, 0.0), 1.0), abs=1e-5)


def test_difference_is_signed_then_clipped():
    a = np.full((1, 1, 1, 3), 0.2, np.float32)
    b = np.full((1, 1, 1, 3), 0.7, np.float32)
    assert (blend_layers(a, b, "difference") < 0).all()
    assert node_type.fn(Ctx(), image1=a, image2=b, blend_factor=1.0, blend_mode="difference").max() == 0.0


def test_a_top_image_of_another_shape_is_centre_cropped_and_resized_to_the_base():
    base = np.zeros((1, 8, 8, 3), np.float32)
    top = np.zeros((1, 8, 16, 3), np.float32)
    top[:, :, 4:12] = 1.0  # the middle square: what a centre crop to 1:1 keeps
    out = node_type.fn(Ctx(), image1=base, image2=top, blend_factor=1.0, blend_mode="normal")
    assert out.shape == (1, 8, 8, 3)
    assert out.min() == pytest.approx(1.0)
    with pytest.raises(NodeFailure):
        node_type.fn(Ctx(), image1=np.zeros((2, 4, 4, 3), np.float32), image2=np.zeros((3, 4, 4, 3), np.float32),
                     blend_factor=0.5, blend_mode="normal")


def test_a_batch_of_one_blends_with_every_image_of_the_other():
    base = np.stack([np.full((2, 2, 3), v, np.float32) for v in (0.2, 0.4)])
    top = np.full((1, 2, 2, 3), 0.5, np.float32)
    out = node_type.fn(Ctx(), image1=base, image2=top, blend_factor=1.0, blend_mode="multiply")
    assert out[:, 0, 0, 0] == pytest.approx([0.1, 0.2])
