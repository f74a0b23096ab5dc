"""Upscale models (ESRGAN / Real-ESRGAN, Real-ESRGAN compact, SwinIR): load one, enlarge images with it."""

from __future__ import annotations

from typing import Any

import numpy as np

from nodes.models import _check, _fingerprint
from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import File, Int, Out, Wire, node


@node(
    "model.upscale", title="Load Upscale Model", category="Models",
    inputs=[File("model_name", file_kind="upscale_models",
                 tooltip="an ESRGAN / Real-ESRGAN (RRDBNet), Real-ESRGAN compact (SRVGG) or SwinIR model, e.g. "
                         "RealESRGAN_x4plus.safetensors or 4x-UltraSharp.pth (.pth files need legacy model files "
                         "allowed in Preferences)")],
    outputs=[Out("upscale_model", "UPSCALE_MODEL")],
    fingerprint=_fingerprint("model_name", "upscale_models"),
    check=_check("model_name", "upscale_models"),
    aliases=("UpscaleModelLoader",),
)
def load_upscale_model(ctx: NodeContext, model_name: str) -> Any:
    """Load a super-resolution network; its architecture and scale are read from the file's weights."""
    mm = ctx.models
    ctx.check_cancel()
    model = mm.load_upscale_model(mm.resolve("upscale_models", model_name), progress=ctx.progress)
    ctx.info(f"{model.name}: {model.info.what}")
    return model


@node(
    "image.upscale_model", title="Upscale Image (using Model)", category="Image",
    inputs=[
        Wire("upscale_model", "UPSCALE_MODEL"),
        Wire("image", "IMAGE"),
        Int("tile", 512, min=32, max=4096, step=8,
            tooltip="input pixels per tile side: smaller tiles use less memory (halved automatically when "
                    "memory runs out)"),
        Int("overlap", 32, min=0, max=512, step=4,
            tooltip="input pixels neighbouring tiles share, blended so that no seam shows"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["tile", "overlap"],
    aliases=("ImageUpscaleWithModel",),
)
def upscale_with_model(ctx: NodeContext, upscale_model: Any, image: Any, tile: int, overlap: int) -> np.ndarray:
    """Enlarge images by the model's factor (×2, ×4…), tile by tile with overlapping, blended tiles, so
    any size fits in memory."""
    from studio.diffusion.upscale_models import upscale_image

    try:
        frames = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    return upscale_image(upscale_model, frames, tile=int(tile), overlap=int(overlap), check_cancel=ctx.check_cancel,
                         progress=ctx.progress, on_retry=ctx.warn)
