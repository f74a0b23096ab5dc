"""Tiled VAE decode and encode: images of any size with memory bounded by the tile, not the image.

Decode cuts the latent into overlapping tiles, decodes each on its own and blends the pixels; encode
cuts the image into overlapping pixel tiles and blends their latents. Across each overlap the two
tiles cross-fade with a cosine ramp, so no tile edge (where the convolutions saw zero padding, and
where each tile's group-norm statistics differ from its neighbour's) shows as a seam. The weights are
separable and normalised per axis, so they sum to one at every pixel and the result is accumulated
tile by tile into one preallocated output on the CPU: the working memory is one tile's.

On out-of-memory the tile size halves and the whole operation starts again, down to ``MIN_TILE``
pixels; below that it fails with a clear message. A tile that covers the whole image runs the
untiled ``vae.decode`` / ``vae.encode``, so it gives exactly their result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from studio.core.context import NodeFailure, OutOfMemory
from studio.core.types import latents_compatible

from . import vae as vae_ops
from .values import Latent, VAEModel

SCALE = vae_ops.SCALE
MIN_TILE = 64  # pixels: smaller tiles are mostly border and the result degrades

Progress = Callable[[float, str], None]


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) of tiles of ``tile`` cells covering ``length`` cells, neighbours overlapping by at
    least ``overlap``, spread evenly so the first starts at 0 and the last ends at ``length``."""
    if tile >= length:
        return [(0, length)]
    overlap = min(overlap, tile - 1)
    count = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(i * (length - tile) / (count - 1)) for i in range(count)]
    return [(s, s + tile) for s in starts]


