"""The ADE20K palette the segmentation ControlNet was trained with (index = label, 0 = wall)."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from studio.core.settings import resources_dir

ADE20K_CLASSES = 150


@lru_cache(maxsize=1)
def ade20k_palette() -> np.ndarray:
    """(150, 3) uint8 RGB, read from ``resources/palettes/ade20k.json``."""
    data = json.loads((resources_dir() / "palettes" / "ade20k.json").read_text(encoding="utf-8"))
    pal = np.asarray(data["palette"], dtype=np.uint8)
    if pal.shape != (ADE20K_CLASSES, 3):
        raise ValueError(f"the ADE20K palette must have 150 RGB rows, not {pal.shape}")
    pal.setflags(write=False)
    return pal


@lru_cache(maxsize=1)
def ade20k_classes() -> tuple[str, ...]:
    data = json.loads((resources_dir() / "palettes" / "ade20k.json").read_text(encoding="utf-8"))
    return tuple(data["classes"])


def paint_labels(labels: np.ndarray) -> np.ndarray:
    """An (H, W) integer label map → (H, W, 3) uint8 RGB hint: label k is painted palette[k]."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= ADE20K_CLASSES):
        raise ValueError(f"ADE20K labels must lie in 0..149, got {labels.min()}..{labels.max()}")
    return ade20k_palette()[labels.astype(np.intp)]
