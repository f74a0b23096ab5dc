"""Find TAESD weights (tiny latent decoders for previews) in the ``taesd`` model folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .model_folders import kind_dirs


def find_taesd(roots: Sequence[str | Path], family: str) -> Path | None:
    """A diffusers folder (``taesd/``, ``taesdxl/``) or an original ``taesd[xl]_decoder`` file."""
    stem = "taesdxl" if family in ("sdxl", "sdxl_refiner") else "taesd"
    for d in kind_dirs(roots, "taesd"):
        if (d / stem / "config.json").is_file():
            return d / stem
        for suffix in (".safetensors", ".pth"):
            if (d / f"{stem}_decoder{suffix}").is_file():
                return d / f"{stem}_decoder{suffix}"
    return None
