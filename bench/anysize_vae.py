"""Tiled VAE decode on a random-weight VAE (CPU): peak working memory at a small against a large output
with the same tile size, and a seam score on a fixed input.

Memory: each output size is decoded in a fresh subprocess (``python -m bench.anysize_vae --child``),
with glibc told to unmap large blocks when they are freed (``MALLOC_MMAP_THRESHOLD_``, two arenas at
most), so RSS follows the memory in use rather than what the allocator keeps. There, after the VAE is
loaded and one tile warmed up, the kernel's peak-RSS mark (VmHWM) is reset through
``/proc/self/clear_refs``; after the decode, working memory = VmHWM − RSS before − the output image's
own bytes (B·H·W·3 float32, which any decoder must hold). Where the mark cannot be reset the child
falls back to ``getrusage`` maxrss, which also counts the load's peak (said in the output). Target:
the large output's working memory within 10% of the small one's.

Seam score: mean absolute difference between neighbouring pixels across the tile-border lines (where
a tile starts or ends, and the middle of each overlap) divided by the same across all other lines;
1.0 = no seam, target ≤ 1.10. It is shown for the large output, and for the small one beside the
same score of a hard-cut decode (the same tiles, each overlap cut at its middle instead of
cross-faded), which shows the seams the metric finds, and (tiny VAE) of the untiled decode.

Sizes: ``tiny`` (the test VAE) compares 1024² with 4096² with the node's defaults (512-px tiles,
64-px overlap). ``full`` (SD 1.5's VAE architecture, random weights) decodes a 128-px tile in about
1 s on 2 CPU cores, so 4096² (≈1,800 such tiles, ≈80 of 512 px at ~30 s each) would take half an
hour or more: it compares 256² with 1024² (the same 16× in pixels) with 128-px tiles and 16-px overlap
(the defaults' 1/8), about 100 tile decodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# size → (small side, large side, tile, overlap), all in pixels
PLANS = {"full": (256, 1024, 128, 16), "tiny": (1024, 4096, 512, 64)}
SEED = 0


def _vae_path(size: str) -> Path:
    from bench.make_models import ensure_models

    return ensure_models(size, ("sd15",)) / "vae" / f"{size}-vae.safetensors"


def _load(path: Path) -> Any:
    from studio.diffusion.model_manager import ModelManager

    return ModelManager(device="cpu", dtype="fp32", cache_dir=False).load_vae(path)


def _latent(side: int) -> Any:
    """A fixed latent: smooth structure (upsampled low-resolution noise) plus fine noise, so the decoded
    image has edges and flat areas, as a real one does."""
    import torch

    from studio.diffusion.values import Latent

    g = torch.Generator().manual_seed(SEED)
    n = side // 8
    coarse = torch.nn.functional.interpolate(torch.randn(1, 4, max(1, n // 8), max(1, n // 8), generator=g),
                                             size=(n, n), mode="bicubic", align_corners=False)
    return Latent("sd15", coarse * 4.0 + torch.randn(1, 4, n, n, generator=g))


def border_lines(spans: list[tuple[int, int]], length: int) -> list[int]:
    """Pixel lines x (the step from x−1 to x) where a tile starts or ends, or an overlap has its middle."""
    lines = {s for s, _ in spans[1:]} | {e for _, e in spans[:-1]}
    lines |= {(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)}
    return sorted(x for x in lines if 0 < x < length)


def seam_score(image: np.ndarray, spans_y: list[tuple[int, int]], spans_x: list[tuple[int, int]]) -> float:
    """Mean |neighbour difference| across tile-border lines ÷ the same across all other lines (both
    axes, pixel spans, image (H, W, C))."""
    h, w = image.shape[:2]
    gy = np.abs(np.diff(image, axis=0)).mean(axis=(1, 2))  # gy[k]: step from row k to k + 1
    gx = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))
    by = np.zeros(h - 1, bool)
    by[[y - 1 for y in border_lines(spans_y, h)]] = True
    bx = np.zeros(w - 1, bool)
    bx[[x - 1 for x in border_lines(spans_x, w)]] = True
    border = np.concatenate([gy[by], gx[bx]])
    inside = np.concatenate([gy[~by], gx[~bx]])
    return float(border.mean() / inside.mean())


def _pixel_spans(side: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    from studio.diffusion.vae_tiled import SCALE, effective_overlap, tile_spans

    spans = tile_spans(side // SCALE, tile // SCALE, effective_overlap(tile, overlap) // SCALE)
    return [(s * SCALE, e * SCALE) for s, e in spans]


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def child(vae_path: str, side: int, tile: int, overlap: int, contrast: bool = False) -> dict[str, Any]:
    """Run in a fresh process: decode a side² output in tiles, report its working memory and seam score;
    with ``contrast`` also the seam score of hard-cut tiles and (tiny VAE) of the untiled decode."""
    import resource

    import torch

    from studio.diffusion.vae import decode
    from studio.diffusion.vae_tiled import decode_tiled

    vae = _load(Path(vae_path))
    latent = _latent(side)
    with torch.no_grad():  # warm-up: one tile, so one-time allocations count for neither size
        decode_tiled(vae, _latent(tile), tile, overlap)
    exact = _reset_peak()
    before = _status()["VmRSS"] if exact else 0
    t0 = time.perf_counter()
    image = decode_tiled(vae, latent, tile, overlap)
    seconds = time.perf_counter() - t0
    peak = _status()["VmHWM"] if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    spans = _pixel_spans(side, tile, overlap)
    result = {"side": side, "seconds": seconds, "peak": peak, "before": before, "output": int(image.nbytes),
              "working": peak - before - int(image.nbytes), "method": "VmHWM reset" if exact else "maxrss",
              "seam": seam_score(image[0], spans, spans)}
    if contrast:
        result["seam_hard_cut"] = seam_score(decode_tiled(vae, latent, tile, overlap, feather=False)[0], spans, spans)
        if "tiny" in Path(vae_path).name:  # untiled is affordable here: the same lines, no tiles
            result["seam_untiled"] = seam_score(decode(vae, latent)[0], spans, spans)
    return result


def _measure(vae_path: Path, side: int, tile: int, overlap: int, contrast: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.anysize_vae", "--child", str(vae_path), str(side), str(tile), str(overlap),
           str(int(contrast))]
    root = Path(__file__).resolve().parent.parent
    # glibc: blocks of 128 KiB and more are mapped on their own and unmapped when freed, and two arenas
    # at most, so RSS follows the memory in use rather than what the allocator keeps for later.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=root, env=env)
    if done.returncode:
        raise RuntimeError(f"memory child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_vae(size: str, out: Callable[[str], Any] = print, *, plan: tuple[int, int, int, int] | None = None
            ) -> dict[str, Any]:
    """Measure and print; returns {"memory": {...}, "seam": {...}}. ``plan`` overrides
    (small side, large side, tile, overlap) for quick runs."""
    small, large, tile, overlap = plan or PLANS[size]
    path = _vae_path(size)
    mib = 1024 * 1024
    lo, hi = (_measure(path, side, tile, overlap, side == small) for side in (small, large))
    ratio = hi["working"] / lo["working"]
    for r in (lo, hi):
        out(f"tiled VAE decode {r['side']}² ({tile}-px tiles, {size}): working memory {r['working'] / mib:.0f} MiB "
            f"above the {r['output'] / mib:.0f} MiB output ({r['method']}), {r['seconds']:.1f} s")
    out(f"tiled VAE decode memory {large}² / {small}²: {ratio:.3f} (target ≤ 1.10)")
    seam = {"tiled": hi["seam"], "tiled_small": lo["seam"], "hard_cut_small": lo["seam_hard_cut"]}
    if "seam_untiled" in lo:
        seam["untiled_small"] = lo["seam_untiled"]
    out(f"tiled VAE decode seam score {large}² ({tile}-px tiles, {overlap}-px overlap, {size}): {seam['tiled']:.3f} "
        f"(target ≤ 1.10); at {small}²: {seam['tiled_small']:.3f}, hard-cut tiles {seam['hard_cut_small']:.3f}"
        + (f", untiled on the same lines {seam['untiled_small']:.3f}" if "untiled_small" in seam else ""))
    return {"memory": {"sides": (small, large), "tile": tile, "overlap": overlap, "ratio": ratio,
                       "working_bytes": (lo["working"], hi["working"]), "seconds": (lo["seconds"], hi["seconds"]),
                       "method": lo["method"]},
            "seam": seam}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5:] == ["1"])))
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench.anysize_vae", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=tuple(PLANS), default="full")
    run_vae(ap.parse_args(argv).size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
