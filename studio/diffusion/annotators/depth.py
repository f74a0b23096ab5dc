"""Depth hints: Depth Anything (V1/V2), DPT / MiDaS and ZoeDepth through transformers.

Relative models predict relative inverse depth (bigger = nearer), min-max normalised so near is
white, as the depth ControlNet expects. ZoeDepth predicts metric depth (bigger = farther), so it is
inverted first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .folders import AnnotatorSpec, model_dtype
from .hf import HFAnnotator, from_folder, inputs_to, model_type

DEPTH_MODELS: dict[str, AnnotatorSpec] = {s.folder: s for s in (
    AnnotatorSpec("depth-anything-v2-small", "depth-anything/Depth-Anything-V2-Small-hf", "Depth Anything V2 Small"),
    AnnotatorSpec("depth-anything-v2-base", "depth-anything/Depth-Anything-V2-Base-hf", "Depth Anything V2 Base"),
    AnnotatorSpec("depth-anything-v2-large", "depth-anything/Depth-Anything-V2-Large-hf", "Depth Anything V2 Large"),
    AnnotatorSpec("depth-anything-small", "LiheYoung/depth-anything-small-hf", "Depth Anything Small"),
    AnnotatorSpec("dpt-hybrid-midas", "Intel/dpt-hybrid-midas", "DPT-Hybrid (MiDaS 3.0)"),
    AnnotatorSpec("dpt-large", "Intel/dpt-large", "DPT-Large (MiDaS 3.0)"),
    AnnotatorSpec("zoedepth-nyu-kitti", "Intel/zoedepth-nyu-kitti", "ZoeDepth NYU+KITTI"),
)}
METRIC_TYPES = {"zoedepth"}


def _model_class(kind: str) -> Any:
    import transformers as tf

    classes = {"depth_anything": tf.DepthAnythingForDepthEstimation, "dpt": tf.DPTForDepthEstimation,
               "zoedepth": tf.ZoeDepthForDepthEstimation}
    if kind not in classes:
        raise ModelError(f"config.json says model_type {kind!r}; a depth model is one of {', '.join(classes)}")
    return classes[kind]


def build_depth(folder: Path, device: Any, dtype: Any, progress: Callable[[float, str], None]) -> HFAnnotator:
    """Depth model and image processor from ``folder``; the class follows config.json's model_type."""
    from transformers import AutoImageProcessor

    kind = model_type(folder)
    cls = _model_class(kind)
    processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    progress(0.3, f"loading {folder.name}")
    dtype = model_dtype(device, dtype)
    return HFAnnotator(from_folder(cls, folder, device, dtype), processor, kind, device, dtype)


def predict_depth(ann: HFAnnotator, rgb: np.ndarray) -> np.ndarray:
    """Raw prediction (H, W) float32 at the frame's size. The model runs at the frame's size too
    (rounded by the processor to what the network needs), so the detect resolution is honoured."""
    import torch

    h, w = rgb.shape[:2]
    size: dict[str, Any] = {"size": {"height": h, "width": w}}
    if _square_only(ann.model):
        size = {"size": {"height": min(h, w), "width": min(h, w)}, "keep_aspect_ratio": False}
    batch = ann.processor(images=rgb, return_tensors="pt", **size)
    with torch.inference_mode():
        out = ann.model(**inputs_to(batch, ann.device, ann.dtype))
    out.predicted_depth = out.predicted_depth.float()
    if ann.model_type == "zoedepth":
        res = ann.processor.post_process_depth_estimation(out, source_sizes=[(h, w)], target_sizes=[(h, w)])
    else:
        res = ann.processor.post_process_depth_estimation(out, target_sizes=[(h, w)])
    return res[0]["predicted_depth"].float().cpu().numpy().reshape(h, w)


def _square_only(model: Any) -> bool:
    """DPT on a ViT (dpt-large) or hybrid (dpt-hybrid-midas) backbone folds its tokens back into a square
    grid, so it runs on a square input; the result is resized to the frame afterwards."""
    cfg = model.config
    return cfg.model_type == "dpt" and (getattr(cfg, "backbone_config", None) is None or bool(cfg.is_hybrid))


def depth_hint(prediction: np.ndarray, *, metric: bool) -> np.ndarray:
    """(H, W) in [0, 1] with near = 1 (white): min-max of relative inverse depth, or of metric depth
    inverted (far - d) first."""
    d = prediction.astype(np.float32)
    if metric:
        d = -d
    lo, hi = float(d.min()), float(d.max())
    if hi - lo < 1e-8:
        return np.zeros_like(d)
    return (d - lo) / (hi - lo)
