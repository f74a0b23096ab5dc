"""Body pose: RT-DETR finds people, ViTPose puts COCO-17 keypoints in each box, and the result is
converted to OpenPose-18 (see ``openpose_draw``) for the openpose ControlNet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .folders import AnnotatorSpec, model_dtype
from .hf import HFAnnotator, from_folder, inputs_to, model_type
from .openpose_draw import coco_to_openpose

DETECTOR = AnnotatorSpec("rtdetr-r50vd", "PekingU/rtdetr_r50vd", "RT-DETR R50vd person detector")
POSE_MODELS: dict[str, AnnotatorSpec] = {s.folder: s for s in (
    AnnotatorSpec("vitpose-base-simple", "usyd-community/vitpose-base-simple", "ViTPose-B (simple decoder)"),
    AnnotatorSpec("vitpose-base", "usyd-community/vitpose-base", "ViTPose-B"),
)}


def _build(model_class: Any, expected: str, what: str, folder: Path, device: Any, dtype: Any) -> HFAnnotator:
    from transformers import AutoImageProcessor

    kind = model_type(folder)
    if kind != expected:
        raise ModelError(f"{folder.name}: config.json says model_type {kind!r}, expected {what} ({expected})")
    processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    dtype = model_dtype(device, dtype)
    return HFAnnotator(from_folder(model_class, folder, device, dtype), processor, kind, device, dtype)


def build_detector(folder: Path, device: Any, dtype: Any, progress: Callable[[float, str], None]) -> HFAnnotator:
    from transformers import RTDetrForObjectDetection

    return _build(RTDetrForObjectDetection, "rt_detr", "an RT-DETR detector", folder, device, dtype)


def build_pose(folder: Path, device: Any, dtype: Any, progress: Callable[[float, str], None]) -> HFAnnotator:
    from transformers import VitPoseForPoseEstimation

    return _build(VitPoseForPoseEstimation, "vitpose", "ViTPose", folder, device, dtype)


def person_label(detector: HFAnnotator) -> int:
    """The detector's class id for "person" (0 in COCO-trained RT-DETR)."""
    for k, v in (detector.model.config.id2label or {}).items():
        if str(v).lower() == "person":
            return int(k)
    return 0


def detect_people(detector: HFAnnotator, rgb: np.ndarray, threshold: float, max_people: int) -> np.ndarray:
    """Person boxes (N, 4) as COCO x, y, w, h in the frame's pixels, best first, clipped to the frame."""
    import torch

    h, w = rgb.shape[:2]
    batch = detector.processor(images=rgb, return_tensors="pt")
    with torch.inference_mode():
        out = detector.model(**inputs_to(batch, detector.device, detector.dtype))
    out.logits, out.pred_boxes = out.logits.float(), out.pred_boxes.float()
    res = detector.processor.post_process_object_detection(out, threshold=threshold, target_sizes=[(h, w)])[0]
    keep = res["labels"] == person_label(detector)
    boxes, scores = res["boxes"][keep].cpu().numpy(), res["scores"][keep].cpu().numpy()
    boxes = boxes[np.argsort(-scores)][:max_people]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float32)
    return xywh[(xywh[:, 2] >= 2) & (xywh[:, 3] >= 2)]


def estimate_keypoints(pose: HFAnnotator, rgb: np.ndarray, boxes_xywh: np.ndarray,
                       threshold: float) -> list[np.ndarray]:
    """OpenPose-18 keypoints (18, 3) of each person box, in the frame's pixels."""
    import torch

    if len(boxes_xywh) == 0:
        return []
    batch = pose.processor(images=rgb, boxes=[boxes_xywh], return_tensors="pt")
    with torch.inference_mode():
        out = pose.model(**inputs_to(batch, pose.device, pose.dtype))
    out.heatmaps = out.heatmaps.float()
    results = pose.processor.post_process_pose_estimation(out, boxes=[boxes_xywh])[0]
    people = []
    for r in results:
        xy, scores = r["keypoints"].cpu().numpy(), r["scores"].cpu().numpy()
        if len(xy) != 17:
            raise ModelError(f"the pose model gives {len(xy)} keypoints per person, not the 17 COCO ones")
        people.append(coco_to_openpose(xy, scores, threshold))
    return people
