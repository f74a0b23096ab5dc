"""Prompt text → CONDITIONING for the SDXL refiner, with its aesthetic score and original size."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Int, Out, String, Wire, node

from .conditioning import embedding_library, embeddings_fingerprint, report_embeddings


@node(
    "text.encode_refiner", title="Encode Prompt (SDXL Refiner)", category="Conditioning",
    inputs=[Wire("clip", "CLIP[sdxl_refiner]"),
            Float("ascore", 6.0, min=0.0, max=1000.0, step=0.1, label="aesthetic score",
                  tooltip="what the refiner was trained to read as image quality: about 6 for the positive "
                          "prompt, 2.5 for the negative"),
            Int("width", 1024, min=0, max=16384, step=8,
                tooltip="original width it is conditioned on (0: the size being generated)"),
            Int("height", 1024, min=0, max=16384, step=8,
                tooltip="original height it is conditioned on (0: the size being generated)"),
            String("text", "", multiline=True,
                   tooltip="(word) ×1.1, [word] ÷1.1, (word:1.3) any weight, BREAK starts a new chunk; "
                           "embedding:name uses an SDXL textual-inversion embedding (its OpenCLIP-G part)")],
    outputs=[Out("conditioning", "CONDITIONING[sdxl_refiner]")],
    summary=["text", "ascore"],
    fingerprint=embeddings_fingerprint,
    aliases=("CLIPTextEncodeSDXLRefiner",),
)
def encode_refiner(ctx: NodeContext, clip: Any, ascore: float, width: int, height: int, text: str) -> Any:
    """Encode a prompt with the SDXL refiner's text encoder, conditioned on an aesthetic score and an
    original size (the refiner's micro-conditioning in place of the base model's target size)."""
    from studio.diffusion.prompts import encode_prompt

    ctx.check_cancel()
    size = (int(height), int(width)) if width > 0 and height > 0 else None
    library = embedding_library(ctx)
    cond = encode_prompt(clip, text, original_size=size, aesthetic_score=float(ascore), embeddings=library)
    report_embeddings(ctx, library)
    return cond
