"""``latent-studio models --download / --hash`` through a real subprocess (downloads from 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import DATA, SHA


def cli(*args: object, home: Path, models: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LATENT_STUDIO_HOME=str(home), LATENT_STUDIO_MODELS=str(models))
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=home, timeout=120)


def test_download_a_url_into_a_kind_folder_then_hash_it(server, tmp_path):
    models = tmp_path / "models"
    res = cli("models", "--download", f"{server.url}/files/my%20lora.safetensors", "--kind", "loras",
              "--sha256", SHA, home=tmp_path, models=models)
    assert res.returncode == 0, res.stderr
    dest = models / "loras" / "my lora.safetensors"
    assert res.stdout.strip() == str(dest) and dest.read_bytes() == DATA

    res = cli("models", "--hash", "--json", home=tmp_path, models=models)
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert row["sha256"] == SHA and row["autov2"] == SHA[:10] and row["kind"] == "loras"


def test_download_failures_and_unknown_names(server, tmp_path):
    models = tmp_path / "models"
    res = cli("models", "--download", f"{server.url}/x.safetensors", "--sha256", "0" * 64, home=tmp_path,
              models=models)
    assert res.returncode == 1 and "SHA-256 mismatch" in res.stderr
    assert not (models / "checkpoints" / "x.safetensors").exists()
    res = cli("models", "--download", "no-such-model", home=tmp_path, models=models)
    assert res.returncode == 2 and "not in the model catalogue" in res.stderr
