"""Tiny random upscale models in the released layouts, written once per module that asks."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="package")
def upscale_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models root holding ``upscale_models/`` from ``bench.make_upscale`` (fp32 tiny models)."""
    import torch

    from bench.make_models import Made
    from bench.make_upscale import write_upscale_models

    root = tmp_path_factory.mktemp("upscale-models")
    made = Made()
    write_upscale_models(root, made, size="tiny", seed=0, dtype=torch.float32)
    return root


@pytest.fixture(scope="package")
def upscale_dir(upscale_root: Path) -> Path:
    return upscale_root / "upscale_models"
