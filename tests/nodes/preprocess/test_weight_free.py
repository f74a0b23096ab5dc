"""Weight-free preprocessors on real photographs (scikit-image's bundled samples, no download)."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data

from nodes.preprocess.invert import invert
from nodes.preprocess.lineart import lineart
from nodes.preprocess.mlsd import mlsd
from nodes.preprocess.normal_from_depth import normal_from_depth
from nodes.preprocess.scribble import scribble
from nodes.preprocess.softedge import softedge
from nodes.preprocess.threshold import threshold
from nodes.preprocess.tile import tile
from studio.core.context import CancelledError


def photo(name: str) -> np.ndarray:
    return (getattr(data, name)().astype(np.float32) / 255.0)[None]


def grey(hint: np.ndarray) -> np.ndarray:
    assert (hint[..., 0] == hint[..., 1]).all() and (hint[..., 1] == hint[..., 2]).all()
    return hint[0, ..., 0]


def test_softedge_is_a_soft_white_on_black_outline_map(make_ctx):
    image = photo("astronaut")
    hint = softedge(make_ctx(), image=image, detect_resolution=512, contrast=1.0)
    assert hint.shape == image.shape and hint.dtype == np.float32
    e = grey(hint)
    assert e.min() >= 0.0 and e.max() <= 1.0
    assert 0.05 < e.mean() < 0.45 and 0.02 < (e > 0.5).mean() < 0.3  # outlines, not a filled image
    assert len(np.unique(e)) > 100  # soft: grey levels, not a binary map
    # It agrees with Canny: much brighter on Canny's edges than away from them.
    canny = cv2.Canny((image[0] * 255).astype(np.uint8), 100, 200) > 0
    assert e[canny].mean() > 2.5 * e[~cv2.dilate(canny.astype(np.uint8), np.ones((9, 9))).astype(bool)].mean()
    faint = grey(softedge(make_ctx(), image=image, detect_resolution=512, contrast=0.4))
    assert faint.mean() < e.mean()


def test_lineart_is_white_lines_on_black(make_ctx):
    page = np.ones((1, 256, 256, 3), np.float32)  # a black pen stroke on white paper
    cv2.line(page[0], (30, 128), (226, 128), (0, 0, 0), 3)
    hint = grey(lineart(make_ctx(), image=page, detect_resolution=256, line_width=1.5, strength=6.0))
    assert hint[128, 60:200].min() > 0.9  # the stroke is white
    assert hint[:100].max() == 0.0 and hint[160:].max() == 0.0  # paper is black
    image = photo("coffee")
    hint = grey(lineart(make_ctx(), image=image, detect_resolution=512, line_width=1.5, strength=6.0))
    assert hint.shape == image.shape[1:3]
    assert np.median(hint) < 0.05 and 0.01 < (hint > 0.5).mean() < 0.2
    luma = image[0] @ np.array([0.299, 0.587, 0.114], np.float32)
    assert luma[hint > 0.5].mean() < luma.mean()  # lines come from dark strokes


def test_scribble_is_binary_and_thin(make_ctx):
    image = photo("astronaut")
    hint = grey(scribble(make_ctx(), image=image, detect_resolution=512, threshold=0.5, thickness=1))
    assert set(np.unique(hint).tolist()) == {0.0, 1.0}
    assert 0.005 < hint.mean() < 0.08
    strokes = (hint * 255).astype(np.uint8)
    # One pixel wide: thinning removes (almost) nothing, and no 3×3 block is all stroke.
    assert (cv2.ximgproc.thinning(strokes) > 0).sum() >= 0.97 * (strokes > 0).sum()
    core = cv2.erode(strokes, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    assert (core > 0).sum() == 0
    thick = grey(scribble(make_ctx(), image=image, detect_resolution=512, threshold=0.5, thickness=3))
    assert thick.mean() > 2 * hint.mean()
    fewer = grey(scribble(make_ctx(), image=image, detect_resolution=512, threshold=0.8, thickness=1))
    assert fewer.sum() < hint.sum()


def _worst_branch_residual(mask: np.ndarray, ends: np.ndarray) -> tuple[int, float]:
    """Cut the drawing at junctions (3+ neighbours) and around segment end points (where one segment
    turns into the next), fit a straight line to every remaining branch, and return how many branches
    were checked and the worst distance of a pixel from its branch's line."""
    m = mask.astype(np.uint8)
    neighbours = cv2.filter2D(m, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - m
    cut = np.zeros_like(m)
    for x, y in ends:
        cv2.circle(cut, (round(float(x)), round(float(y))), 2, 1, -1)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m * (neighbours <= 2) * (1 - cut), connectivity=8)
    worst, checked = 0.0, 0
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < 6:
            continue
        ys, xs = np.nonzero(labels == k)
        pts = np.stack([xs, ys], 1).astype(np.float32)
        vx, vy, x0, y0 = cv2.fitLine(pts, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        dist = np.abs((pts[:, 0] - x0) * vy - (pts[:, 1] - y0) * vx)
        worst, checked = max(worst, float(dist.max())), checked + 1
    return checked, worst


def test_mlsd_draws_only_straight_one_pixel_segments(make_ctx):
    from studio.diffusion.annotators.lines import detect_segments

    image = photo("coffee")
    hint = grey(mlsd(make_ctx(), image=image, detect_resolution=0, min_length=20.0, min_score=0.1))
    assert hint.shape == image.shape[1:3] and set(np.unique(hint).tolist()) == {0.0, 1.0}
    assert 0.003 < hint.mean() < 0.08
    segs = detect_segments((image[0] * 255 + 0.5).astype(np.uint8), min_length=20.0, min_score=0.1)
    assert (np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1]) >= 20).all()
    checked, worst = _worst_branch_residual(hint > 0, segs.reshape(-1, 2))
    assert checked > 50 and worst <= 1.0
    strict = grey(mlsd(make_ctx(), image=image, detect_resolution=0, min_length=60.0, min_score=0.3))
    assert strict.sum() < hint.sum()


