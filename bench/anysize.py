"""``python -m bench anysize`` — the any-size pipeline's three targets, in one run.

1. Tiled sampling: UNet evaluations and seconds per step of fstd, multidiffusion and mixture at the
   same output and tile size (target: fstd at least 2× faster than multidiffusion), and a seam
   score per mode (target ≤ 1.10 for fstd and mixture): ``bench.anysize_sampling``.
2. Tiled VAE decode: peak working memory at a small and a large output with the same tile (target:
   equal within 10 %) and its seam score (target ≤ 1.10): ``bench.anysize_vae``.

Seam score: the mean absolute image gradient on the tile borders divided by the same inside the
tiles; 1.0 means the borders are as smooth as the rest. ``--size full`` uses full-size random-weight
SD 1.5 models (slow on a CPU); ``--size tiny`` is a quick check that everything runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench anysize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=("tiny", "full"), default="full")
    ap.add_argument("--only", choices=("sampling", "vae"), help="run one half")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {}
    if args.only in (None, "sampling"):
        from bench.anysize_sampling import run_sampling

        print("== tiled sampling ==")
        results["sampling"] = run_sampling(args.size)
    if args.only in (None, "vae"):
        from bench.anysize_vae import run_vae

        print("== tiled VAE decode ==")
        results["vae"] = run_vae(args.size)
    return 0
