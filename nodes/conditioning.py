"""Text prompts → CONDITIONING."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Out, String, Wire, node
from studio.core.services import RunServices

PROMPT_TOOLTIP = ("(word) ×1.1, [word] ÷1.1, (word:1.3) any weight, \\( for a literal bracket, "
                  "BREAK starts a new 75-token chunk; long prompts are never cut. embedding:name uses a "
                  "textual-inversion embedding from the embeddings folder (a bare file name does too, "
                  "unless turned off in Preferences)")


def embeddings_fingerprint(params: Mapping[str, Any], services: RunServices) -> Any:
    """The embeddings folders' files (names, sizes, times): a prompt is encoded again when one it may
    use appears or changes. Nothing to watch when the prompt can name none."""
    bare = services.settings.bare_embedding_names
    if not bare and "embedding:" not in str(params.get("text") or "").lower():
        return None
    from studio.diffusion.embeddings import fingerprint

    return fingerprint(list(services.model_roots), bare)


def embedding_library(ctx: NodeContext) -> Any:
    """This run's embeddings: its model folders, the model manager's cache, the bare-name setting."""
    from studio.diffusion.embeddings import EmbeddingLibrary, read_embedding

    manager = ctx.services.models()
    return EmbeddingLibrary(list(ctx.services.model_roots),
                            loader=manager.load_embedding if manager is not None else read_embedding,
                            bare_names=ctx.settings.bare_embedding_names)


def report_embeddings(ctx: NodeContext, library: Any) -> None:
    for message in library.warnings:
        ctx.warn(message)
    if library.used:
        ctx.info(library.summary())


@node(
    "text.encode", title="Encode Prompt", category="Conditioning",
    inputs=[Wire("clip", "CLIP[$F]"),
            String("text", "", multiline=True, tooltip=PROMPT_TOOLTIP)],
    outputs=[Out("conditioning", "CONDITIONING[$F]")],
    summary=["text"],
    fingerprint=embeddings_fingerprint,
    aliases=("CLIPTextEncode",),
)
def encode(ctx: NodeContext, clip: Any, text: str) -> Any:
    """Encode a prompt with the model's text encoder(s). Prompts longer than 75 tokens are encoded in
    chunks and joined; emphasis weights scale the token embeddings; embeddings named in the prompt
    take the place of words."""
    from studio.diffusion.prompts import encode_prompt

    ctx.check_cancel()
    library = embedding_library(ctx)
    cond = encode_prompt(clip, text, embeddings=library)
    report_embeddings(ctx, library)
    return cond
