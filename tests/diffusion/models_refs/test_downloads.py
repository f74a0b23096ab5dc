"""Downloads against a local HTTP server (127.0.0.1 only): resume, verification, cancel, restarts."""

from __future__ import annotations

import hashlib

import pytest

from studio.core.context import CancelToken
from studio.diffusion.downloads import (
    AlreadyExists,
    DownloadCancelled,
    DownloadError,
    HashMismatch,
    NotFound,
    download,
    hf_url,
    part_path,
)
from studio.diffusion.model_hash import HashCache

from .conftest import DATA, SHA


@pytest.fixture
def cache(tmp_path):
    return HashCache(tmp_path / "hashes.json")


def test_a_plain_download_verifies_reports_progress_and_records_the_hash(server, tmp_path, cache):
    dest = tmp_path / "models" / "m.safetensors"
    seen = []
    out = download(f"{server.url}/m", dest, sha256=SHA.upper(), size=len(DATA), progress=seen.append,
                   cache=cache, chunk_size=64_000)
    assert out == dest and dest.read_bytes() == DATA and not part_path(dest).exists()
    assert seen[-1].done == len(DATA) and seen[-1].total == len(DATA) and seen[-1].fraction == 1.0
    assert seen[-1].speed > 0 and seen[-1].name == "m.safetensors"
    assert cache.get(dest) == SHA


def test_a_dropped_connection_resumes_with_range_and_verifies(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    server.drop_after = 100_000
    with pytest.raises(DownloadError, match="try again to resume") as err:
        download(f"{server.url}/m", dest, sha256=SHA, retries=0, cache=cache, timeout=5)
    assert not isinstance(err.value, HashMismatch)
    assert part_path(dest).stat().st_size == 100_000 and not dest.exists()
    download(f"{server.url}/m", dest, sha256=SHA, retries=0, cache=cache, timeout=5)
    assert dest.read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [None, "bytes=100000-"]


def test_a_dropped_connection_is_resumed_within_the_call_when_retries_are_allowed(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    server.drop_after = 50_000
    download(f"{server.url}/m", dest, sha256=SHA, retries=1, cache=cache, timeout=5)
    assert dest.read_bytes() == DATA and server.requests[-1]["range"] == "bytes=50000-"


def test_wrong_bytes_fail_the_hash_check_and_are_removed(server, tmp_path, cache):
    server.body = b"x" * len(DATA)
    dest = tmp_path / "m.safetensors"
    with pytest.raises(HashMismatch) as err:
        download(f"{server.url}/m", dest, sha256=SHA, cache=cache)
    assert f"expected {SHA}" in str(err.value) and hashlib.sha256(server.body).hexdigest() in str(err.value)
    assert not dest.exists() and not part_path(dest).exists()


def test_a_wrong_size_is_refused(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    with pytest.raises(DownloadError, match="expected 12"):
        download(f"{server.url}/m", dest, size=12, cache=cache)
    assert not dest.exists() and not part_path(dest).exists()


def test_cancel_keeps_the_part_for_resuming(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    token = CancelToken()

    def progress(p):
        token.cancel()  # after the first chunk

    with pytest.raises(DownloadCancelled):
        download(f"{server.url}/m", dest, sha256=SHA, progress=progress, cancel=token, cache=cache,
                 chunk_size=20_000)
    kept = part_path(dest).stat().st_size
    assert kept == 20_000 and not dest.exists()
    download(f"{server.url}/m", dest, sha256=SHA, cache=cache)
    assert dest.read_bytes() == DATA and server.requests[-1]["range"] == f"bytes={kept}-"


def test_a_server_that_ignores_range_restarts_cleanly(server, tmp_path, cache):
    server.honour_range = False
    dest = tmp_path / "m.safetensors"
    part_path(dest).write_bytes(b"garbage that is not a prefix of the file")
    download(f"{server.url}/m", dest, sha256=SHA, cache=cache)
    assert dest.read_bytes() == DATA
    assert server.requests[0]["range"] is not None  # it asked, got the whole file, and started over


def test_a_complete_part_is_finished_after_416(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    part_path(dest).write_bytes(DATA)
    download(f"{server.url}/m", dest, sha256=SHA, cache=cache)
    assert dest.read_bytes() == DATA


def test_existing_files_are_never_overwritten(server, tmp_path, cache):
    dest = tmp_path / "m.safetensors"
    dest.write_bytes(DATA)
    assert download(f"{server.url}/m", dest, sha256=SHA, cache=cache) == dest  # the same file: done
    assert server.requests == []
    dest.write_bytes(b"someone else's model")
    for kwargs in ({"sha256": SHA}, {"size": len(DATA)}, {}):
        with pytest.raises(AlreadyExists):
            download(f"{server.url}/m", dest, cache=cache, **kwargs)
    assert dest.read_bytes() == b"someone else's model" and server.requests == []


def test_http_errors_and_timeouts_are_clear(server, tmp_path, cache):
    with pytest.raises(NotFound, match="404"):
        download(f"{server.url}/missing", tmp_path / "a.bin", cache=cache)
    server.slow = 2.0
    with pytest.raises(DownloadError, match=r"within 0.3 s|stopped sending for 0.3 s"):  # the timeout fired
        download(f"{server.url}/slow", tmp_path / "b.bin", cache=cache, timeout=0.3, retries=0)
    with pytest.raises(DownloadError, match="cannot reach"):
        download("http://127.0.0.1:9/x", tmp_path / "c.bin", cache=cache, timeout=1, retries=0)


def test_hugging_face_urls():
    assert hf_url("org/repo-name", "sub dir/model.safetensors") == (
        "https://huggingface.co/org/repo-name/resolve/main/sub%20dir/model.safetensors")
    assert hf_url("a/b", "x.json", "refs/pr/1").endswith("/resolve/refs%2Fpr%2F1/x.json")
    with pytest.raises(ValueError):
        hf_url("not a repo", "x")
