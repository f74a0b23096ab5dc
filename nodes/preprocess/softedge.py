"""Soft edges: the hint of the softedge (HED / PiDiNet) ControlNet, computed without weights."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node

from .common import detect_resolution, each_frame


@node(
    "preprocess.softedge", title="Soft Edge", category="Preprocess",
    inputs=[
        Wire("image", "IMAGE"),
        detect_resolution(),
        Float("contrast", 1.0, min=0.25, max=4.0, step=0.05, widget="slider",
              tooltip="Higher keeps fainter edges; lower keeps only strong outlines"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["detect_resolution", "contrast"],
    aliases=("HEDPreprocessor", "PiDiNetPreprocessor"),
)
def softedge(ctx: NodeContext, image: np.ndarray, detect_resolution: int, contrast: float) -> np.ndarray:
    """Grey-level outlines, white on black, from colour gradients at several scales (no model download)."""
    from studio.diffusion.annotators.edges import soft_edge

    return each_frame(ctx, image, lambda rgb: soft_edge(rgb, contrast=contrast), resolution=detect_resolution)
