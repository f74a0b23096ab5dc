import numpy as np
import pytest

from nodes.image_composite import composite_masked as node_type
from studio.core.context import NodeFailure


def composite_masked(ctx, destination, source, mask, x, y):
    return node_type.fn(ctx, destination=destination, source=source, mask=mask, x=x, y=y)


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def test_the_mask_decides_which_pixels_come_from_the_source():
    dst = np.zeros((1, 8, 8, 3), np.float32)
    src = np.ones((1, 8, 8, 3), np.float32)
    mask = np.zeros((1, 8, 8), np.float32)
    mask[0, 2:4, 2:4] = 1.0
    mask[0, 5, 5] = 0.25
    out = composite_masked(Ctx(), dst, src, mask, 0, 0)
    assert (out[0, 2:4, 2:4] == 1).all()
    assert out[0, 5, 5, 0] == pytest.approx(0.25)
    assert out[0, 0, 0, 0] == 0 and out.sum() == pytest.approx(4 * 3 + 0.25 * 3)
    assert (dst == 0).all()  # the input is not changed in place


def test_offsets_clip_to_the_destination_and_no_mask_pastes_everything():
    dst = np.zeros((1, 8, 8, 3), np.float32)
    src = np.ones((1, 4, 4, 3), np.float32)
    out = composite_masked(Ctx(), dst, src, None, 6, -2)
    assert out[0, :2, 6:].sum() == 2 * 2 * 3 and out.sum() == 2 * 2 * 3
    ctx = Ctx()
    assert (composite_masked(ctx, dst, src, None, 100, 0) == 0).all() and ctx.warnings


def test_a_mask_of_another_size_is_stretched_and_mismatched_batches_fail():
    ctx = Ctx()
    out = composite_masked(ctx, np.zeros((1, 8, 8, 3), np.float32), np.ones((1, 8, 8, 3), np.float32),
                           np.ones((1, 4, 4), np.float32), 0, 0)
    assert (out == 1).all() and ctx.warnings
    with pytest.raises(NodeFailure):
        composite_masked(Ctx(), np.zeros((2, 8, 8, 3), np.float32), np.ones((3, 8, 8, 3), np.float32), None, 0, 0)
