"""Segmentation hint: ADE20K labels painted with the 150-colour palette (index = label, 0 = wall)."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.nodetype import Choice, Out, Wire, node

from .common import detect_resolution, each_frame

# Folder names under annotators/ (see SEGMENTATION_MODELS for the Hugging Face repos).
MODELS = ("upernet-convnext-small", "segformer-b0-ade", "segformer-b4-ade", "oneformer-ade20k-swin-tiny")


@node(
    "preprocess.segmentation", title="Segmentation (ADE20K)", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        Choice("model", MODELS, tooltip="Folder under the models root's annotators/ holding the model's files"),
        detect_resolution(),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["model", "detect_resolution"],
    aliases=("OneFormer-ADE20K-SemSegPreprocessor", "UniFormer-SemSegPreprocessor", "SemSegPreprocessor"),
)
def segmentation(ctx: NodeContext, image: np.ndarray, model: str, detect_resolution: int) -> np.ndarray:
    """Label every pixel with one of the 150 ADE20K classes and paint it in that class's colour."""
    from studio.diffusion.annotators import folders
    from studio.diffusion.annotators.detect_resolution import resize
    from studio.diffusion.annotators.palette import paint_labels
    from studio.diffusion.annotators.segmentation import SEGMENTATION_MODELS, build_segmenter, segment
    ann = folders.load(ctx.models, SEGMENTATION_MODELS[model], build_segmenter,
                       lambda f, text: ctx.progress(0.2 * f, text))
    batch = np.asarray(image)
    size = batch.shape[-3:-1]

    def run(rgb: np.ndarray) -> np.ndarray:
        # Labels are resized (nearest) before painting, so every pixel is exactly a palette colour.
        return paint_labels(resize(segment(ann, rgb), size, nearest=True))

    return each_frame(ctx, image, run, resolution=detect_resolution, nearest=True, start=0.2)
