import cv2
import numpy as np
import pytest

from nodes.mask import (
    _disc,
    combine,
    feather,
    from_color,
    from_image,
    grow,
    grow_frame,
    invert,
    solid,
    threshold,
    to_image,
)
from studio.core.context import NodeFailure
from studio.core.imaging import mask_overlay, mask_preview, match_batches
from studio.core.registry import default_registry


def _previews(ctx):
    return [d for k, d in ctx.recorder.events if k == "preview"]


def _warnings(ctx):
    return [d["message"] for k, d in ctx.recorder.events if k == "log" and d["level"] == "warning"]


def test_mask_nodes_are_registered_under_mask_with_comfyui_names():
    reg = default_registry()
    expected = {"mask.from_image": "ImageToMask", "mask.from_color": "ImageColorToMask", "mask.invert": "InvertMask",
                "mask.grow": "GrowMask", "mask.feather": "FeatherMask", "mask.threshold": "ThresholdMask",
                "mask.combine": "MaskComposite", "mask.solid": "SolidMask", "mask.to_image": "MaskToImage"}
    for type_id, alias in expected.items():
        nt = reg[type_id]
        assert nt.category == "Mask" and alias in nt.aliases and len(nt.description) > 20


def test_image_to_mask_takes_a_channel_and_previews_it_over_the_image(make_ctx):
    image = np.zeros((2, 3, 4, 3), np.float32)
    image[..., 0], image[..., 1], image[..., 2] = 0.2, 0.6, 1.0
    ctx = make_ctx()
    for channel, value in (("red", 0.2), ("green", 0.6), ("blue", 1.0),
                           ("luminance", 0.299 * 0.2 + 0.587 * 0.6 + 0.114 * 1.0)):
        mask = from_image(ctx, image=image, channel=channel)
        assert mask.shape == (2, 3, 4) and mask.dtype == np.float32
        assert np.allclose(mask, value, atol=1e-6)
    frame = _previews(ctx)[0]
    assert frame["step"] == -1 and frame["image"].shape == (3, 4, 3) and frame["image"].dtype == np.uint8


def test_image_to_mask_alpha_needs_four_channels(make_ctx):
    rgba = np.zeros((1, 2, 2, 4), np.float32)
    rgba[0, 0, 0, 3] = 1.0
    mask = from_image(make_ctx(), image=rgba, channel="alpha")
    assert mask.tolist() == [[[1.0, 0.0], [0.0, 0.0]]]
    with pytest.raises(NodeFailure, match="no alpha channel.*mask output of Load Image"):
        from_image(make_ctx(), image=np.zeros((1, 2, 2, 3), np.float32), channel="alpha")


def test_mask_from_colour_with_tolerance(make_ctx):
    image = np.zeros((1, 1, 3, 3), np.float32)
    image[0, 0, 0] = [250 / 255, 10 / 255, 10 / 255]
    image[0, 0, 1] = [255 / 255, 0, 0]
    image[0, 0, 2] = [240 / 255, 0, 0]
    exact = from_color(make_ctx(), image=image, red=255, green=0, blue=0, tolerance=0)
    assert exact.tolist() == [[[0.0, 1.0, 0.0]]]
    near = from_color(make_ctx(), image=image, red=255, green=0, blue=0, tolerance=10)
    assert near.tolist() == [[[1.0, 1.0, 0.0]]]


def test_invert_threshold_solid_and_to_image(make_ctx):
    m = np.array([[[0.0, 0.25, 0.5, 1.0]]], np.float32)
    ctx = make_ctx()
    assert invert(ctx, mask=m).tolist() == [[[1.0, 0.75, 0.5, 0.0]]]
    grey = _previews(ctx)[0]["image"]
    assert grey.shape == (1, 4, 3) and grey[0, :, 0].tolist() == [255, 191, 128, 0]
    assert threshold(make_ctx(), mask=m, value=0.25).tolist() == [[[0.0, 0.0, 1.0, 1.0]]]
    s = solid(make_ctx(), value=0.3, width=5, height=2)
    assert s.shape == (1, 2, 5) and np.allclose(s, 0.3)
    img = to_image(make_ctx(), mask=m)
    assert img.shape == (1, 1, 4, 3) and (img[..., 0] == m).all() and (img[..., 2] == m).all()


DISC2 = [[0, 0, 1, 0, 0],
         [0, 1, 1, 1, 0],
         [1, 1, 1, 1, 1],
         [0, 1, 1, 1, 0],
         [0, 0, 1, 0, 0]]


def test_grow_a_single_pixel_by_2_gives_a_disc_of_radius_2(make_ctx):
    m = np.zeros((1, 9, 9), np.float32)
    m[0, 4, 4] = 1.0
    out = grow(make_ctx(), mask=m, pixels=2)
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = DISC2
    assert (out[0] == expected).all()


