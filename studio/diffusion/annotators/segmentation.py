"""ADE20K semantic segmentation through transformers: UperNet, SegFormer and OneFormer.

The result is a label map (0..149, 0 = wall) that ``palette.paint_labels`` turns into the hint.
OneFormer's image processor wants a class-info file from the Hub; a copy ships in
``resources/oneformer`` and is passed in, so nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.settings import resources_dir

from ..errors import ModelError
from .folders import AnnotatorSpec, model_dtype
from .hf import HFAnnotator, from_folder, inputs_to, model_type
from .palette import ADE20K_CLASSES

SEGMENTATION_MODELS: dict[str, AnnotatorSpec] = {s.folder: s for s in (
    AnnotatorSpec("upernet-convnext-small", "openmmlab/upernet-convnext-small", "UperNet ConvNeXt-Small (ADE20K)"),
    AnnotatorSpec("segformer-b0-ade", "nvidia/segformer-b0-finetuned-ade-512-512", "SegFormer-B0 (ADE20K)"),
    AnnotatorSpec("segformer-b4-ade", "nvidia/segformer-b4-finetuned-ade-512-512", "SegFormer-B4 (ADE20K)"),
    AnnotatorSpec("oneformer-ade20k-swin-tiny", "shi-labs/oneformer_ade20k_swin_tiny", "OneFormer Swin-T (ADE20K)"),
)}
ONEFORMER_CLASS_INFO = "ade20k_panoptic.json"


def _model_class(kind: str) -> Any:
    import transformers as tf

    classes = {"upernet": tf.UperNetForSemanticSegmentation, "segformer": tf.SegformerForSemanticSegmentation,
               "oneformer": tf.OneFormerForUniversalSegmentation}
    if kind not in classes:
        raise ModelError(f"config.json says model_type {kind!r}; a segmentation model is one of "
                         f"{', '.join(classes)}")
    return classes[kind]


def build_segmenter(folder: Path, device: Any, dtype: Any, progress: Callable[[float, str], None]) -> HFAnnotator:
    from transformers import AutoImageProcessor

    kind = model_type(folder)
    cls = _model_class(kind)
    if kind == "oneformer":
        from transformers import OneFormerProcessor

        # repo_path + class_info_file point the processor at our local copy instead of the Hub.
        image_processor = AutoImageProcessor.from_pretrained(
            str(folder), local_files_only=True, repo_path=str(resources_dir() / "oneformer"),
            class_info_file=ONEFORMER_CLASS_INFO)
        tokenizer = _oneformer_tokenizer(folder)
        processor = OneFormerProcessor(image_processor=image_processor, tokenizer=tokenizer)
    else:
        processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    progress(0.3, f"loading {folder.name}")
    dtype = model_dtype(device, dtype)
    model = from_folder(cls, folder, device, dtype)
    if model.config.num_labels != ADE20K_CLASSES:
        raise ModelError(f"{folder.name} predicts {model.config.num_labels} classes, not the 150 ADE20K classes "
                         "the segmentation ControlNet uses")
    return HFAnnotator(model, processor, kind, device, dtype)


def segment(ann: HFAnnotator, rgb: np.ndarray) -> np.ndarray:
    """ADE20K label map (H, W) int32 at the frame's size; the network runs at that size too."""
    import torch

    h, w = rgb.shape[:2]
    if ann.model_type == "oneformer":
        batch = ann.processor(images=rgb, task_inputs=["semantic"], return_tensors="pt",
                              size={"shortest_edge": min(h, w), "longest_edge": max(h, w) * 4})
    else:
        batch = ann.processor(images=rgb, return_tensors="pt", size={"height": h, "width": w})
    with torch.inference_mode():
        out = ann.model(**inputs_to(batch, ann.device, ann.dtype))
    for name in ("logits", "class_queries_logits", "masks_queries_logits"):
        if getattr(out, name, None) is not None:
            setattr(out, name, getattr(out, name).float())
    labels = ann.processor.post_process_semantic_segmentation(out, target_sizes=[(h, w)])[0]
    return labels.cpu().numpy().astype(np.int32)


def _oneformer_tokenizer(folder: Path) -> Any:
    """The repo's own tokenizer files when present, else the shipped CLIP vocabulary (OneFormer's task
    prompt uses the same 49,408-token CLIP BPE)."""
    if any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    from ..clip_tokenizer import clip_tokenizer

    return clip_tokenizer()
