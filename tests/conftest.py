"""Test-wide set-up: no network, no display, a private studio home, and tiny models on demand."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["DIFFUSERS_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "LATENT_STUDIO_HOME" not in os.environ:
    # The studio home holds converted-model caches (hundreds of MB): removed when the run ends.
    _home = tempfile.mkdtemp(prefix="latent-studio-test-home-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["LATENT_STUDIO_HOME"] = _home
os.environ.pop("LATENT_STUDIO_MODELS", None)
os.environ.pop("LATENT_STUDIO_OUTPUT", None)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """Tiny random-weight SD1.5/SD2/SDXL checkpoints, ControlNets and a VAE in the original single-file
    layouts, written once per session as a models root; also under the example workflows' names."""
    from bench.make_models import link_example_names, write_models

    root = tmp_path_factory.mktemp("models")
    made = write_models(root, "tiny", seed=0, dtype="fp16")
    link_example_names(root, made)
    made.root = root  # type: ignore[attr-defined]
    return made


@pytest.fixture(scope="session")
def tiny_root(tiny) -> Path:
    return tiny.root
