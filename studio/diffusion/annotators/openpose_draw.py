"""OpenPose-18 body keypoints: conversion from COCO-17, the OpenPose JSON layout, and the hint drawing.

Keypoints are (18, 3) float arrays of x, y (pixels) and confidence; confidence 0 = missing. The JSON
layout is OpenPose's: ``{"width", "height", "people": [{"pose_keypoints_2d": [x, y, c] * 18}]}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# 0 nose, 1 neck, 2 R-shoulder, 3 R-elbow, 4 R-wrist, 5 L-shoulder, 6 L-elbow, 7 L-wrist, 8 R-hip,
# 9 R-knee, 10 R-ankle, 11 L-hip, 12 L-knee, 13 L-ankle, 14 R-eye, 15 L-eye, 16 R-ear, 17 L-ear.
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))  # 0-based; limb i and keypoint i use COLORS[i]
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
LIMB_HALF_WIDTH = 4
LIMB_DIM = 0.6
POINT_RADIUS = 4

# OpenPose index ← COCO-17 index (COCO: 0 nose, 1 L-eye, 2 R-eye, 3 L-ear, 4 R-ear, 5 L-shoulder,
# 6 R-shoulder, 7 L-elbow, 8 R-elbow, 9 L-wrist, 10 R-wrist, 11 L-hip, 12 R-hip, 13 L-knee, 14 R-knee,
# 15 L-ankle, 16 R-ankle). The neck (OpenPose 1) has no COCO point: it is the shoulders' midpoint.
_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)


def coco_to_openpose(xy: np.ndarray, scores: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """COCO-17 keypoints (17, 2) with scores (17,) → OpenPose-18 (18, 3); points scoring below
    ``threshold`` become missing (0, 0, 0). The neck exists only when both shoulders do."""
    xy = np.asarray(xy, np.float32).reshape(17, 2)
    scores = np.asarray(scores, np.float32).reshape(17)
    out = np.zeros((18, 3), np.float32)
    for op, coco in enumerate(_FROM_COCO):
        if coco is not None and scores[coco] >= threshold and scores[coco] > 0:
            out[op] = (*xy[coco], scores[coco])
    if out[2, 2] > 0 and out[5, 2] > 0:
        out[1] = ((xy[5, 0] + xy[6, 0]) / 2, (xy[5, 1] + xy[6, 1]) / 2, min(scores[5], scores[6]))
    return out


def draw_bodies(people: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """The OpenPose hint, uint8 RGB (height, width, 3): on black, each limb a filled ellipse of
    half-width 4 along its segment; the whole canvas times 0.6; then each keypoint a radius-4 disc
    at full colour. Keypoints with confidence 0 are missing, and so are limbs touching them."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    for person in people:
        kp = _clipped(person)
        for i, (a, b) in enumerate(LIMBS):
            if kp[a, 2] <= 0 or kp[b, 2] <= 0:
                continue
            (xa, ya), (xb, yb) = kp[a, :2], kp[b, :2]
            length = math.hypot(xb - xa, yb - ya)
            angle = math.degrees(math.atan2(yb - ya, xb - xa))
            poly = cv2.ellipse2Poly((round((xa + xb) / 2), round((ya + yb) / 2)),
                                    (round(length / 2), LIMB_HALF_WIDTH), round(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, np.asarray(poly, np.int32), COLORS[i])
    canvas = (canvas.astype(np.float32) * LIMB_DIM).astype(np.uint8)
    for person in people:
        kp = _clipped(person)
        for i in range(18):
            if kp[i, 2] > 0:
                cv2.circle(canvas, (round(float(kp[i, 0])), round(float(kp[i, 1]))), POINT_RADIUS, COLORS[i],
                           thickness=-1)
    return canvas


def _clipped(person: np.ndarray) -> np.ndarray:
    """Keypoints with x and y kept where cv2's integer geometry works (far off the canvas either way);
    a point that is not finite is missing."""
    kp = np.array(person, np.float32).reshape(18, 3)
    kp[~np.isfinite(kp).all(axis=1)] = 0.0
    kp[:, :2] = np.clip(kp[:, :2], -MAX_COORD, MAX_COORD)
    return kp


# --- the OpenPose JSON layout ------------------------------------------------------------------------


def pose_document(people: Sequence[np.ndarray], width: int, height: int) -> dict[str, Any]:
    return {"width": int(width), "height": int(height),
            "people": [{"pose_keypoints_2d": [round(float(v), 3) for v in np.asarray(p).reshape(-1)]}
                       for p in people]}


# Bounds on a keypoints document, which may come from a stranger's workflow: a canvas side (the
# node bounds the canvas's area), more people than any photo holds, and coordinates that cv2's
# integer geometry can take.
MAX_CANVAS = 65536
MAX_PEOPLE = 1000
MAX_COORD = 2.0**20


def parse_pose(doc: dict[str, Any] | str) -> tuple[list[np.ndarray], int, int]:
    """People (each (18, 3)), width and height from an OpenPose-layout dict or its JSON text.
    Raises ValueError with a readable reason for malformed input."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise ValueError(f"keypoints are not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise ValueError("keypoints JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError("keypoints must be a JSON object with \"people\"")
    width = _canvas_side(doc.get("width", doc.get("canvas_width", 0)), "width")
    height = _canvas_side(doc.get("height", doc.get("canvas_height", 0)), "height")
    listed = doc.get("people", [])
    if not isinstance(listed, list):
        raise ValueError("\"people\" must be a list")
    if len(listed) > MAX_PEOPLE:
        raise ValueError(f"{len(listed):,} people; at most {MAX_PEOPLE:,} can be drawn")
    people = []
    for n, person in enumerate(listed):
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(values, list) or len(values) != 54:
            raise ValueError(f"person {n + 1}: pose_keypoints_2d must hold 18 × (x, y, confidence) = 54 numbers")
        try:
            kp = np.asarray(values, np.float64).reshape(18, 3)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"person {n + 1}: pose_keypoints_2d must hold numbers only") from None
        if not np.isfinite(kp).all() or (np.abs(kp[:, :2]) > MAX_COORD).any():
            raise ValueError(f"person {n + 1}: keypoints must be finite, within ±{MAX_COORD:.0f} pixels")
        people.append(kp.astype(np.float32))
    return people, width, height


def _canvas_side(value: Any, name: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"keypoints {name} must be a number")
    try:
        side = int(float(value))
    except (ValueError, OverflowError):
        raise ValueError(f"keypoints {name} must be a number, found {str(value)[:40]!r}") from None
    if not 0 <= side <= MAX_CANVAS:
        raise ValueError(f"keypoints {name} {side} is outside 0..{MAX_CANVAS}")
    return side
