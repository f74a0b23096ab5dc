"""Crop Image and Solid Colour Image against straightforward references."""

import numpy as np
import pytest

from nodes.image_crop import crop, empty_image, rgb_of


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def _image(h: int = 6, w: int = 10) -> np.ndarray:
    # Each pixel holds its own coordinates, so a crop shows where it came from.
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([ys / 100, xs / 100, np.zeros_like(xs)], axis=-1)[None]


def test_the_rectangle_at_x_y_is_cut_out():
    ctx = Ctx()
    out = crop.fn(ctx, image=_image(), width=4, height=3, x=2, y=1)
    assert out.shape == (1, 3, 4, 3)
    assert out[0, 0, 0, 0] == pytest.approx(0.01) and out[0, 0, 0, 1] == pytest.approx(0.02)
    assert out[0, 2, 3, 0] == pytest.approx(0.03) and out[0, 2, 3, 1] == pytest.approx(0.05)
    assert not ctx.warnings


def test_a_rectangle_past_the_edge_stops_there_and_a_corner_past_it_moves_to_the_last_pixel():
    ctx = Ctx()
    out = crop.fn(ctx, image=_image(), width=8, height=8, x=6, y=2)
    assert out.shape == (1, 4, 4, 3) and ctx.warnings
    out = crop.fn(Ctx(), image=_image(), width=5, height=5, x=50, y=50)
    assert out.shape == (1, 1, 1, 3)
    assert out[0, 0, 0, :2] == pytest.approx([0.05, 0.09])


def test_a_solid_image_has_the_colour_of_its_number():
    assert rgb_of(0xFF8000) == pytest.approx((1.0, 128 / 255, 0.0))
    out = empty_image.fn(None, width=5, height=3, batch_size=2, color=0x0080FF)
    assert out.shape == (2, 3, 5, 3) and out.dtype == np.float32
    assert (out[..., 0] == 0).all() and (out[..., 1] == np.float32(128 / 255)).all() and (out[..., 2] == 1).all()
    assert (empty_image.fn(None, width=2, height=2, batch_size=1, color=0) == 0).all()
