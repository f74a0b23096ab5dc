"""Derive CLIP's ``vocab.json`` and ``merges.txt`` from the BPE file that ships with open_clip.

Usage: ``python scripts/make_clip_tokenizer.py PATH/TO/bpe_simple_vocab_16e6.txt.gz [OUT_DIR]``

The file is inside the open-clip-torch wheel (``open_clip/bpe_simple_vocab_16e6.txt.gz``). The
vocabulary is built the way CLIP builds it: 256 byte symbols, the same with ``</w>``, the first
48,894 merges, then the two special tokens — 49,408 entries in all. Written by hand (it is a few
lines) so that the app never needs the network or open_clip to tokenize.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

N_MERGES = 49152 - 256 - 2  # CLIP uses this many merges of the file
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "clip_tokenizer"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def build(bpe_gz: Path) -> tuple[dict[str, int], list[str]]:
    with gzip.open(bpe_gz, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1 : N_MERGES + 1]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab)}, merges


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    vocab, merges = build(Path(argv[0]))
    if len(vocab) != 49408:
        print(f"unexpected vocabulary size {len(vocab)}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
