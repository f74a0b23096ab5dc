"""Body pose: people found by RT-DETR, keypoints by ViTPose, drawn as the OpenPose hint.

Also outputs the keypoints (POSE) in OpenPose's JSON layout, in the input image's pixels; feeding
them to ``pose.draw`` redraws exactly this hint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image, to_uint8
from studio.core.nodetype import Choice, Float, Int, Out, Wire, node

from .common import detect_resolution

MODELS = ("vitpose-base-simple", "vitpose-base")


@node(
    "preprocess.pose", title="Pose (OpenPose body)", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Choice("model", MODELS, tooltip="ViTPose folder under annotators/ (people are found by annotators/"
                                        "rtdetr-r50vd)"),
        detect_resolution(),
        Float("person_threshold", 0.5, min=0.01, max=1.0, step=0.01, tooltip="Detector score to accept a person"),
        Float("keypoint_threshold", 0.3, min=0.0, max=1.0, step=0.01,
              tooltip="Keypoints scoring below this are left out (and the limbs touching them)"),
        Int("max_people", 10, min=1, max=100),
    ],
    outputs=[Out("image", "IMAGE"), Out("pose", "POSE")],
    summary=["model", "keypoint_threshold"],
    aliases=("OpenposePreprocessor", "DWPreprocessor"),
)
def pose(ctx: NodeContext, image: np.ndarray, model: str, detect_resolution: int, person_threshold: float,
         keypoint_threshold: float, max_people: int) -> tuple[np.ndarray, Any]:
    """Find every person and draw their body keypoints (OpenPose-18) as coloured limbs on black."""
    from studio.diffusion.annotators import folders
    from studio.diffusion.annotators.detect_resolution import for_detection
    from studio.diffusion.annotators.openpose_draw import draw_bodies, pose_document
    from studio.diffusion.annotators.pose import (
        DETECTOR,
        POSE_MODELS,
        build_detector,
        build_pose,
        detect_people,
        estimate_keypoints,
    )
    mm = ctx.models
    detector = folders.load(mm, DETECTOR, build_detector, lambda f, text: ctx.progress(0.1 * f, text))
    estimator = folders.load(mm, POSE_MODELS[model], build_pose, lambda f, text: ctx.progress(0.1 + 0.1 * f, text))
    batch = check_image(image)
    hints = np.empty(batch.shape, np.float32)
    docs = []
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        h, w = frame.shape[:2]
        small = for_detection(to_uint8(frame), detect_resolution)
        boxes = detect_people(detector, small, person_threshold, max_people)
        ctx.check_cancel()
        people = estimate_keypoints(estimator, small, boxes, keypoint_threshold)
        scale = np.array([w / small.shape[1], h / small.shape[0], 1.0], np.float32)
        people = [np.where(p[:, 2:] > 0, p * scale, 0.0).astype(np.float32) for p in people]
        doc = pose_document(people, w, h)
        # Drawn from the rounded JSON values, so pose.draw on this output reproduces the hint exactly.
        hints[i] = draw_bodies(_people(doc), w, h).astype(np.float32) / 255.0
        docs.append(doc)
        ctx.progress(0.2 + 0.8 * (i + 1) / len(batch))
    return hints, docs[0] if len(docs) == 1 else docs


def _people(doc: dict[str, Any]) -> list[np.ndarray]:
    return [np.asarray(p["pose_keypoints_2d"], np.float32).reshape(18, 3) for p in doc["people"]]
