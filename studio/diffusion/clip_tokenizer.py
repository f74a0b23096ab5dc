"""CLIP tokenizers built from the vocabulary shipped in ``resources/clip_tokenizer`` (no network).

SD 1.x and SDXL's first tokenizer pad with ``<|endoftext|>``; SD 2.x and SDXL's second pad with
``!`` (as their ``tokenizer``/``tokenizer_2`` folders do). All share one 49,408-token vocabulary.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from studio.core.settings import resources_dir

MAX_LENGTH = 77
PAD_TOKENS = {"sd15": ("<|endoftext|>",), "sd2": ("!",), "sdxl": ("<|endoftext|>", "!")}


def tokenizer_dir() -> str:
    return str(resources_dir() / "clip_tokenizer")


@lru_cache(maxsize=4)
def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """A transformers ``CLIPTokenizer``. ``from_pretrained`` on the folder reads vocab.json and
    merges.txt; in transformers 5 the constructor's ``vocab``/``merges`` expect parsed data, and
    file paths passed there yield a 3-token vocabulary without any error."""
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tokenizer_dir(), local_files_only=True, model_max_length=MAX_LENGTH,
                                        pad_token=pad_token)
    if len(tok) != 49408:
        raise RuntimeError(f"CLIP tokenizer in {tokenizer_dir()} has {len(tok)} tokens, expected 49408")
    return tok


def tokenizers_for(family: str) -> tuple[Any, ...]:
    return tuple(clip_tokenizer(p) for p in PAD_TOKENS[family])
