"""Run services for the example workflows on the tiny models."""

from __future__ import annotations

import pytest

from .examples import FLOWS


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.settings import Settings

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(),
                              output_dir=tmp_path).with_workflow_dir(FLOWS)
