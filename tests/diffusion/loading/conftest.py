"""Model managers over the session's tiny models (the ``tiny`` fixtures live in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.settings import Settings


def make_manager(root: Path, cache: Path | None, **kw):
    from studio.diffusion.model_manager import ModelManager

    settings = Settings(models_root=str(root), **kw.pop("settings", {}))
    return ModelManager(settings, device="cpu", dtype=kw.pop("dtype", "fp32"), cache_dir=cache or False, **kw)


@pytest.fixture(scope="session")
def manager(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One fp32 CPU manager shared by the read-only tests (loads are cached in it)."""
    return make_manager(tiny_root, tmp_path_factory.mktemp("cache"))
