"""``latent-studio models`` with hostile links and hostile model folders (issue 10, items 1, 8, 9, 10).

Each case ends with exit 0, 1 or 2, one clear line, no traceback, and nothing written outside the
kind's model folder. Downloads come from a server on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from studio import cli as studio_cli
from studio.diffusion import downloads
from tests.diffusion.models_refs.conftest import local_server


def run_cli(*args: object, home: Path, models: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LATENT_STUDIO_HOME=str(home), LATENT_STUDIO_MODELS=str(models))
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=home, timeout=120)  # a hang fails the test instead of the suite


@pytest.fixture
def server():
    with local_server() as srv:
        yield srv


def _files(tree: Path) -> set[Path]:
    return {p for p in tree.rglob("*") if p.is_file()}


@pytest.mark.parametrize("path", [
    "/a/..%2F..%2Fplugins%2Fevil.py", "/a/..%2F..%2F..%2Fevil.safetensors", "/a/%2E%2E%2Fevil.safetensors",
    "/a/..%5C..%5Cevil.safetensors", "/a/evil%00.safetensors", "/a/.evil.safetensors", "/a/--evil.safetensors",
    "/a/" + "e" * 260 + ".safetensors", "/a/evil.py", "/a/",
])
def test_a_download_link_cannot_name_a_file_outside_its_folder(server, tmp_path: Path, path: str) -> None:
    home, models = tmp_path / "home", tmp_path / "home" / "models"
    home.mkdir()
    before = _files(tmp_path)
    res = run_cli("models", "--download", server.url + path, home=home, models=models)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert _files(tmp_path) == before  # nothing written anywhere, not even inside the models folder
    assert server.requests == []  # refused before asking the server


def test_bad_download_arguments_exit_2(server, tmp_path: Path) -> None:
    home = tmp_path
    for args in (("--download", "ftp://127.0.0.1/x.safetensors"), ("--download", "file:///etc/hostname"),
                 ("--download", f"{server.url}/x.safetensors", "--sha256", "not-hex"),
                 ("--download", "../../x/y.safetensors")):
        res = run_cli("models", *args, home=home, models=home / "models")
        assert res.returncode == 2 and "Traceback" not in res.stderr, (args, res.stderr)
    assert not (home / "models").exists()


def test_a_full_disk_during_a_download_exits_1_without_a_traceback(server, tmp_path: Path, monkeypatch,
                                                                   capsys) -> None:
    class Full:
        def __init__(self, *a: object) -> None:
            pass

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def write(self, block: bytes) -> int:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(downloads, "open", Full, raising=False)
    code = studio_cli.main(["models", "--download", f"{server.url}/m.safetensors"])
    err = capsys.readouterr().err
    assert code == 1 and "disk is full" in err and "Traceback" not in err
    assert not list((tmp_path / "models" / "checkpoints").iterdir())


def test_an_endless_download_stops_at_the_ceiling(server, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(downloads, "MAX_DOWNLOAD_BYTES", 2 * 2**20)
    code = studio_cli.main(["models", "--download", f"{server.url}/endless", "--kind", "vae"])
    assert code == 2  # "endless" has no model suffix: refused by name first
    server.redirects["/e.safetensors"] = f"{server.url}/endless"
    code = studio_cli.main(["models", "--download", f"{server.url}/e.safetensors", "--kind", "vae"])
    err = capsys.readouterr().err
    assert code == 1 and "more than 2.0 MiB" in err and "Traceback" not in err
    assert not list((tmp_path / "models" / "vae").iterdir())


def test_the_listing_survives_bad_files_loops_and_fifos(tmp_path: Path, tiny_root: Path) -> None:
    models = tmp_path / "models"
    ck = models / "checkpoints"
    ck.mkdir(parents=True)
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd15.safetensors", ck / "good.safetensors")
    for name, header in {"nested": b"[" * 10_000 + b"]" * 10_000,
                         "meta": json.dumps({"__metadata__": [1, 2]}).encode(),
                         "huge": b""}.items():
        with (ck / f"{name}.safetensors").open("wb") as f:
            f.write(struct.pack("<Q", len(header) or 2**40) + header)
    (ck / "x").symlink_to(".")
    (ck / "y").symlink_to(".")
    os.mkfifo(ck / "fifo.safetensors")
    (ck / "zero.safetensors").symlink_to("/dev/zero")
    res = run_cli("models", home=tmp_path, models=models)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 4, lines
    good = [line for line in lines if line.endswith("good.safetensors")]
    assert len(good) == 1 and "sd15" in good[0]
    for name in ("nested", "meta", "huge"):
        [line] = [line for line in lines if f"{name}.safetensors" in line]
        assert "  ! " in line, line

    res = run_cli("models", "--json", "--hash", home=tmp_path, models=models)
    assert res.returncode == 0, res.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(res.stdout)}
    assert set(rows) == {"good.safetensors", "nested.safetensors", "meta.safetensors", "huge.safetensors"}
    assert rows["good.safetensors"]["sha256"] and not rows["good.safetensors"]["problem"]
    assert all(rows[n]["problem"] for n in ("nested.safetensors", "meta.safetensors", "huge.safetensors"))
