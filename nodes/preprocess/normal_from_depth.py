"""Normal map from a depth hint, in the colours the normal (BAE) ControlNet was trained on."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext
from studio.core.imaging import check_image
from studio.core.nodetype import Float, Out, Wire, node

from .common import detect_resolution, each_frame


@node(
    "preprocess.normal_from_depth", title="Normal Map from Depth", category="Preprocess",
    inputs=[
        Wire("depth", "IMAGE", tooltip="A depth hint: near = white"),
        detect_resolution(0),
        Float("relief", 0.5, min=0.01, max=4.0, step=0.01,
              tooltip="How deep the scene is: the full depth range spans this fraction of the short side"),
        Float("background", 0.0, min=0.0, max=1.0, step=0.01,
              tooltip="Depth at or below this faces the camera (flattens the far background)"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["relief", "background"],
)
def normal_from_depth(ctx: NodeContext, depth: np.ndarray, detect_resolution: int, relief: float,
                      background: float) -> np.ndarray:
    """Surface normals from depth gradients: blue faces the camera, red points left, green up."""
    from studio.diffusion.annotators.normals import normal_colours, normals_from_depth

    def run(rgb: np.ndarray) -> np.ndarray:
        d = rgb.mean(axis=-1)  # float frames: 8-bit depth would turn slopes into stairs
        return normal_colours(normals_from_depth(d, relief=relief, background=background))

    return each_frame(ctx, check_image(depth), run, resolution=detect_resolution, as_float=True)
