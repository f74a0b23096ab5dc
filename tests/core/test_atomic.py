"""Atomic writes: concurrent writers never fail, links and modes survive, nothing half-written."""

import os
import stat
import sys
import threading

import pytest

from studio.core.atomic import atomic_write_bytes, atomic_write_text

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and modes")


def test_concurrent_writers_to_one_file_never_fail(tmp_path):
    target = tmp_path / "flow.json"
    errors: list[BaseException] = []
    payloads = [f"writer {i} ".encode() * 500 for i in range(8)]

    def writer(data: bytes) -> None:
        try:
            for _ in range(40):
                atomic_write_bytes(target, data)
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in payloads  # one whole write, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["flow.json"]  # no temp files left


@posix_only
def test_a_symlinked_file_stays_a_link_and_its_target_is_updated(tmp_path):
    real = tmp_path / "real" / "flow.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "flow.json"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


@posix_only
def test_the_mode_of_an_existing_file_is_kept(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "new"


@posix_only
def test_a_new_file_gets_the_umask_mode_not_private_temp_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_exclusive_never_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "pic_00001.png"
    atomic_write_bytes(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["pic_00001.png"]


@posix_only
def test_exclusive_refuses_a_dangling_link(tmp_path):
    outside = tmp_path / "outside.txt"
    link = tmp_path / "out.png"
    link.symlink_to(outside)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(link, b"x", exclusive=True)
    assert not outside.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