def test_mlsd_finds_a_drawn_rectangle(make_ctx):
    img = np.zeros((1, 256, 320, 3), np.float32)
    cv2.rectangle(img[0], (60, 50), (260, 200), (1, 1, 1), -1)
    hint = grey(mlsd(make_ctx(), image=img, detect_resolution=256, min_length=20.0, min_score=0.1))
    for x, y in ((160, 50), (160, 200), (60, 125), (260, 125)):  # a point on each side
        assert hint[y - 2:y + 3, x - 2:x + 3].max() == 1.0
    assert hint[80:170, 90:230].max() == 0.0 and hint[:, :40].max() == 0.0


def sphere_depth(size: int = 256, radius: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """A hemisphere facing the camera: depth hint (near = white) and the true (left, up, toward) normals."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = xx - size / 2, yy - size / 2
    z = np.sqrt(np.clip(radius**2 - dx**2 - dy**2, 0, None))
    truth = np.stack([-dx, -dy, z], -1) / radius  # left = -x, up = -y
    return z / radius, truth


def test_normal_map_of_a_sphere(make_ctx):
    depth, truth = sphere_depth()
    image = np.repeat(depth[None, ..., None], 3, -1)
    # relief: depth 1.0 spans the radius (90 px) = 90/256 of the short side, so slopes are true.
    hint = normal_from_depth(make_ctx(), depth=image, detect_resolution=0, relief=90 / 256, background=0.0)
    assert hint.shape == image.shape
    n = hint[0] * 2 - 1
    inside = (np.hypot(*np.mgrid[0:256, 0:256] - 128) < 80)
    assert np.allclose(np.linalg.norm(n, axis=-1), 1.0, atol=0.02)
    c = hint[0, 128, 128]
    assert c[2] > 0.99 and abs(c[0] - 0.5) < 0.02 and abs(c[1] - 0.5) < 0.02  # centre faces the camera: blue
    assert hint[0, 128, 60, 0] > 0.75 and hint[0, 128, 196, 0] < 0.25  # left side points left: red
    assert hint[0, 60, 128, 1] > 0.75 and hint[0, 196, 128, 1] < 0.25  # top points up: green
    assert np.abs(n[inside] - truth[inside]).max() < 0.1
    assert np.allclose(hint[0, 5, 5], (0.5, 0.5, 1.0))  # flat background faces the camera


def test_threshold_invert_and_tile(make_ctx):
    image = photo("chelsea")
    bw = threshold(make_ctx(), image=image, threshold=0.5, invert=False)
    assert set(np.unique(bw).tolist()) <= {0.0, 1.0} and 0.05 < bw.mean() < 0.95
    assert np.array_equal(threshold(make_ctx(), image=image, threshold=0.5, invert=True), 1.0 - bw)
    assert np.array_equal(invert(make_ctx(), image=invert(make_ctx(), image=bw)), bw)
    soft = tile(make_ctx(), image=image, downsample=4.0, blur=1.0)
    assert soft.shape == image.shape and abs(soft.mean() - image.mean()) < 0.01
    lap = [cv2.Laplacian(x[0], cv2.CV_32F).var() for x in (image, soft)]
    assert lap[1] < 0.1 * lap[0]  # the fine detail is gone


@pytest.mark.parametrize("fn,params", [
    (softedge, {"contrast": 1.0}), (lineart, {"line_width": 1.5, "strength": 6.0}),
    (scribble, {"threshold": 0.5, "thickness": 1}), (mlsd, {"min_length": 20.0, "min_score": 0.1}),
])
def test_detect_resolution_keeps_the_output_size(make_ctx, fn, params):
    image = photo("chelsea")  # 300 × 451: not a multiple of 64
    ctx = make_ctx()
    out = fn(ctx, image=np.concatenate([image, image[:, :, ::-1]]), detect_resolution=256, **params)
    assert out.shape == (2, 300, 451, 3)
    fractions = [d["fraction"] for k, d in ctx.recorder.events if k == "progress"]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_cancel_stops_a_preprocessor(make_ctx):
    ctx = make_ctx()
    ctx._cancel.cancel()
    with pytest.raises(CancelledError):
        softedge(ctx, image=photo("chelsea"), detect_resolution=256, contrast=1.0)


def test_loading_the_nodes_imports_no_torch_transformers_or_opencv():
    code = ("import sys; from studio.core.registry import default_registry; default_registry(); "
            "print(sorted(m for m in ('torch', 'transformers', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
