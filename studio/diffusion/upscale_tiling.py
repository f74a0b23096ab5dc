"""Run an image-to-image network over an image tile by tile, blending overlapping tiles.

Each tile of ``tile`` input pixels (neighbours overlap by ``overlap``) goes through the network alone,
so memory depends on the tile, not the image; the output is gathered on the CPU. On the sides a tile
shares with a neighbour its output is cross-faded over the middle of the overlap and the weighted sum
normalised, so seams vanish; where the overlap's outer quarter covers the network's receptive field,
tiled equals untiled. A tile that covers the whole image gives exactly the network's output. Out of (GPU) memory, the tile size halves and the image starts again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[float, str], None]
MIN_TILE = 32


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Starts of the tiles along one side: every ``tile - overlap``, the last one flush with the end."""
    if size <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    return [*starts, size - tile]


def ramp(length: int, fade_in: int, fade_out: int) -> Any:
    """1-D weights of a tile: on a side shared with a neighbour (``fade_*`` = the overlap), the outer
    quarter of the overlap gets no weight (the network sees least context there) and the middle half
    fades in linearly; mirrored on the neighbour, the two weights sum to 1 across the overlap."""
    import torch

    w = torch.ones(length)
    for fade, flip in ((fade_in, False), (fade_out, True)):
        if not fade:
            continue
        dead = fade // 4
        rise = torch.arange(1, fade - 2 * dead + 1) / (fade - 2 * dead + 1)
        edge = torch.cat([torch.zeros(dead), rise])
        n = edge.numel()
        if flip:
            w[length - n:] = torch.minimum(w[length - n:], edge.flip(0))
        else:
            w[:n] = torch.minimum(w[:n], edge)
    return w


def _fit_tile(tile: int, multiple: int) -> int:
    return max(multiple, tile // multiple * multiple)


def upscale_tiled(run: Callable[[Any], Any], x: Any, scale: int, *, tile: int = 512, overlap: int = 32,
                  multiple: int = 1, check_cancel: Callable[[], None] | None = None,
                  progress: Progress | None = None, on_retry: Callable[[str], None] | None = None) -> Any:
    """(B, C, H, W) float CPU tensor → (B, C', H·scale, W·scale) float32 CPU tensor, by ``run`` over tiles
    whose size is a multiple of ``multiple``. Halves the tile on out-of-memory down to ``MIN_TILE``."""
    from studio.core.context import OutOfMemory

    tile = _fit_tile(tile, multiple)
    while True:
        try:
            return _tiles(run, x, scale, tile, overlap, check_cancel, progress)
        except Exception as exc:
            if not _oom(exc):
                raise
            free_memory()
            smaller = _fit_tile(tile // 2, multiple)
            if smaller >= tile or smaller < min(MIN_TILE, tile):
                raise OutOfMemory(f"out of memory upscaling with {tile}-pixel tiles; try a smaller batch") from None
            if on_retry is not None:
                on_retry(f"out of memory with {tile}-pixel tiles: retrying with {smaller}")
            tile = smaller


def _tiles(run: Callable[[Any], Any], x: Any, scale: int, tile: int, overlap: int,
           check_cancel: Callable[[], None] | None, progress: Progress | None) -> Any:
    import torch

    b, _, h, w = x.shape
    overlap = max(0, min(overlap, tile // 2))
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out: Any = None
    weight = torch.zeros(h * scale, w * scale)
    total = len(ys) * len(xs)
    for n, (y0, x0) in enumerate((y, x_) for y in ys for x_ in xs):
        if check_cancel is not None:
            check_cancel()
        th, tw = min(tile, h - y0), min(tile, w - x0)
        result = run(x[:, :, y0:y0 + th, x0:x0 + tw]).float().cpu()
        if progress is not None:
            progress((n + 1) / total, f"upscaling tile {n + 1}/{total}")
        if total == 1:  # one tile: the network's output as it is
            return result
        if out is None:
            out = torch.zeros(b, result.shape[1], h * scale, w * scale)
        fy = ramp(th * scale, overlap * scale if y0 > 0 else 0, overlap * scale if y0 + th < h else 0)
        fx = ramp(tw * scale, overlap * scale if x0 > 0 else 0, overlap * scale if x0 + tw < w else 0)
        mask = fy[:, None] * fx[None, :]
        region = (slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale))
        out[(..., *region)] += result * mask
        weight[region] += mask
    return out / weight


def _oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.empty_cache()
