"""Prompt text → CONDITIONING: emphasis syntax, 75-token chunks, CLIP skip, SDXL's two encoders and
the SDXL refiner's one (OpenCLIP-G, with an aesthetic score).

Emphasis syntax (the widely used A1111 convention, parsed here from its description):
``(words)`` multiplies the weight of ``words`` by 1.1, ``[words]`` divides it by 1.1, ``(words:1.3)``
multiplies it by 1.3; groups nest and multiply. ``\\(`` ``\\)`` ``\\[`` ``\\]`` ``\\\\`` are literal
characters. A bracket that is never closed applies to the end of the prompt; a closing bracket with
nothing open is literal text. ``BREAK`` (upper case, a word of its own) starts a new chunk.

Chunking: the tokens are split into runs of 75, each encoded as BOS + 75 tokens + EOS (padded with
the tokenizer's pad token), and the chunks' hidden states are concatenated along the sequence axis,
so nothing is silently cut. A plain prompt of at most 75 tokens is one chunk that is token for token
what diffusers' ``encode_prompt`` feeds the encoder, so its embeddings are identical.

Weights scale the token embeddings, and each chunk is rescaled to keep its original mean (so that
emphasis changes the balance between words, not the overall magnitude).

The parser, chunking and weighting are written here because diffusers has no equivalent for CLIP
(its ``encode_prompt`` truncates at 77 tokens and knows no weights).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .model_patches import applied
from .values import Conditioning, TextEncoder

Fragment = tuple[str | None, float]  # (text, weight); text None marks a BREAK

_UP, _DOWN = 1.1, 1 / 1.1
_WEIGHT_RE = re.compile(r":\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*\)")
_BREAK_RE = re.compile(r"\s*\bBREAK\b\s*")
_SPECIAL = "\\()[]:"


def parse_prompt(text: str) -> list[Fragment]:
    """Split a prompt into (text, weight) fragments; adjacent fragments of equal weight are merged."""
    out: list[list[Any]] = []
    rounds: list[int] = []  # index into ``out`` where each open "(" group starts
    squares: list[int] = []

    def add(s: str) -> None:
        out.append([s, 1.0])

    def scale(start: int, factor: float) -> None:
        for frag in out[start:]:
            frag[1] *= factor

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            add(text[i + 1])
            i += 2
        elif c == "(":
            rounds.append(len(out))
            i += 1
        elif c == "[":
            squares.append(len(out))
            i += 1
        elif c == ":" and rounds and (m := _WEIGHT_RE.match(text, i)):
            scale(rounds.pop(), float(m.group(1)))
            i = m.end()
        elif c == ")" and rounds:
            scale(rounds.pop(), _UP)
            i += 1
        elif c == "]" and squares:
            scale(squares.pop(), _DOWN)
            i += 1
        else:
            j = i + 1
            while j < n and text[j] not in _SPECIAL:
                j += 1
            add(text[i:j])
            i = j
    for start in rounds:
        scale(start, _UP)
    for start in squares:
        scale(start, _DOWN)

    merged: list[tuple[str, float]] = []
    for s, w in out:
        if merged and merged[-1][1] == w and merged[-1][0] is not None:
            merged[-1] = (merged[-1][0] + s, w)
        else:
            merged.append((s, w))
    # BREAK splits only plain text; inside a weighted group it is split the same way.
    result: list[Fragment] = []
    for s, w in merged:
        parts = _BREAK_RE.split(s) if "BREAK" in s else [s]
        for k, part in enumerate(parts):
            if k:
                result.append((None, 1.0))
            if part:
                result.append((part, w))
    return result or [("", 1.0)]


def has_emphasis(fragments: Sequence[Fragment]) -> bool:
    return any(text is None or w != 1.0 for text, w in fragments)


def chunk_tokens(tokenizer: Any, fragments: Sequence[Fragment], length: int = 77,
                 ) -> list[tuple[list[int], list[float]]]:
    """Token ids and per-token weights, in chunks of ``length`` (BOS + length-2 tokens + EOS/pad)."""
    body = length - 2
    chunks: list[tuple[list[int], list[float]]] = []
    ids: list[int] = []
    weights: list[float] = []

    def flush() -> None:
        pad = body - len(ids)
        chunks.append((
            [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * pad,
            [1.0, *weights, 1.0] + [1.0] * pad,
        ))
        ids.clear()
        weights.clear()

    for text, weight in fragments:
        if text is None:
            if ids:
                flush()
            continue
        toks = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids
        for tok in toks:
            if len(ids) == body:
                flush()
            ids.append(tok)
            weights.append(weight)
    if ids or not chunks:
        flush()
    return chunks


def _chunk_length(tokenizer: Any, encoder: Any) -> int:
    # The tokenizer's limit is what diffusers pads to; a tokenizer without a sane limit falls back to
    # the encoder's position count (77 for every CLIP of SD 1/2/XL).
    positions = int(getattr(encoder.config, "max_position_embeddings", 77))
    limit = getattr(tokenizer, "model_max_length", positions)
    return limit if isinstance(limit, int) and 2 < limit <= positions else positions


def _encode_one(tokenizer: Any, encoder: Any, fragments: Sequence[Fragment], *, skip: int,
                penultimate: bool) -> tuple[Any, Any]:
    """Hidden states (1, 77·k, D) and the pooled/projected output of the first chunk (or None)."""
    import torch

    chunks = chunk_tokens(tokenizer, fragments, _chunk_length(tokenizer, encoder))
    device = next(encoder.parameters()).device
    ids = torch.tensor([c[0] for c in chunks], dtype=torch.long, device=device)
    out = encoder(ids, output_hidden_states=penultimate or skip > 0)
    if penultimate:
        # SDXL: both encoders' penultimate layer without the final norm (CLIP skip counts from there).
        hidden = out.hidden_states[-(skip + 2)]
    elif skip > 0:
        # diffusers' clip_skip: skip=1 is the penultimate layer, passed through the final layer norm.
        # (transformers 5 dropped the ``text_model`` wrapper; 4.x has it.)
        norm = getattr(encoder, "text_model", encoder).final_layer_norm
        hidden = norm(out.hidden_states[-(skip + 1)])
    else:
        hidden = out[0]
    pooled = out[0][:1] if out[0].ndim == 2 else None

    if any(w != 1.0 for c in chunks for w in c[1]):
        w = torch.tensor([c[1] for c in chunks], dtype=hidden.dtype, device=hidden.device)
        before = hidden.mean(dim=(1, 2), keepdim=True)
        hidden = hidden * w.unsqueeze(-1)
        hidden = hidden * (before / hidden.mean(dim=(1, 2), keepdim=True))
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


REFINER = "sdxl_refiner"
# The aesthetic scores diffusers' refiner pipeline defaults to for the positive and negative prompts.
AESTHETIC_POSITIVE, AESTHETIC_NEGATIVE = 6.0, 2.5


def encode_prompt(
    clip: TextEncoder,
    text: str,
    *,
    original_size: tuple[int, int] | None = None,
    crop_top_left: tuple[int, int] = (0, 0),
    target_size: tuple[int, int] | None = None,
    aesthetic_score: float | None = None,
) -> Conditioning:
    """Encode ``text`` with ``clip``. SDXL's size conditioning is (height, width) in pixels; a size left
    as None means "the size being generated", filled in by the sampler.

    The SDXL refiner (one encoder, OpenCLIP-G) is conditioned on original size, crop and an aesthetic
    score in place of the target size; ``aesthetic_score`` None means 6.0, the positive default (a
    negative prompt wants 2.5 for diffusers' defaults). Other families ignore it."""
    import torch

    fragments = parse_prompt(text)
    refiner = clip.family == REFINER
    xl = refiner or len(clip.encoders) == 2
    with torch.no_grad(), applied(clip, clip.patches):
        parts = [
            _encode_one(tok, enc, fragments, skip=clip.skip, penultimate=xl)
            for tok, enc in zip(clip.tokenizers, clip.encoders, strict=True)
        ]
    if not xl:
        return Conditioning(family=clip.family, embeds=parts[0][0])
    hidden = [p[0] for p in parts]
    dtype = hidden[-1].dtype
    embeds = torch.cat([h.to(device=hidden[-1].device, dtype=dtype) for h in hidden], dim=-1)
    pooled = parts[-1][1]
    if pooled is None:
        raise ValueError("the SDXL OpenCLIP-G text encoder gives no projected (pooled) output")
    extras: dict[str, Any] = {"crop_top_left": tuple(crop_top_left)}
    if original_size is not None:
        extras["original_size"] = tuple(original_size)
    if refiner:
        extras["aesthetic_score"] = float(AESTHETIC_POSITIVE if aesthetic_score is None else aesthetic_score)
    elif target_size is not None:
        extras["target_size"] = tuple(target_size)
    return Conditioning(family=clip.family, embeds=embeds, pooled=pooled, extras=extras)
