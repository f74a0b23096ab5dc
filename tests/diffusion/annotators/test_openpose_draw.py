import json

import numpy as np
import pytest

from studio.diffusion.annotators.openpose_draw import (
    COLORS,
    LIMBS,
    coco_to_openpose,
    draw_bodies,
    parse_pose,
    pose_document,
)

# A wide, well-separated figure on a 512 × 512 canvas (OpenPose-18 order).
FIGURE = np.array([
    [256, 60, 1], [256, 140, 1], [176, 140, 1], [130, 230, 1], [90, 320, 1], [336, 140, 1], [382, 230, 1],
    [422, 320, 1], [206, 300, 1], [190, 390, 1], [176, 480, 1], [306, 300, 1], [322, 390, 1], [336, 480, 1],
    [226, 30, 1], [286, 30, 1], [190, 16, 1], [322, 16, 1],
], np.float32)


def test_limbs_are_dimmed_to_60_percent_and_keypoints_are_full_colour():
    img = draw_bodies([FIGURE], 512, 512)
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    for i, (a, b) in enumerate(LIMBS):
        mx, my = (FIGURE[a, :2] + FIGURE[b, :2]) / 2
        expect = [int(c * 0.6) for c in COLORS[i]]
        assert img[round(my), round(mx)].tolist() == expect, f"limb {i}"
    for i, (x, y, _) in enumerate(FIGURE):
        assert img[int(y), int(x)].tolist() == list(COLORS[i]), f"keypoint {i}"
        assert img[int(y) + 3, int(x)].tolist() == list(COLORS[i])  # radius 4
    # Limbs are ellipses of half-width 4 across their length.
    x, y = (FIGURE[8, :2] + FIGURE[9, :2]) / 2  # R-hip → R-knee (limb 7)
    d = FIGURE[9, :2] - FIGURE[8, :2]
    n = np.array([-d[1], d[0]]) / np.hypot(*d)
    assert img[round(y + 3 * n[1]), round(x + 3 * n[0])].tolist() == [int(c * 0.6) for c in COLORS[7]]
    assert img[round(y + 7 * n[1]), round(x + 7 * n[0])].tolist() == [0, 0, 0]
    assert img[500, 5].tolist() == [0, 0, 0]


def test_missing_points_hide_their_limbs_and_people_add_up():
    fig = FIGURE.copy()
    fig[4] = 0  # R-wrist missing
    img = draw_bodies([fig], 512, 512)
    mx, my = (FIGURE[3, :2] + FIGURE[4, :2]) / 2
    assert img[round(my), round(mx)].tolist() == [0, 0, 0]
    two = draw_bodies([FIGURE * [0.5, 0.5, 1], FIGURE * [0.5, 0.5, 1] + [256, 256, 0]], 512, 512)
    assert two[70, 128].tolist() == list(COLORS[1]) and two[326, 384].tolist() == list(COLORS[1])


def test_coco_keypoints_map_to_openpose_with_the_neck_between_the_shoulders():
    xy = np.arange(34, dtype=np.float32).reshape(17, 2) * 10
    scores = np.linspace(0.5, 0.9, 17).astype(np.float32)
    op = coco_to_openpose(xy, scores)
    assert op[0, :2].tolist() == xy[0].tolist()  # nose
    assert op[1, :2].tolist() == ((xy[5] + xy[6]) / 2).tolist()  # neck
    assert op[2, :2].tolist() == xy[6].tolist() and op[5, :2].tolist() == xy[5].tolist()  # R / L shoulder
    assert op[4, :2].tolist() == xy[10].tolist() and op[7, :2].tolist() == xy[9].tolist()  # wrists
    assert op[10, :2].tolist() == xy[16].tolist() and op[13, :2].tolist() == xy[15].tolist()  # ankles
    assert op[14, :2].tolist() == xy[2].tolist() and op[17, :2].tolist() == xy[3].tolist()  # R-eye, L-ear
    low = coco_to_openpose(xy, scores, threshold=0.6)
    assert low[0].tolist() == [0, 0, 0] and low[1, 2] > 0  # nose dropped, shoulders kept → neck kept
    no_shoulder = scores.copy()
    no_shoulder[6] = 0.1
    assert coco_to_openpose(xy, no_shoulder, threshold=0.3)[1].tolist() == [0, 0, 0]


def test_openpose_json_round_trip_and_errors():
    doc = pose_document([FIGURE], 512, 512)
    people, w, h = parse_pose(json.dumps(doc))
    assert (w, h) == (512, 512) and np.array_equal(people[0], FIGURE)
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 54
    with pytest.raises(ValueError, match="54 numbers"):
        parse_pose({"people": [{"pose_keypoints_2d": [1, 2, 3]}]})
    with pytest.raises(ValueError, match="valid JSON"):
        parse_pose("{")
