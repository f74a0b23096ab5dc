"""Tiled sampling modes compared at the same output and tile size: UNet evaluations, seconds per step
and a seam score (the sampling part of ``python -m bench anysize``).

Random-weight SD 1.5 (``tiny`` models, or the real architecture with ``full``), CPU, fp32, euler,
img2img at denoise 0.5 from a fixed smooth latent (so that seams stand out against a smooth field),
fixed seed. The output is twice the tile in both directions, the case tiled refinement is made for:
the fstd grid then needs 2×2 tiles a step where overlapping windows need 3×3, whatever the tile size,
so the evaluation ratio is the one a 2048² refinement with 1024² tiles would show. ``full`` keeps the
tiles small (256 px on a 512² output, 2 of 4 steps) only so that the whole comparison runs in a few
minutes on a 2-core CPU; a model call costs about the same at any small size there.

Seam score: the mean absolute gradient of the final latent across the tile borders (the edges of the
tiles of the run's last evaluation that lie inside the latent) divided by the same inside the tiles;
1.0 means no seam. It is measured on the latent, not the decoded image (a full-size VAE decode per
mode would cost more than the sampling). A fixed grid of non-overlapping tiles (multidiffusion with
overlap 0) is printed as the reference that does show seams.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# output px, tile px, overlap px (1/4 of the tile, multidiffusion's usual), steps (denoise keeps half)
SIZES = {"tiny": (256, 128, 32, 6), "full": (512, 256, 64, 4)}
SEED, CFG, DENOISE = 1234, 5.0, 0.5
PROMPT = "a red brick cottage in a green valley, mountains, sunny day"
NEGATIVE = "blurry, low quality"


def _models(size: str) -> tuple[Any, Any]:
    from bench.make_models import ensure_models
    from studio.core.settings import Settings
    from studio.diffusion.model_manager import ModelManager

    root = ensure_models(size, ("sd15",))
    mm = ModelManager(Settings(), device="cpu", dtype="fp32", cache_dir=False)
    unet, clip, _ = mm.load_checkpoint(root / "checkpoints" / f"{size}-sd15.safetensors")
    return unet, clip


def smooth_latent(latent_px: int) -> Any:
    """A fixed, smooth (1, 4, n, n) latent: low-frequency waves of unit amplitude."""
    import torch

    n = latent_px
    y, x = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    chans = [torch.sin(3.1 * x + 1.7 * y), torch.cos(2.3 * y - 0.9 * x), torch.sin(1.3 * (x + y) + 0.5),
             torch.cos(2.9 * x * y)]
    return torch.stack(chans)[None].float()


def seam_score(latent: Any, boxes: list[tuple[int, int, int, int]]) -> float:
    """Mean |gradient| across tile borders / mean |gradient| elsewhere (see the module docstring)."""
    import torch

    _, _, h, w = latent.shape
    rows = {e for y, _, bh, _ in boxes for e in (y, y + bh) if 0 < e < h}
    cols = {e for _, x, _, bw in boxes for e in (x, x + bw) if 0 < e < w}
    dy = (latent[:, :, 1:] - latent[:, :, :-1]).abs().mean(dim=(0, 1, 3))  # dy[i]: between rows i and i+1
    dx = (latent[..., 1:] - latent[..., :-1]).abs().mean(dim=(0, 1, 2))
    on_r = torch.tensor([i + 1 in rows for i in range(h - 1)])
    on_c = torch.tensor([i + 1 in cols for i in range(w - 1)])
    border = torch.cat([dy[on_r], dx[on_c]])
    inside = torch.cat([dy[~on_r], dx[~on_c]])
    return float(border.mean() / inside.mean()) if len(border) else 1.0


def _last_boxes(mode: str, latent: int, tile: int, overlap: int, evaluations: int) -> list[tuple[int, int, int, int]]:
    from studio.diffusion.tiled_layout import boxes_for, fstd_offsets

    size, t = (latent, latent), (tile, tile)
    if mode != "fstd":
        return boxes_for(mode, size, t, overlap)
    offset = fstd_offsets(SEED, evaluations - 1, t, size) if evaluations > 1 else (0, 0)
    return boxes_for("fstd", size, t, 0, offset=offset, has_previous=evaluations > 1)


def run_sampling(size: str = "tiny", out: Callable[[str], Any] = print, *, steps: int | None = None,
                 repeats: int | None = None) -> dict[str, Any]:
    """Run the comparison; print a report through ``out`` and return its numbers: per variant
    ``unet_calls``, ``tiles_per_step``, ``s_per_step`` (the best of ``repeats`` runs; default 2 for
    tiny, 1 for full) and ``seam``; ``speedup`` (fstd over multidiffusion, in seconds) and
    ``evaluation_ratio`` (in tile evaluations). ``steps`` overrides the size's number of steps."""
    import torch

    from studio.diffusion.prompts import encode_prompt
    from studio.diffusion.sampling import sample
    from studio.diffusion.tiled import TileSpec
    from studio.diffusion.values import Latent

    px, tile_px, overlap_px, default_steps = SIZES[size]
    steps = steps or default_steps
    repeats = repeats or (2 if size == "tiny" else 1)
    unet, clip = _models(size)
    with torch.no_grad():
        pos, neg = encode_prompt(clip, PROMPT), encode_prompt(clip, NEGATIVE)
    latent = Latent("sd15", smooth_latent(px // 8))
    evaluations = int(steps * DENOISE)
    variants = {"fstd": ("fstd", 0), "mixture": ("mixture", overlap_px), "multidiffusion": ("multidiffusion", overlap_px),
                "fixed grid (reference)": ("multidiffusion", 0)}
    calls = [0]
    hook = unet.unet.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    results: dict[str, Any] = {}

    def run(spec: Any, n: int) -> Any:
        with torch.no_grad():
            return sample(unet, pos, neg, latent, seed=SEED, steps=n, cfg=CFG, sampler="euler",
                          scheduler="normal", denoise=DENOISE, tiling=spec).samples

    try:
        run(TileSpec("fstd", tile_px, tile_px, 0, 1), 2)  # warm-up (allocator, kernels), untimed
        for name, (mode, overlap) in variants.items():
            spec = TileSpec(mode, tile_px, tile_px, overlap, 1)
            secs = float("inf")
            for _ in range(repeats):
                calls[0] = 0
                t0 = time.perf_counter()
                res = run(spec, steps)
                secs = min(secs, time.perf_counter() - t0)
            boxes = _last_boxes(mode, px // 8, tile_px // 8, overlap // 8, evaluations)
            results[name] = {"unet_calls": calls[0], "tiles_per_step": calls[0] / evaluations,
                             "s_per_step": secs / evaluations, "seam": seam_score(res, boxes)}
    finally:
        hook.remove()
    fstd, md = results["fstd"], results["multidiffusion"]
    results["speedup"] = md["s_per_step"] / fstd["s_per_step"]
    results["evaluation_ratio"] = md["unet_calls"] / fstd["unet_calls"]
    out(f"tiled sampling, {size} random-weight SD 1.5: {px}x{px} output, {tile_px}x{tile_px} tiles, overlap "
        f"{overlap_px} px (multidiffusion, mixture), {evaluations} steps euler img2img denoise {DENOISE}, cfg {CFG}, "
        f"cpu fp32, torch threads {torch.get_num_threads()}; best of {repeats}")
    for name in variants:
        r = results[name]
        out(f"  {name:24s} {r['unet_calls']:3d} UNet evaluations ({r['tiles_per_step']:.1f} tiles/step), "
            f"{r['s_per_step']:8.3f} s/step, seam score (latent) {r['seam']:.3f}"
            + ("  (target <= 1.10)" if name in ("fstd", "mixture") else ""))
    out(f"fstd speed-up vs multidiffusion: {results['speedup']:.2f}x in seconds per step, "
        f"{results['evaluation_ratio']:.2f}x in UNet evaluations (target >= 2x)")
    return results


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench anysize_sampling")
    ap.add_argument("--size", choices=tuple(SIZES), default="full")
    run_sampling(ap.parse_args(argv).size)
    return 0