def test_shrink_takes_a_disc_off_the_edges_and_the_border_does_not_erode(make_ctx):
    m = np.zeros((1, 9, 9), np.float32)
    m[0, 1:8, 1:8] = 1.0
    out = grow(make_ctx(), mask=m, pixels=-2)[0]
    expected = np.zeros((9, 9))
    expected[3:6, 3:6] = 1.0
    assert (out == expected).all()
    full = np.ones((1, 4, 4), np.float32)
    assert (grow(make_ctx(), mask=full, pixels=-1) == 1.0).all()  # nothing kept nearby: nothing erodes


def test_soft_masks_grow_by_their_largest_value_with_the_same_disc():
    soft = np.zeros((9, 9), np.float32)
    soft[4, 4] = 0.5
    out = grow_frame(soft, 2)
    expected = np.zeros((9, 9), np.float32)
    expected[2:7, 2:7] = np.array(DISC2) * 0.5
    assert (out == expected).all()
    # The binary path (distance transform) and the soft path (dilation) agree on 0/1 masks.
    binary = (np.random.default_rng(3).random((40, 50)) > 0.97).astype(np.float32)
    for r in (1, 3, 7, 12):
        assert (grow_frame(binary, r) == cv2.dilate(binary, _disc(r))).all()
        assert (grow_frame(1 - binary, -r) == cv2.erode(1 - binary, _disc(r))).all()


def test_feather_blurs_only_within_the_radius(make_ctx):
    m = np.zeros((1, 5, 20), np.float32)
    m[0, :, :10] = 1.0  # a vertical edge between columns 9 and 10
    r = 3
    out = feather(make_ctx(), mask=m, radius=r)[0]
    x = np.arange(-r, r + 1)
    kernel = np.exp(-(x**2) / (2 * (r / 3) ** 2))
    kernel /= kernel.sum()
    # Column c averages the columns c-r..c+r, the mask's border replicated.
    padded = np.pad(m[0, 0], r, mode="edge")
    expected = np.array([padded[c:c + 2 * r + 1] @ kernel for c in range(20)])
    assert np.allclose(out, expected[None, :], atol=1e-5)
    assert (out[:, :10 - r] == 1).all() and (out[:, 10 + r:] == 0).all()  # far from the edge: unchanged
    assert np.allclose(out[:, 9] + out[:, 10], 1.0, atol=1e-6)  # symmetric about the edge
    assert (np.diff(out[0]) <= 0).all() and 0.5 < out[0, 9] < 1 and 0 < out[0, 10] < 0.5
    assert (feather(make_ctx(), mask=m, radius=0) == m).all()


def test_combine_operations_exact(make_ctx):
    a = np.array([[[0.0, 0.5, 1.0, 0.75]]], np.float32)
    b = np.array([[[0.5, 0.75, 0.25, 0.75]]], np.float32)

    def run(op):
        return combine(make_ctx(), mask=a, other=b, operation=op)[0, 0].tolist()

    assert run("add") == [0.5, 1.0, 1.0, 1.0]
    assert run("subtract") == [0.0, 0.0, 0.75, 0.0]
    assert run("intersect") == [0.0, 0.5, 0.25, 0.75]
    assert run("union") == [0.5, 0.75, 1.0, 0.75]
    assert run("multiply") == [0.0, 0.375, 0.25, 0.5625]
    assert run("difference") == [0.5, 0.25, 0.75, 0.0]


def test_combine_stretches_the_other_mask_and_broadcasts_batches(make_ctx):
    a = np.zeros((3, 4, 4), np.float32)
    b = np.ones((1, 2, 2), np.float32)
    ctx = make_ctx()
    out = combine(ctx, mask=a, other=b, operation="add")
    assert out.shape == (3, 4, 4) and (out == 1).all()
    assert any("stretched to 4×4" in w for w in _warnings(ctx))
    with pytest.raises(NodeFailure, match="batches of 3 and 2 do not fit"):
        combine(make_ctx(), mask=a, other=np.ones((2, 4, 4), np.float32), operation="add")


def test_match_batches_repeats_a_batch_of_one():
    a, b = match_batches(np.zeros((1, 2)), np.ones((4, 2)))
    assert a.shape == b.shape == (4, 2)


def test_overlay_is_red_where_masked_and_at_most_512_on_the_long_side():
    image = np.full((1, 8, 8, 3), 0.5, np.float32)
    mask = np.zeros((1, 8, 8), np.float32)
    mask[0, :, 4:] = 1.0
    small = mask_overlay(image, mask, opacity=0.5)
    assert small.shape == (8, 8, 3)
    assert small[0, 0].tolist() == [128, 128, 128]
    assert small[0, 7].tolist() == [191, 64, 64]  # half red over half grey
    big = mask_overlay(np.zeros((1, 600, 1200, 3), np.float32), np.ones((1, 300, 600), np.float32))
    assert big.shape == (256, 512, 3) and big[..., 0].min() == 128 and big[..., 1].max() == 0
    assert mask_preview(np.ones((2, 1030, 20), np.float32)).shape == (512, 10, 3)

