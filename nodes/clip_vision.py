"""CLIP vision encoders: load one, and encode images with it (image prompts)."""

from __future__ import annotations

from typing import Any

from nodes.models import _check, _fingerprint
from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Choice, File, Out, Wire, node


@node(
    "model.clip_vision", title="Load CLIP Vision", category="Models",
    inputs=[File("clip_name", file_kind="clip_vision",
                 tooltip="a CLIP image encoder: a transformers folder (config.json + model.safetensors) or one "
                         ".safetensors file, e.g. CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")],
    outputs=[Out("clip_vision", "CLIP_VISION")],
    fingerprint=_fingerprint("clip_name", "clip_vision"),
    check=_check("clip_name", "clip_vision"),
    aliases=("CLIPVisionLoader",),
)
def load_clip_vision(ctx: NodeContext, clip_name: str) -> Any:
    """Load a CLIP vision encoder, which turns images into embeddings for IP-Adapters. Most IP-Adapters
    use ViT-H/14; the SDXL models without "vit-h" in their name use ViT-bigG/14."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_clip_vision(mm.resolve("clip_vision", clip_name), progress=ctx.progress)


@node(
    "conditioning.clip_vision_encode", title="CLIP Vision Encode", category="Conditioning",
    inputs=[Wire("clip_vision", "CLIP_VISION"), Wire("image", "IMAGE"),
            Choice("crop", ("center", "none"), "center",
                   tooltip="center: the largest centred square; none: the whole image, stretched to a square")],
    outputs=[Out("clip_vision_output", "CLIP_VISION_OUTPUT")],
    summary=["crop"],
    aliases=("CLIPVisionEncode",),
)
def clip_vision_encode(ctx: NodeContext, clip_vision: Any, image: Any, crop: str) -> Any:
    """Encode images with a CLIP vision encoder: the image embeddings and the penultimate layer's
    hidden states, one row per image. Images are resized to the encoder's size (224 for the released
    ones) as CLIP's own preprocessing does."""
    from studio.diffusion.clip_vision import encode

    try:
        frames = check_image(image)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    ctx.check_cancel()
    return encode(clip_vision, frames, crop)
