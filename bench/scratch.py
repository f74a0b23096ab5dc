"""Scratch folders for benchmarks and scripts: removed when the process exits.

A studio home collects converted-model caches (gigabytes for full-size models), so a benchmark that
leaves its home behind fills the disk after a few runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def private_home(prefix: str = "ls-bench-") -> None:
    """Point LATENT_STUDIO_HOME at a scratch folder unless the caller chose one."""
    if "LATENT_STUDIO_HOME" not in os.environ:
        os.environ["LATENT_STUDIO_HOME"] = str(scratch_dir(prefix))
