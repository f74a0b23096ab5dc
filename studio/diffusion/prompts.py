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

Textual-inversion embeddings: ``embedding:name`` (also ``embedding:name.pt``, inside emphasis
``(embedding:name:1.2)``) and, when allowed, a bare word that is exactly the name of an embedding file
(as in A1111: "EasyNegativeV2, lowres"; compared without case, whole words only). An embedding of n
vectors takes n token positions, is kept whole in one chunk (moved to the next one if it does not fit),
and is weighted like words. Its vectors are written over placeholder token embeddings during this one
encoder call (a forward hook, removed afterwards), so the shared tokenizer and encoder never change.

The parser, chunking and weighting are written here because diffusers has no equivalent for CLIP
(its ``encode_prompt`` truncates at 77 tokens and knows no weights).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model_patches import applied
from .values import Conditioning, TextEncoder

if TYPE_CHECKING:
    from .embeddings import EmbeddingLibrary


@dataclass(frozen=True)
class EmbeddingRef:
    """A prompt's use of a textual-inversion embedding: ``embedding:name``, or a bare word naming a file
    (``text`` is that word as written: what is encoded when no fitting embedding is found)."""

    name: str
    text: str = ""

    @property
    def bare(self) -> bool:
        return bool(self.text)


# (text, weight); text None marks a BREAK, an EmbeddingRef an embedding's place.
Fragment = tuple[str | EmbeddingRef | None, float]
# What goes in an embedding's place: its vectors (n, dim), text to encode instead, or None (nothing).
Lookup = Callable[[EmbeddingRef], Any]

_UP, _DOWN = 1.1, 1 / 1.1
_WEIGHT_RE = re.compile(r":\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*\)")
_BREAK_RE = re.compile(r"\s*\bBREAK\b\s*")
_SPECIAL = "\\()[]:"
# ``embedding:name`` (the name ends at a space, comma, bracket or colon), else any word for bare names.
_EMBEDDING_RE = re.compile(r"(?<![\w.\-])embedding:(?P<name>[^\s,()\[\]\\:]+)", re.IGNORECASE)
_REF_RE = re.compile(_EMBEDDING_RE.pattern + r"|(?<![\w.\-])(?P<word>\w[\w.\-]*)", re.IGNORECASE)


def parse_prompt(text: str, bare_names: Collection[str] = ()) -> list[Fragment]:
    """Split a prompt into (text, weight) fragments; adjacent fragments of equal weight are merged.
    ``embedding:name``, and words whose lower case is in ``bare_names``, become EmbeddingRef fragments."""
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
                result.extend((piece, w) for piece in _split_embeddings(part, bare_names))
    return result or [("", 1.0)]


def _split_embeddings(text: str, bare_names: Collection[str]) -> list[str | EmbeddingRef]:
    if "mbedding:" not in text.lower() and not bare_names:
        return [text]
    pieces: list[str | EmbeddingRef] = []
    pos = 0
    for m in (_REF_RE if bare_names else _EMBEDDING_RE).finditer(text):
        if m.group("name") is not None:
            name = m.group("name").rstrip(".")  # a full stop ending a sentence is not part of the name
            start, ref = m.start(), EmbeddingRef(name) if name else None
            end = m.start("name") + len(name)
        else:
            word = m.group("word").rstrip(".-")
            start, end = m.start(), m.start() + len(word)
            ref = EmbeddingRef(word, word) if word.lower() in bare_names else None
        if ref is None:
            continue
        if start > pos:
            pieces.append(text[pos:start])
        pieces.append(ref)
        pos = end
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


def has_emphasis(fragments: Sequence[Fragment]) -> bool:
    return any(text is None or w != 1.0 for text, w in fragments)


@dataclass
class Chunk:
    """One encoder input: BOS + tokens + EOS + padding, a weight per position, and the embedding vectors
    (position → (dim,) tensor) written over the placeholder tokens at those positions."""

    ids: list[int]
    weights: list[float]
    vectors: dict[int, Any] = field(default_factory=dict)


def _as_text(ref: EmbeddingRef) -> str | None:
    return ref.text or None  # without embeddings: a bare word stays a word, ``embedding:x`` is dropped


def placeholder_id(tokenizer: Any) -> int:
    """A token id for an embedding vector's place: any id but EOS will do (the hook replaces its
    embedding), and a low one keeps EOS the largest id, where encoders with the old config
    (``eos_token_id`` 2) take the pooled output."""
    return 1 if tokenizer.eos_token_id == 0 else 0


