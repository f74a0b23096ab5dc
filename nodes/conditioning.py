"""Text prompts → CONDITIONING."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Out, String, Wire, node


@node(
    "text.encode", title="Encode Prompt", category="Conditioning",
    inputs=[Wire("clip", "CLIP[$F]"),
            String("text", "", multiline=True,
                   tooltip="(word) ×1.1, [word] ÷1.1, (word:1.3) any weight, \\( for a literal bracket, "
                           "BREAK starts a new 75-token chunk; long prompts are never cut")],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["text"],
    aliases=("CLIPTextEncode",),
)
def encode(ctx: NodeContext, clip: Any, text: str) -> Any:
    """Encode a prompt with the model's text encoder(s). Prompts longer than 75 tokens are encoded in
    chunks and joined; emphasis weights scale the token embeddings."""
    from studio.diffusion.prompts import encode_prompt

    ctx.check_cancel()
    return encode_prompt(clip, text)
