"""Crash recovery with several studios running: each has its own file, and only the files of
studios that are no longer running are offered; the first-run banner knows installed models."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.core.graph import Graph
from studio.core.registry import Registry
from studio.core.settings import Settings
from studio.ui import recovery

ROOT = Path(__file__).resolve().parents[2]

# Another studio: autosaves a graph, says so, then keeps running until its stdin closes.
_OTHER = textwrap.dedent("""
    import sys
    from studio.core.graph import Graph
    from studio.core.registry import Registry
    from studio.ui import recovery
    recovery.write(Graph(Registry()), sys.argv[1])
    print("saved", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))
    return tmp_path


def _other_studio(home: Path, original: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LATENT_STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _OTHER, original], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "saved"
    return proc


def test_a_running_studio_keeps_its_file_and_a_dead_ones_is_offered(home):
    other = _other_studio(home, "/work/theirs.json")
    try:
        recovery.write(Graph(Registry()), "/work/mine.json")
        assert recovery.find_all() == [recovery.find()]  # only this process's own file
        assert recovery.find().original_path == "/work/mine.json"
        recovery.discard()  # this studio closes cleanly...
        assert recovery.find() is None  # ...and the running one's file is neither offered...
        theirs = sorted(p.name for p in (home / "recovery").glob(f"autosave-{other.pid}-*"))
        assert [n.split(".", 1)[1] for n in theirs] == ["json", "lock", "meta.json"]  # ...nor deleted
    finally:
        other.stdin.close()  # the other studio dies without cleaning up
        other.wait(timeout=60)
    found = recovery.find()
    assert found is not None and found.original_path == "/work/theirs.json"


def test_a_restored_file_becomes_this_studios_own(home):
    other = _other_studio(home, "/work/theirs.json")
    other.stdin.close()
    other.wait(timeout=60)
    found = recovery.find()
    assert found is not None and found.instance.startswith(f"{other.pid}-")
    recovery.claim(found)
    mine = recovery.find()
    assert mine is not None and mine.instance.startswith(f"{os.getpid()}-")
    assert mine.original_path == "/work/theirs.json"
    assert not list((home / "recovery").glob(f"autosave-{other.pid}-*"))
    recovery.discard()
    assert recovery.find() is None


def test_the_single_file_of_older_versions_is_still_offered(home):
    folder = home / "recovery"
    folder.mkdir()
    (folder / "autosave.json").write_text("{}")
    found = recovery.find()
    assert found is not None and found.instance == "autosave"
    recovery.discard(found)
    assert not (folder / "autosave.json").exists()


def test_declined_files_are_discarded_and_the_restore_loop_offers_each(make_window, home):
    from studio.ui.app import open_initial

    for original in ("/work/a.json", "/work/b.json"):
        proc = _other_studio(home, original)
        proc.stdin.close()
        proc.wait(timeout=60)
    offered: list[str | None] = []
    w = make_window()
    open_initial(w, None, ask_restore=lambda found: offered.append(found.original_path) and False)
    assert sorted(offered) == ["/work/a.json", "/work/b.json"]
    assert recovery.find() is None


def _settings_with_checkpoint(tmp_path: Path, installed: bool) -> Settings:
    ckpt = tmp_path / "models" / "checkpoints"
    ckpt.mkdir(parents=True)
    if installed:
        (ckpt / "model.safetensors").write_bytes(b"\0" * 16)
    return Settings(models_root=str(tmp_path / "models"))


@pytest.mark.parametrize("installed", [True, False])
def test_the_first_run_banner_shows_only_without_checkpoints(make_window, home, tmp_path, installed):
    from studio.ui.app import any_checkpoints, open_initial

    settings = _settings_with_checkpoint(tmp_path, installed)
    assert any_checkpoints(settings) is installed
    w = make_window(settings=settings)
    open_initial(w, None, ask_restore=lambda found: False)
    assert w.banner.isHidden() is installed
