"""Deep Shrink: sample the deeper UNet levels on a smaller feature map early on (large images keep the
composition of the size the model was trained on)."""

from __future__ import annotations

from dataclasses import replace

from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Bool, Choice, Float, Int, Out, Wire, node
from studio.diffusion.deep_shrink import METHODS, DeepShrinkPatch, input_blocks
from studio.diffusion.values import UNetModel


@node(
    "model.deep_shrink", title="Deep Shrink (Downscale)", category="Models",
    inputs=[Wire("model", "MODEL[$F]"),
            Int("block_number", 3, min=1, max=32,
                tooltip="the input block after which the features are shrunk (3 = the first downsampler of "
                        "SD 1.5 / SDXL)"),
            Float("downscale_factor", 2.0, min=0.1, max=9.0, step=0.001, tooltip="how much smaller the features get"),
            Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001,
                  tooltip="where in the noise schedule shrinking starts (0 = pure noise)"),
            Float("end_percent", 0.35, min=0.0, max=1.0, step=0.001,
                  tooltip="where in the noise schedule shrinking ends (1 = clean)"),
            Bool("downscale_after_skip", True, tooltip="shrink after the block's skip connection is taken (the "
                                                       "skip keeps the full size)"),
            Choice("downscale_method", METHODS, "bicubic"),
            Choice("upscale_method", METHODS, "bicubic")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["block_number", "downscale_factor", "start_percent", "end_percent"],
    aliases=("PatchModelAddDownscale",),
)
def deep_shrink(ctx: NodeContext, model: UNetModel, block_number: int, downscale_factor: float, start_percent: float,
                end_percent: float, downscale_after_skip: bool, downscale_method: str,
                upscale_method: str) -> UNetModel:
    """The model with Deep Shrink applied while it samples (the shared UNet is not changed)."""
    count = len(input_blocks(model.unet))
    if not 1 <= block_number <= count:
        raise NodeFailure(f"this model has input blocks 1–{count}; block {block_number} does not exist")
    patch = DeepShrinkPatch(int(block_number), float(downscale_factor), float(start_percent), float(end_percent),
                            bool(downscale_after_skip), downscale_method, upscale_method)
    return replace(model, patches=(*model.patches, patch))
