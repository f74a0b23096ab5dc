"""The resolutions each model family was trained at, and the one nearest a target's aspect ratio.

Stable Diffusion composes well only near the sizes it saw in training; far from them it repeats
subjects and breaks the layout. Any-Size-Diffusion's first stage therefore generates at the trained
resolution whose aspect ratio is nearest the target's and enlarges afterwards. SDXL was trained on
the aspect-ratio buckets listed in its paper (about 1024² pixels each); SD 1.x and 2.x on squares
(512², 768²), so their buckets here are the sizes of the same area in steps of 64 pixels, the
buckets fine-tunes of them commonly use.
"""

from __future__ import annotations

import math

# SDXL's training buckets (width, height), one orientation; the transposes are buckets too.
_SDXL = ((1024, 1024), (1088, 960), (1088, 896), (1152, 896), (1216, 832), (1280, 768), (1344, 768),
         (1408, 704), (1472, 704), (1536, 640), (1600, 640), (1664, 576), (1728, 576), (1792, 576),
         (1856, 512), (1920, 512), (1984, 512), (2048, 512))
_NATIVE = {"sd15": 512, "sd2": 768, "sdxl": 1024, "sdxl_refiner": 1024}
_STEP = 64


def _area_buckets(side: int) -> tuple[tuple[int, int], ...]:
    """Sizes of about ``side``² pixels in steps of 64, from 1:4 to 4:1."""
    area = side * side
    out = set()
    for w in range(side // 2, side * 2 + 1, _STEP):
        h = max(_STEP, round(area / w / _STEP) * _STEP)
        if 0.25 <= w / h <= 4.0:
            out.add((w, h))
            out.add((h, w))
    return tuple(sorted(out))


def buckets(family: str) -> tuple[tuple[int, int], ...]:
    """The trained resolutions (width, height) of ``family``."""
    if family in ("sdxl", "sdxl_refiner"):
        return tuple(sorted({*_SDXL, *((h, w) for w, h in _SDXL)}))
    return _area_buckets(_NATIVE.get(family, 512))


def nearest_trained_size(family: str, width: int, height: int) -> tuple[int, int]:
    """The trained resolution of ``family`` whose aspect ratio is nearest ``width``:``height``
    (compared as logarithms, so 2:1 and 1:2 are equally far from 1:1); of equals, the one nearest
    the family's native area."""
    if width <= 0 or height <= 0:
        raise ValueError(f"a size must be positive, not {width}×{height}")
    target = math.log(width / height)
    native = _NATIVE.get(family, 512) ** 2
    return min(buckets(family), key=lambda b: (round(abs(math.log(b[0] / b[1]) - target), 9),
                                               abs(b[0] * b[1] - native)))