def chunk_prompt(tokenizer: Any, fragments: Sequence[Fragment], length: int = 77,
                 lookup: Lookup = _as_text) -> list[Chunk]:
    """Chunks of ``length`` positions. An embedding of n vectors takes n positions and starts a new
    chunk when it does not fit in the current one (it is split only when longer than a chunk)."""
    body = length - 2
    chunks: list[Chunk] = []
    ids: list[int] = []
    weights: list[float] = []
    vectors: dict[int, Any] = {}
    placeholder = placeholder_id(tokenizer)

    def flush() -> None:
        pad = body - len(ids)
        chunks.append(Chunk(
            [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * pad,
            [1.0, *weights, 1.0] + [1.0] * pad,
            {i + 1: v for i, v in vectors.items()},
        ))
        ids.clear()
        weights.clear()
        vectors.clear()

    def put(tok: int, weight: float, vector: Any = None) -> None:
        if len(ids) == body:
            flush()
        if vector is not None:
            vectors[len(ids)] = vector
        ids.append(tok)
        weights.append(weight)

    for item, weight in fragments:
        if item is None:
            if ids:
                flush()
            continue
        if isinstance(item, EmbeddingRef):
            got = lookup(item)
            if got is None:
                continue
            if not isinstance(got, str):
                if ids and len(ids) + len(got) > body >= len(got):
                    flush()
                for row in got:
                    put(placeholder, weight, row)
                continue
            item = got
        toks = tokenizer(item, add_special_tokens=False, truncation=False, verbose=False).input_ids
        for tok in toks:
            put(tok, weight)
    if ids or not chunks:
        flush()
    return chunks


def chunk_tokens(tokenizer: Any, fragments: Sequence[Fragment], length: int = 77,
                 ) -> list[tuple[list[int], list[float]]]:
    """Token ids and per-token weights, in chunks of ``length`` (BOS + length-2 tokens + EOS/pad)."""
    return [(c.ids, c.weights) for c in chunk_prompt(tokenizer, fragments, length)]


@contextmanager
def _vectors_written(encoder: Any, ids: Any, chunks: Sequence[Chunk]) -> Iterator[None]:
    """While encoding ``ids``, the token-embedding module's output carries the chunks' embedding vectors.
    The hook answers only for these ids (a call from another thread with another prompt, sharing the
    cached encoder, sees the plain module)."""
    import torch

    places = [(b, p, v) for b, c in enumerate(chunks) for p, v in c.vectors.items()]
    if not places:
        yield
        return
    rows = torch.stack([v for _, _, v in places])
    batch = torch.tensor([b for b, _, _ in places], device=ids.device)
    pos = torch.tensor([p for _, p, _ in places], device=ids.device)

    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        given = args[0] if args else kwargs.get("input")
        if given is None or given.shape != ids.shape or not torch.equal(given.to(ids.device), ids):
            return None
        out = output.clone()
        out[batch, pos] = rows.to(dtype=out.dtype, device=out.device)
        return out

    handle = encoder.get_input_embeddings().register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def _chunk_length(tokenizer: Any, encoder: Any) -> int:
    # The tokenizer's limit is what diffusers pads to; a tokenizer without a sane limit falls back to
    # the encoder's position count (77 for every CLIP of SD 1/2/XL).
    positions = int(getattr(encoder.config, "max_position_embeddings", 77))
    limit = getattr(tokenizer, "model_max_length", positions)
    return limit if isinstance(limit, int) and 2 < limit <= positions else positions


def _encode_one(tokenizer: Any, encoder: Any, fragments: Sequence[Fragment], *, skip: int,
                penultimate: bool, lookup: Lookup = _as_text) -> tuple[Any, Any]:
    """Hidden states (1, 77·k, D) and the pooled/projected output of the first chunk (or None)."""
    import torch

    chunks = chunk_prompt(tokenizer, fragments, _chunk_length(tokenizer, encoder), lookup)
    device = next(encoder.parameters()).device
    ids = torch.tensor([c.ids for c in chunks], dtype=torch.long, device=device)
    with _vectors_written(encoder, ids, chunks):
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

    if any(w != 1.0 for c in chunks for w in c.weights):
        w = torch.tensor([c.weights for c in chunks], dtype=hidden.dtype, device=hidden.device)
        before = hidden.mean(dim=(1, 2), keepdim=True)
        hidden = hidden * w.unsqueeze(-1)
        hidden = hidden * (before / hidden.mean(dim=(1, 2), keepdim=True))
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


def _embedding_lookups(clip: TextEncoder, fragments: Sequence[Fragment],
                       library: EmbeddingLibrary | None) -> list[Lookup]:
    """For each of ``clip``'s encoders, what to put in each embedding's place: its vectors for that
    encoder; for an embedding that is missing or of another family, the bare word as text (A1111) or
    nothing for ``embedding:name`` (ComfyUI)."""
    refs = list(dict.fromkeys(f for f, _ in fragments if isinstance(f, EmbeddingRef)))
    if not refs or library is None:
        return [_as_text] * len(clip.encoders)
    dims = [int(enc.get_input_embeddings().weight.shape[1]) for enc in clip.encoders]
    tables: list[dict[EmbeddingRef, Any]] = [{} for _ in dims]
    for ref in refs:
        emb = library.load(ref.name, literal=ref.bare)
        vectors = emb.for_encoders(clip.family, dims) if emb is not None else None
        if emb is not None and vectors is None:
            library.wrong_family(emb, clip.family, literal=ref.bare)
        elif emb is not None:
            library.note_used(emb)
        for i, table in enumerate(tables):
            table[ref] = vectors[i] if vectors is not None else _as_text(ref)
    return [table.__getitem__ for table in tables]


def _padded_to_longest(clip: TextEncoder, parts: list[tuple[Any, Any]], *, penultimate: bool,
                       ) -> list[tuple[Any, Any]]:
    """Each encoder's hidden states, extended with its encoding of the empty prompt (one chunk) until all
    are as long as the longest (prompts of different lengths per encoder)."""
    import torch

    longest = max(p[0].shape[1] for p in parts)
    out = []
    for (hidden, pooled), tok, enc in zip(parts, clip.tokenizers, clip.encoders, strict=True):
        if hidden.shape[1] < longest:
            empty = _encode_one(tok, enc, [("", 1.0)], skip=clip.skip, penultimate=penultimate)[0]
            times = (longest - hidden.shape[1]) // empty.shape[1]
            hidden = torch.cat([hidden, *[empty] * times], dim=1)
        out.append((hidden, pooled))
    return out


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
    embeddings: EmbeddingLibrary | None = None,
    texts: Sequence[str] | None = None,
) -> Conditioning:
    """Encode ``text`` with ``clip``. SDXL's size conditioning is (height, width) in pixels; a size left
    as None means "the size being generated", filled in by the sampler.

    The SDXL refiner (one encoder, OpenCLIP-G) is conditioned on original size, crop and an aesthetic
    score in place of the target size; ``aesthetic_score`` None means 6.0, the positive default (a
    negative prompt wants 2.5 for diffusers' defaults). Other families ignore it.

    ``embeddings`` finds the embeddings the prompt names (none without it); it records those used and
    the warnings (unknown names, wrong family) for the caller to report.

    ``texts`` gives each encoder its own prompt, in ``clip.encoders`` order (SDXL: CLIP-L's, then
    OpenCLIP-G's), in place of ``text``; where one comes out in fewer chunks, empty-prompt chunks make up
    the difference (the encoders' hidden states are joined position by position)."""
    import torch

    per_encoder = [text] * len(clip.encoders) if texts is None else list(texts)
    if len(per_encoder) != len(clip.encoders):
        raise ValueError(f"{len(per_encoder)} prompts for {len(clip.encoders)} text encoders")
    bare = embeddings.bare_words() if embeddings is not None else ()
    parsed = {t: parse_prompt(t, bare) for t in dict.fromkeys(per_encoder)}
    lookups = _embedding_lookups(clip, [f for t in parsed for f in parsed[t]], embeddings)
    refiner = clip.family == REFINER
    xl = refiner or len(clip.encoders) == 2
    with torch.no_grad(), applied(clip, clip.patches):
        parts = [
            _encode_one(tok, enc, parsed[t], skip=clip.skip, penultimate=xl, lookup=lookup)
            for tok, enc, t, lookup in zip(clip.tokenizers, clip.encoders, per_encoder, lookups, strict=True)
        ]
        parts = _padded_to_longest(clip, parts, penultimate=xl)
    # The first tokenizer's token id at every embedding position (and that tokenizer): layout guidance
    # finds a phrase's positions by them (``studio.diffusion.layout_guidance``).
    tok0 = clip.tokenizers[0]
    tokens: dict[str, Any] = {"token_ids": tuple(i for c in chunk_prompt(tok0, parsed[per_encoder[0]], _chunk_length(
        tok0, clip.encoders[0]), lookups[0]) for i in c.ids), "tokenizer": tok0}
    if len(set(per_encoder)) > 1:
        # A phrase may be in another encoder's prompt only (SDXL's CLIP-G text): its ids as well.
        tokens["other_token_ids"] = tuple(
            (tuple(i for c in chunk_prompt(tok, parsed[t], _chunk_length(tok, enc), lookup) for i in c.ids), tok)
            for tok, enc, t, lookup in zip(clip.tokenizers[1:], clip.encoders[1:], per_encoder[1:], lookups[1:],
                                           strict=True))
    if not xl:
        return Conditioning(family=clip.family, embeds=parts[0][0], extras=tokens)
    hidden = [p[0] for p in parts]
    dtype = hidden[-1].dtype
    embeds = torch.cat([h.to(device=hidden[-1].device, dtype=dtype) for h in hidden], dim=-1)
    pooled = parts[-1][1]
    if pooled is None:
        raise ValueError("the SDXL OpenCLIP-G text encoder gives no projected (pooled) output")
    extras: dict[str, Any] = {"crop_top_left": tuple(crop_top_left), **tokens}
    if original_size is not None:
        extras["original_size"] = tuple(original_size)
    if refiner:
        extras["aesthetic_score"] = float(AESTHETIC_POSITIVE if aesthetic_score is None else aesthetic_score)
    elif target_size is not None:
        extras["target_size"] = tuple(target_size)
    return Conditioning(family=clip.family, embeds=embeds, pooled=pooled, extras=extras)
