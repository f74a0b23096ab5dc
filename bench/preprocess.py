"""Milliseconds per 512² image for every preprocessor on this machine.

Weight-free preprocessors run through their node functions on a real photograph (scikit-image's
astronaut). Model-based ones run through the same annotator code the nodes use, on full-size models
with their published architectures and random weights (built in memory: no download), so the time
is the real network's. Reference: OpenCV Canny on the same image, so ratios compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.timing import Pairs, compare
from studio.core.context import CancelToken, NodeContext

SIZE = 512


def _ctx() -> NodeContext:
    return NodeContext(node_id="bench", title="bench", run_id=0, cancel=CancelToken(), emit=lambda k, d: None)


def _photo() -> np.ndarray:
    import cv2
    from skimage import data  # test dependency; the bench runs in the dev environment

    rgb = cv2.resize(data.astronaut(), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return (rgb.astype(np.float32) / 255.0)[None]


def weight_free(image: np.ndarray) -> dict[str, Callable[[], Any]]:
    from nodes.preprocess.canny import canny
    from nodes.preprocess.invert import invert
    from nodes.preprocess.lineart import lineart
    from nodes.preprocess.mlsd import mlsd
    from nodes.preprocess.normal_from_depth import normal_from_depth
    from nodes.preprocess.scribble import scribble
    from nodes.preprocess.softedge import softedge
    from nodes.preprocess.threshold import threshold
    from nodes.preprocess.tile import tile

    ctx, r = _ctx(), SIZE
    return {
        "canny": lambda: canny(ctx, image=image, low=100, high=200, blur=0.0),
        "softedge": lambda: softedge(ctx, image=image, detect_resolution=r, contrast=1.0),
        "lineart": lambda: lineart(ctx, image=image, detect_resolution=r, line_width=1.5, strength=6.0),
        "scribble": lambda: scribble(ctx, image=image, detect_resolution=r, threshold=0.5, thickness=1),
        "mlsd": lambda: mlsd(ctx, image=image, detect_resolution=r, min_length=20.0, min_score=0.1),
        "threshold": lambda: threshold(ctx, image=image, threshold=0.5, invert=False),
        "tile": lambda: tile(ctx, image=image, downsample=4.0, blur=2.0),
        "invert": lambda: invert(ctx, image=image),
        "normal_from_depth": lambda: normal_from_depth(ctx, depth=image, detect_resolution=r, relief=0.5,
                                                       background=0.0),
    }


def _config(cls: type[Any], **options: Any) -> Any:
    """A transformers config; backbone and label options go through ``**kwargs``, which its typed
    dataclass signature does not list."""
    return cls(**options)


def _annotator(model: Any, processor: Any, kind: str) -> Any:
    import torch

    from studio.diffusion.annotators.hf import HFAnnotator

    return HFAnnotator(model.eval(), processor, kind, torch.device("cpu"), torch.float32)


def model_based(rgb: np.ndarray) -> dict[str, Callable[[], Any]]:
    """Full-size architectures (published configs), random weights, the nodes' annotator code."""
    import torch
    import transformers as tf
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil
    from transformers.models.oneformer.image_processing_pil_oneformer import OneFormerImageProcessorPil
    from transformers.models.rt_detr.image_processing_pil_rt_detr import RTDetrImageProcessorPil
    from transformers.models.segformer.image_processing_pil_segformer import SegformerImageProcessorPil
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    from studio.core.settings import resources_dir
    from studio.diffusion.annotators.depth import predict_depth
    from studio.diffusion.annotators.pose import detect_people, estimate_keypoints
    from studio.diffusion.annotators.segmentation import segment
    from studio.diffusion.clip_tokenizer import clip_tokenizer

    torch.manual_seed(0)
    dinov2_small = _config(tf.Dinov2Config, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                           image_size=518, patch_size=14, out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
    depth = _annotator(tf.DepthAnythingForDepthEstimation(tf.DepthAnythingConfig(backbone_config=dinov2_small)),
                       DPTImageProcessorPil(keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
                                            image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]),
                       "depth_anything")
    convnext_small = _config(tf.ConvNextConfig, depths=[3, 3, 27, 3], hidden_sizes=[96, 192, 384, 768],
                             out_features=["stage1", "stage2", "stage3", "stage4"])
    upernet = _annotator(tf.UperNetForSemanticSegmentation(_config(tf.UperNetConfig,
        backbone_config=convnext_small, hidden_size=512, auxiliary_in_channels=384, num_labels=150)),
        SegformerImageProcessorPil(), "upernet")
    segformer = _annotator(tf.SegformerForSemanticSegmentation(_config(tf.SegformerConfig, num_labels=150)),
                           SegformerImageProcessorPil(), "segformer")
    image_processor = OneFormerImageProcessorPil(size={"shortest_edge": 512, "longest_edge": 2048}, num_text=134,
                                                 repo_path=str(resources_dir() / "oneformer"),
                                                 class_info_file="ade20k_panoptic.json")
    oneformer = _annotator(tf.OneFormerForUniversalSegmentation(
        _config(tf.OneFormerConfig, num_labels=150, is_training=False)),
                           tf.OneFormerProcessor(image_processor=image_processor, tokenizer=clip_tokenizer()),
                           "oneformer")
    labels = {i: f"class {i}" for i in range(80)} | {0: "person"}
    detector = _annotator(tf.RTDetrForObjectDetection(_config(tf.RTDetrConfig, num_labels=80, id2label=labels)),
                          RTDetrImageProcessorPil(), "rt_detr")
    vitpose = _annotator(tf.VitPoseForPoseEstimation(_config(tf.VitPoseConfig,
        backbone_config=tf.VitPoseBackboneConfig(), use_simple_decoder=True, num_labels=17)),
        VitPoseImageProcessorPil(), "vitpose")
    one_person = np.array([[128, 32, 256, 448]], np.float32)
    return {
        "depth (Depth Anything V2 Small)": lambda: predict_depth(depth, rgb),
        "segmentation (UperNet ConvNeXt-S)": lambda: segment(upernet, rgb),
        "segmentation (SegFormer-B0)": lambda: segment(segformer, rgb),
        "segmentation (OneFormer Swin-T)": lambda: segment(oneformer, rgb),
        "pose: person detector (RT-DETR R50vd)": lambda: detect_people(detector, rgb, 0.5, 10),
        "pose: keypoints (ViTPose-B, 1 person)": lambda: estimate_keypoints(vitpose, rgb, one_person, 0.3),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench preprocess")
    ap.add_argument("--repeats", "--pairs", dest="repeats", type=int, default=3,
                    help="interleaved pairs (canny, preprocessor) per preprocessor")
    ap.add_argument("--no-models", action="store_true", help="only the weight-free preprocessors")
    args = ap.parse_args(argv)
    image = _photo()
    rgb = (image[0] * 255 + 0.5).astype(np.uint8)
    preprocessors = weight_free(image)
    canny = preprocessors.pop("canny")
    rows = compare(canny, preprocessors, args.repeats, warmup=True)
    if not args.no_models:
        import torch

        from studio.diffusion.model_manager import cpu_has_bf16

        print(f"torch threads: {torch.get_num_threads()}, CPU bf16: {cpu_has_bf16()} (annotators run fp32)")
        rows |= compare(canny, model_based(rgb), max(1, args.repeats - 1), warmup=True)
    print(f"preprocessors on one {SIZE}×{SIZE} image; each timed in interleaved pairs with canny (the reference): "
          f"medians, ratio = time / canny")
    print(f"{'preprocessor':42s} {'ms':>10s} {'× canny':>10s}  spread of the ratio")
    canny_ms = statistics.median(t for p in rows.values() for t in p.reference) * 1000.0
    print(f"{'canny (reference)':42s} {canny_ms:10.1f} {1.0:10.2f}")
    for name, p in rows.items():
        print(_row(name, p))
    return 0


def _row(name: str, p: Pairs) -> str:
    return f"{name:42s} {p.ours_s * 1000.0:10.1f} {p.ratio:10.2f}  {p.spread('.2f')}"
