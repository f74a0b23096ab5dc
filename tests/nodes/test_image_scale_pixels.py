"""Scale Image to Megapixels: the size rule against a direct computation, and the resize itself."""

import math

import numpy as np
import pytest

from nodes.image_scale_pixels import scale_to_pixels, total_pixels_size


class Ctx:
    pass


@pytest.mark.parametrize(("w", "h", "mp"), [(512, 512, 1.0), (640, 480, 1.0), (1000, 333, 0.5), (77, 1031, 2.25)])
def test_the_size_keeps_the_aspect_and_comes_near_the_pixel_count(w, h, mp):
    tw, th = total_pixels_size(w, h, mp)
    scale = math.sqrt(int(mp * 1024 * 1024) / (w * h))
    assert (tw, th) == (round(w * scale), round(h * scale))
    assert abs(tw * th - mp * 1024 * 1024) / (mp * 1024 * 1024) < 0.01


def test_steps_round_each_side_to_a_multiple():
    tw, th = total_pixels_size(640, 480, 1.0, 64)
    assert tw % 64 == 0 and th % 64 == 0
    assert (tw, th) == (1152, 896)  # 1182.4 / 64 = 18.48 → 18, 886.8 / 64 = 13.9 → 14


def test_the_image_is_resized_to_that_size():
    image = np.full((2, 48, 64, 3), 0.25, np.float32)
    out = scale_to_pixels.fn(Ctx(), image=image, megapixels=0.01, method="bilinear", steps=1)
    assert out.shape[1:3] == (total_pixels_size(64, 48, 0.01)[1], total_pixels_size(64, 48, 0.01)[0])
    assert out.shape[0] == 2 and out.dtype == np.float32
    assert np.allclose(out, 0.25)
