"""Test-wide set-up: no network, no display, and a private studio home for every test session."""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["DIFFUSERS_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_STUDIO_HOME", tempfile.mkdtemp(prefix="latent-studio-test-home-"))
os.environ.pop("LATENT_STUDIO_MODELS", None)
os.environ.pop("LATENT_STUDIO_OUTPUT", None)
