"""Draw an OpenPose hint from keypoints: typed by hand as JSON, or from a pose detector's POSE output."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Int, Out, String, Wire, node

MAX_PIXELS = 8192 * 8192  # as for a loaded image; the keypoints JSON may claim any size

EXAMPLE = """{
  "width": 512, "height": 512,
  "people": [{"pose_keypoints_2d": [
    256, 90, 1,   256, 150, 1,   206, 150, 1,   186, 230, 1,   176, 300, 1,
    306, 150, 1,  326, 230, 1,   336, 300, 1,   226, 300, 1,   221, 390, 1,
    216, 470, 1,  286, 300, 1,   291, 390, 1,   296, 470, 1,   246, 80, 1,
    266, 80, 1,   234, 88, 1,    278, 88, 1
  ]}]
}"""


@node(
    "pose.draw", title="Draw Pose", category="Preprocess",
    inputs=[
        Wire("pose", "POSE", optional=True, tooltip="Keypoints from a pose detector; when connected, the "
                                                    "JSON below is ignored"),
        String("keypoints", EXAMPLE, multiline=True,
               tooltip='OpenPose JSON: {"width", "height", "people": [{"pose_keypoints_2d": [x, y, c] × 18}]}; '
                       "c = 0 leaves a point out"),
        Int("width", 0, min=0, max=8192, step=8, tooltip="Canvas width; 0 = the keypoints' own width"),
        Int("height", 0, min=0, max=8192, step=8, tooltip="Canvas height; 0 = the keypoints' own height"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["width", "height"],
)
def pose_draw(ctx: NodeContext, pose: Any, keypoints: str, width: int, height: int) -> np.ndarray:
    """OpenPose body hint from 18 keypoints per person (nose, neck, shoulders, …), coloured limbs on black."""
    from studio.diffusion.annotators.openpose_draw import draw_bodies, parse_pose

    source = pose if pose is not None else keypoints
    frames = source if isinstance(source, list) else [source]
    out = []
    for n, doc in enumerate(frames):
        ctx.check_cancel()
        try:
            people, w0, h0 = parse_pose(doc)
        except ValueError as exc:
            raise NodeFailure(str(exc)) from None
        w, h = width or w0, height or h0
        if w <= 0 or h <= 0:
            raise NodeFailure("no canvas size: set width and height, or give them in the keypoints JSON")
        if w * h > MAX_PIXELS:
            raise NodeFailure(f"a {w}×{h} canvas is too large; at most {MAX_PIXELS / 1e6:.0f} megapixels")
        # Keypoints follow the canvas when width/height override the JSON's own size.
        scale = np.array([w / w0 if w0 else 1.0, h / h0 if h0 else 1.0, 1.0], np.float32)
        out.append(draw_bodies([p * scale for p in people], w, h))
        ctx.progress((n + 1) / len(frames))
    if len({o.shape for o in out}) > 1:
        raise NodeFailure("the poses have different canvas sizes; set width and height to draw them as one batch")
    return np.stack(out).astype(np.float32) / 255.0
