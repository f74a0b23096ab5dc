"""Depth hint (near = white) from Depth Anything, DPT / MiDaS or ZoeDepth weights in ``annotators/``."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.nodetype import Choice, Out, Wire, node

from .common import detect_resolution, each_frame

# Folder names under annotators/ (each the files of one Hugging Face repo; see DEPTH_MODELS).
MODELS = ("depth-anything-v2-small", "depth-anything-v2-base", "depth-anything-v2-large", "depth-anything-small",
          "dpt-hybrid-midas", "dpt-large", "zoedepth-nyu-kitti")


@node(
    "preprocess.depth", title="Depth Map", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Choice("model", MODELS, tooltip="Folder under the models root's annotators/ holding the model's files"),
        detect_resolution(),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["model", "detect_resolution"],
    aliases=("DepthAnythingPreprocessor", "DepthAnythingV2Preprocessor", "MiDaS-DepthMapPreprocessor",
             "Zoe-DepthMapPreprocessor", "Zoe_DepthAnythingPreprocessor", "LeReS-DepthMapPreprocessor"),
)
def depth(ctx: NodeContext, image: np.ndarray, model: str, detect_resolution: int) -> np.ndarray:
    """Estimate depth and normalise it to a grey hint: near is white, far is black."""
    from studio.diffusion.annotators import folders
    from studio.diffusion.annotators.depth import (
        DEPTH_MODELS,
        METRIC_TYPES,
        build_depth,
        depth_hint,
        predict_depth,
    )
    ann = folders.load(ctx.models, DEPTH_MODELS[model], build_depth,
                       lambda f, text: ctx.progress(0.2 * f, text))
    metric = ann.model_type in METRIC_TYPES
    return each_frame(ctx, image, lambda rgb: depth_hint(predict_depth(ann, rgb), metric=metric),
                      resolution=detect_resolution, start=0.2)