def _ramp(n: int) -> np.ndarray:
    """Cosine ramp rising over ``n`` cells, sampled at cell centres: ramp(n) + ramp(n)[::-1] == 1."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return 0.5 - 0.5 * np.cos(np.pi * t)


def blend_weights(spans: list[tuple[int, int]], scale: int = 1, feather: bool = True) -> list[np.ndarray]:
    """Per-tile 1-D weights (float32, length ``(end - start) * scale``) that fade each tile in and out
    across the overlap with its neighbours and sum to one at every position. ``feather=False`` cuts
    hard at the middle of each overlap instead (to show what the cross-fade hides)."""
    spans = [(s * scale, e * scale) for s, e in spans]
    weights = []
    for i, (s, e) in enumerate(spans):
        w = np.ones(e - s, dtype=np.float64)
        fade_in = spans[i - 1][1] - s if i > 0 else 0
        fade_out = e - spans[i + 1][0] if i + 1 < len(spans) else 0
        if not feather:
            w[:fade_in // 2] = 0.0
            w[e - s - (fade_out - fade_out // 2):] = 0.0
            weights.append(w)
            continue
        if fade_in > 0:
            w[:fade_in] *= _ramp(fade_in)
        if fade_out > 0:
            w[e - s - fade_out:] *= _ramp(fade_out)[::-1]
        weights.append(w)
    total = np.zeros(spans[-1][1], dtype=np.float64)
    for (s, e), w in zip(spans, weights, strict=True):
        total[s:e] += w
    return [(w / total[s:e]).astype(np.float32) for (s, e), w in zip(spans, weights, strict=True)]


Tile = tuple[tuple[int, int], tuple[int, int], np.ndarray, np.ndarray]


def _grid(h: int, w: int, tile: int, overlap: int, scale: int, feather: bool = True) -> list[Tile]:
    """((y0, y1), (x0, x1), row weights, column weights at ``scale``) of each tile over an h × w grid of
    cells. The 2-D weight (their outer product) is made per tile: all of them would be image-sized."""
    ys, xs = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    wy, wx = blend_weights(ys, scale, feather), blend_weights(xs, scale, feather)
    return [(y, x, a, b) for y, a in zip(ys, wy, strict=True) for x, b in zip(xs, wx, strict=True)]


def effective_overlap(tile_size: int, overlap: int) -> int:
    """The overlap used with ``tile_size``: at most a quarter of the tile (more would spend most of the
    work on overlaps), in whole latent cells."""
    return max(0, min(overlap, tile_size // 4)) // SCALE * SCALE


def _oom(exc: BaseException) -> bool:
    return isinstance(exc, OutOfMemory) or vae_ops._oom(exc)


def _retrying(work: Callable[[int], Any], tile_size: int, side: int, what: str,
              on_retry: Callable[[int], None] | None, min_tile: int = MIN_TILE) -> Any:
    """``work(tile)``; on out-of-memory, again with half the tile (half the image's longer ``side`` when
    the tile covered it all), down to ``min_tile`` pixels."""
    tile = max(min_tile, tile_size // SCALE * SCALE)
    while True:
        try:
            return work(tile)
        except Exception as exc:
            if not _oom(exc):
                raise
        # Here, outside the handler, the traceback no longer holds the failed tile's tensors.
        vae_ops.free_memory()
        if tile <= min_tile:
            raise OutOfMemory(f"out of memory {what} even with {tile}-pixel tiles; "
                              "free memory (close other programs, use a smaller batch) and retry")
        tile = max(min_tile, min(tile, side) // 2 // SCALE * SCALE)
        if on_retry is not None:
            on_retry(tile)


def decode_tiled(vae: VAEModel, latent: Latent, tile_size: int = 512, overlap: int = 64, *,
                 progress: Progress | None = None, check: Callable[[], None] | None = None,
                 on_retry: Callable[[int], None] | None = None, min_tile: int = MIN_TILE,
                 feather: bool = True) -> np.ndarray:
    """LATENT → IMAGE (B, H, W, 3) float32 in [0, 1], decoded in tiles of ``tile_size`` output pixels
    overlapping by ``overlap`` pixels (see ``effective_overlap``). ``check`` is called between tiles
    (to cancel); ``on_retry(tile)`` when out-of-memory made the tile smaller. ``feather=False`` cuts
    the overlaps hard (for comparisons)."""
    if not latents_compatible(latent.family, vae.family):
        raise NodeFailure(f"LATENT[{latent.family}] does not fit VAE[{vae.family}]")
    b, _, h, w = latent.samples.shape
    what = f"decoding {w * SCALE}×{h * SCALE}"
    return _retrying(lambda tile: vae_ops.half_safe(
        vae.vae, lambda: _decode(vae, latent, tile, effective_overlap(tile, overlap), progress, check, feather),
        lambda a: bool(np.isfinite(a).all()), what), tile_size, max(h, w) * SCALE, what, on_retry, min_tile)


def _decode(vae: VAEModel, latent: Latent, tile: int, overlap: int, progress: Progress | None,
            check: Callable[[], None] | None, feather: bool) -> np.ndarray:
    import torch

    b, _, h, w = latent.samples.shape
    t, o = tile // SCALE, overlap // SCALE
    if t >= h and t >= w:
        return vae_ops.decode(vae, latent)
    model = vae.vae
    grid = _grid(h, w, t, o, SCALE, feather)
    out = np.zeros((b, h * SCALE, w * SCALE, 3), dtype=np.float32)
    done, total = 0, b * len(grid)
    with torch.no_grad(), vae_ops._fp32_if_needed(model):
        for i in range(b):
            for (y0, y1), (x0, x1), wy, wx in grid:
                if check is not None:
                    check()
                z = latent.samples[i:i + 1, :, y0:y1, x0:x1].to(device=model.device, dtype=model.dtype)
                mean, std, scaling = vae_ops._norm(model, z)
                img = model.decode(z * std / scaling + mean, return_dict=False)[0]
                part = img[0].float().permute(1, 2, 0).cpu().numpy()
                del img, z
                out[i, y0 * SCALE:y1 * SCALE, x0 * SCALE:x1 * SCALE] += part * np.outer(wy, wx)[..., None]
                done += 1
                if progress is not None:
                    progress(done / total, f"VAE decode: tile {done}/{total}")
    out += 1.0
    out *= 0.5
    np.clip(out, 0.0, 1.0, out=out)
    return out


def encode_tiled(vae: VAEModel, image: np.ndarray, tile_size: int = 512, overlap: int = 64, *,
                 progress: Progress | None = None, check: Callable[[], None] | None = None,
                 on_retry: Callable[[int], None] | None = None, min_tile: int = MIN_TILE) -> Latent:
    """IMAGE → LATENT (the mean of the latent distribution), encoded in pixel tiles of ``tile_size``
    overlapping by ``overlap`` pixels and blended in latent space. The image is centre-cropped to a
    multiple of 8 pixels first, as ``vae.encode`` does."""
    import torch

    image = vae_ops.crop_to_multiple(np.asarray(image, dtype=np.float32))
    _, h, w, _ = image.shape
    what = f"encoding a {w}×{h} image"
    return _retrying(lambda tile: vae_ops.half_safe(
        vae.vae, lambda: _encode(vae, image, tile, effective_overlap(tile, overlap), progress, check),
        lambda z: bool(torch.isfinite(z.samples).all()), what), tile_size, max(h, w), what, on_retry, min_tile)


def _encode(vae: VAEModel, image: np.ndarray, tile: int, overlap: int, progress: Progress | None,
            check: Callable[[], None] | None) -> Latent:
    import torch

    b, h, w, _ = image.shape
    lh, lw, t, o = h // SCALE, w // SCALE, tile // SCALE, overlap // SCALE
    if t >= lh and t >= lw:
        return vae_ops.encode(vae, image)
    model = vae.vae
    grid = _grid(lh, lw, t, o, 1)
    out: Any = None
    done, total = 0, b * len(grid)
    with torch.no_grad(), vae_ops._fp32_if_needed(model):
        for i in range(b):
            for (y0, y1), (x0, x1), wy, wx in grid:
                if check is not None:
                    check()
                px = image[i, y0 * SCALE:y1 * SCALE, x0 * SCALE:x1 * SCALE]
                x = torch.from_numpy(np.ascontiguousarray(px.transpose(2, 0, 1)))[None]
                x = (x * 2.0 - 1.0).to(device=model.device, dtype=model.dtype)
                z = model.encode(x).latent_dist.mean.float().cpu()
                if out is None:
                    out = torch.zeros((b, z.shape[1], lh, lw), dtype=torch.float32)
                out[i, :, y0:y1, x0:x1] += z[0] * torch.from_numpy(np.outer(wy, wx))
                done += 1
                if progress is not None:
                    progress(done / total, f"VAE encode: tile {done}/{total}")
        mean, std, scaling = vae_ops._norm(model, out)
        out = (out - mean) * scaling / std
    return Latent(family=vae.family, samples=out.float())
