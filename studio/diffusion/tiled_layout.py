"""Where the tiles of tiled denoising lie at one model evaluation, and how their outputs are weighted.

All sizes here are in latent pixels (an image pixel is 1/8 of one). A *box* is (top, left, height,
width). Three modes:

- ``multidiffusion`` (Bar-Tal et al., MultiDiffusion): sliding windows with stride = tile - overlap,
  the last one moved back to end on the latent's edge; uniform weights, so overlapping predictions
  are averaged.
- ``mixture`` (Jiménez, Mixture of Diffusers): the same windows, each weighted by a Gaussian centred
  on the tile (variance 0.01 of the tile's size squared, as diffusers' community tiling pipeline), so
  a tile's border counts far less than its neighbour's centre.
- ``fstd`` (Any-Size-Diffusion's Fast Seamless Tiled Diffusion): a non-overlapping grid moved at each
  evaluation by a random offset, so seams never stay in one place (an implicit overlap across steps).
  A grid cell cut by the latent's edge is moved inside (overlapping its neighbour, blended with the
  same Gaussian weights) when at least half of it lies inside, and dropped otherwise: the narrow strip
  it would have covered reuses the previous evaluation's prediction. The first evaluation of a run has
  no previous prediction: its grid is unshifted and every cell is kept, so it covers everything.
  Offsets are drawn from a generator seeded with the sampler's seed and the evaluation's index, so a
  seed gives the same offsets on every run (and in a run split in two).

Weights are normalised per latent pixel over the tiles of one evaluation, so blending is a plain sum
of weight × output; a pixel that one tile alone covers gets weight exactly 1, which makes one tile
covering the whole latent give exactly the untiled output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MODES = ("fstd", "mixture", "multidiffusion")
Box = tuple[int, int, int, int]
_VARIANCE = 0.01  # of the Gaussian tile weight, in units of the tile's size squared


@dataclass(frozen=True)
class Layout:
    """The tiles of one evaluation, each with its normalised weight (1, 1, h, w) float32, and the
    area they cover ((1, 1, H, W) bool; None = everything)."""

    boxes: tuple[Box, ...]
    weights: tuple[Any, ...]
    covered: Any = None


def window_starts(length: int, tile: int, stride: int) -> list[int]:
    """Sliding-window starts along one side: every ``stride``, the last one ending on the edge."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile + 1, max(1, stride)))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def grid_starts(length: int, tile: int, offset: int, has_previous: bool) -> list[int]:
    """FSTD's cells along one side: the grid through ``offset``; a cell cut by an edge moves inside
    when at least half of it lies inside (or always, without a previous prediction), else is dropped."""
    if tile >= length:
        return [0]
    s = offset % tile
    s = s - tile if s else 0
    starts: list[int] = []
    while s < length:
        inside = min(s + tile, length) - max(s, 0)
        if s >= 0 and s + tile <= length:
            starts.append(s)
        elif not has_previous or 2 * inside >= tile:
            starts.append(min(max(s, 0), length - tile))
        s += tile
    return list(dict.fromkeys(starts))


def fstd_offsets(seed: int, index: int, tiles: tuple[int, int], size: tuple[int, int], align: int = 1) -> tuple[int, int]:
    """The grid's (down, right) offset at evaluation ``index`` of a run with ``seed``: uniform in
    [0, tile) in steps of ``align``, 0 along a side the tile covers whole. Reproducible per seed."""
    import torch

    mixed = (int(seed) * 0x9E3779B97F4A7C15 + int(index) * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019) % (2**63)
    gen = torch.Generator("cpu").manual_seed(mixed)
    out = []
    for tile, length in zip(tiles, size, strict=True):
        steps = max(1, tile // align)
        draw = int(torch.randint(0, steps, (1,), generator=gen))
        out.append(draw * align if tile < length else 0)
    return out[0], out[1]


def tile_weight(mode: str, height: int, width: int) -> Any:
    """A tile's unnormalised weight (height, width), float64: ones for multidiffusion, else Gaussian."""
    import torch

    if mode == "multidiffusion":
        return torch.ones((height, width), dtype=torch.float64)

    def profile(n: int) -> Any:
        x = torch.arange(n, dtype=torch.float64)
        mid = (n - 1) / 2
        return torch.exp(-((x - mid) ** 2) / (n * n) / (2 * _VARIANCE)) / math.sqrt(2 * math.pi * _VARIANCE)

    return profile(height)[:, None] * profile(width)[None, :]


def make_layout(mode: str, boxes: list[Box], height: int, width: int, device: Any) -> Layout:
    """Normalise the tiles' weights over the latent (height, width)."""
    import torch

    total = torch.zeros((height, width), dtype=torch.float64)
    raw = []
    for y, x, h, w in boxes:
        wt = tile_weight(mode, h, w)
        total[y:y + h, x:x + w] += wt
        raw.append(wt)
    weights = tuple((wt / total[y:y + h, x:x + w]).to(device=device, dtype=torch.float32)[None, None]
                    for wt, (y, x, h, w) in zip(raw, boxes, strict=True))
    covered = total > 0
    return Layout(tuple(boxes), weights, None if bool(covered.all()) else covered.to(device)[None, None])


def boxes_for(mode: str, size: tuple[int, int], tile: tuple[int, int], overlap: int, *,
              offset: tuple[int, int] = (0, 0), has_previous: bool = False) -> list[Box]:
    """The boxes of one evaluation over a latent of ``size`` = (height, width) with tiles of ``tile``."""
    (lh, lw), (th, tw) = size, (min(tile[0], size[0]), min(tile[1], size[1]))
    if mode == "fstd":
        ys = grid_starts(lh, th, offset[0], has_previous)
        xs = grid_starts(lw, tw, offset[1], has_previous)
    elif mode in ("multidiffusion", "mixture"):
        ys = window_starts(lh, th, th - min(overlap, th - 1))
        xs = window_starts(lw, tw, tw - min(overlap, tw - 1))
    else:
        raise ValueError(f"unknown tiling mode {mode!r}; expected one of {', '.join(MODES)}")
    return [(y, x, th, tw) for y in ys for x in xs]
