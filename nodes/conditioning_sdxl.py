"""Prompt text → SDXL CONDITIONING with its size and crop conditioning and a prompt per text encoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Int, Out, String, Wire, node
from studio.core.services import RunServices

from .conditioning import PROMPT_TOOLTIP, embedding_library, embeddings_fingerprint, report_embeddings

_MAX = 16384


def _fingerprint(params: Mapping[str, Any], services: RunServices) -> Any:
    # Either prompt may name an embedding.
    both = f"{params.get('text_g') or ''}\n{params.get('text_l') or ''}"
    return embeddings_fingerprint({"text": both}, services)


def _size(height: int, width: int) -> tuple[int, int] | None:
    """(height, width), or None (the size being generated) when either is 0."""
    return (int(height), int(width)) if height > 0 and width > 0 else None


@node(
    "text.encode_sdxl", title="Encode Prompt (SDXL, size and crop)", category="Conditioning",
    inputs=[Wire("clip", "CLIP[sdxl]"),
            Int("width", 1024, min=0, max=_MAX, step=8,
                tooltip="original image width the model is told about (0: the size being generated); "
                        "small sizes read as upscaled, blurry sources"),
            Int("height", 1024, min=0, max=_MAX, step=8,
                tooltip="original image height the model is told about (0: the size being generated)"),
            Int("crop_w", 0, min=0, max=_MAX, label="crop left",
                tooltip="left edge of the crop the model is told about, in pixels: 0 asks for a centred, "
                        "uncropped subject"),
            Int("crop_h", 0, min=0, max=_MAX, label="crop top",
                tooltip="top edge of the crop the model is told about, in pixels"),
            Int("target_width", 1024, min=0, max=_MAX, step=8,
                tooltip="target width it is conditioned on (0: the size being generated)"),
            Int("target_height", 1024, min=0, max=_MAX, step=8,
                tooltip="target height it is conditioned on (0: the size being generated)"),
            String("text_g", "", multiline=True, label="text (OpenCLIP-G)",
                   tooltip="the prompt for the larger text encoder. " + PROMPT_TOOLTIP),
            String("text_l", "", multiline=True, label="text (CLIP-L)",
                   tooltip="the prompt for the smaller text encoder (often the same text). " + PROMPT_TOOLTIP)],
    outputs=[Out("conditioning", "CONDITIONING[sdxl]")],
    summary=["text_g", "width", "height"],
    fingerprint=_fingerprint,
    aliases=("CLIPTextEncodeSDXL",),
)
def encode_sdxl(ctx: NodeContext, clip: Any, width: int, height: int, crop_w: int, crop_h: int,
                target_width: int, target_height: int, text_g: str, text_l: str) -> Any:
    """Encode a prompt for SDXL with each text encoder's own text, conditioned on an original size, a
    crop's top-left corner and a target size (SDXL's micro-conditioning, as its training images were).
    The defaults say "a 1024×1024 uncropped source for a 1024×1024 image"."""
    from studio.diffusion.prompts import encode_prompt

    ctx.check_cancel()
    library = embedding_library(ctx)
    # The encoders are CLIP-L then OpenCLIP-G.
    cond = encode_prompt(clip, text_g, texts=(text_l, text_g), original_size=_size(height, width),
                         crop_top_left=(int(crop_h), int(crop_w)),
                         target_size=_size(target_height, target_width), embeddings=library)
    report_embeddings(ctx, library)
    return cond
