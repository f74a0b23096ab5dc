"""Downloads treated as hostile input (issue 10, items 1, 8 and 9), against a server on 127.0.0.1.

Names from links stay plain file names, bodies are bounded, a full disk is a clean error, and a
``.part`` is resumed only when it is known to be a prefix of the same file.
"""

from __future__ import annotations

import errno
import hashlib
from collections import namedtuple
from pathlib import Path

import pytest

from studio.diffusion import downloads
from studio.diffusion.downloads import (
    DownloadError,
    TooLarge,
    UnsafeName,
    download,
    meta_path,
    part_path,
    safe_file_name,
    url_file_name,
)
from studio.diffusion.model_hash import HashCache

from .conftest import DATA, SHA


@pytest.fixture
def cache(tmp_path):
    return HashCache(tmp_path / "hashes.json")


@pytest.mark.parametrize("url", [
    "http://h/a/..%2F..%2Fplugins%2Fevil.py", "http://h/a/..%2f..%2fx.safetensors", "http://h/%2e%2e",
    "http://h/..%5C..%5Cx.safetensors", "http://h/x%00.safetensors", "http://h/.hidden.safetensors",
    "http://h/-rf.safetensors", "http://h/" + "a" * 300 + ".safetensors", "http://h/", "http://h/a/",
    "http://h/evil%E2%80%AEgnp.safetensors", "http://h/bad%FF.safetensors", "http://h/CON.safetensors",
    "http://h/a%3A.safetensors", "http://h/trailing.safetensors.",
])
def test_names_from_links_are_decoded_then_refused(url: str) -> None:
    with pytest.raises(UnsafeName, match="refusing the file name"):
        url_file_name(url)


def test_plain_names_pass() -> None:
    assert url_file_name("http://h/files/my%20lora.safetensors?download=true") == "my lora.safetensors"
    assert safe_file_name("v1-5-pruned-emaonly.safetensors") == "v1-5-pruned-emaonly.safetensors"


def test_download_itself_refuses_an_unsafe_destination_name(server, tmp_path, cache) -> None:
    with pytest.raises(UnsafeName):
        download(f"{server.url}/m", tmp_path / "models" / "..", cache=cache)
    with pytest.raises(DownloadError, match="only http and https"):
        download("file:///etc/hostname", tmp_path / "h.safetensors", cache=cache)
    assert server.requests == [] and not (tmp_path / "h.safetensors").exists()


@pytest.mark.parametrize("target", ["file:///etc/hostname", "ftp://127.0.0.1/x.safetensors"])
def test_a_redirect_off_http_is_refused(server, tmp_path, cache, target) -> None:
    server.redirects["/r"] = target
    with pytest.raises(DownloadError, match="refusing a redirect|is not allowed"):
        download(f"{server.url}/r", tmp_path / "h.safetensors", cache=cache, timeout=5)
    assert not (tmp_path / "h.safetensors").exists()


def test_a_token_is_not_sent_on_to_where_a_redirect_points(server, tmp_path, cache) -> None:
    server.redirects["/gated"] = f"{server.url}/m"
    download(f"{server.url}/gated", tmp_path / "m.safetensors", sha256=SHA, token="secret", cache=cache)
    assert [r["authorization"] for r in server.requests] == ["Bearer secret", None]


# --- size ----------------------------------------------------------------------------------------------


def test_an_endless_body_stops_at_the_ceiling_and_is_removed(server, tmp_path, cache) -> None:
    dest = tmp_path / "e.safetensors"
    with pytest.raises(TooLarge, match="more than"):
        download(f"{server.url}/endless", dest, cache=cache, max_bytes=3 * 2**20, chunk_size=65536)
    assert not dest.exists() and not part_path(dest).exists()


def test_an_endless_body_stops_at_the_expected_size(server, tmp_path, cache) -> None:
    dest = tmp_path / "e.safetensors"
    with pytest.raises(TooLarge):
        download(f"{server.url}/endless", dest, size=500_000, cache=cache, chunk_size=65536)
    assert not dest.exists() and not part_path(dest).exists()


def test_an_announced_size_over_the_ceiling_is_refused_before_any_byte(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    with pytest.raises(TooLarge, match="more than the"):
        download(f"{server.url}/m", dest, cache=cache, max_bytes=len(DATA) - 1)
    assert not part_path(dest).exists()
    with pytest.raises(TooLarge):
        download(f"{server.url}/m", dest, size=10**12, cache=cache)
    assert len(server.requests) == 1  # the second one is refused without asking


def test_too_little_free_space_is_refused_before_downloading(server, tmp_path, cache, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    dest = tmp_path / "m.safetensors"
    with pytest.raises(TooLarge, match="free; make room"):
        download(f"{server.url}/m", dest, cache=cache)
    assert not part_path(dest).exists() and not dest.exists()


class _FillingFile:
    """A ``.part`` on a disk that fills up after ``room`` bytes (the real file gets what fitted)."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, block: bytes) -> int:
        if len(block) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(block)
        return self.f.write(block)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def test_a_full_disk_is_a_clean_error_and_frees_the_part(server, tmp_path, cache, monkeypatch) -> None:
    monkeypatch.setattr(downloads, "open", lambda path, mode: _FillingFile(open(path, mode), 100_000),  # noqa: SIM115
                        raising=False)
    dest = tmp_path / "m.safetensors"
    with pytest.raises(DownloadError, match="the disk is full") as err:
        download(f"{server.url}/m", dest, cache=cache, chunk_size=50_000)
    assert type(err.value) is DownloadError
    assert not part_path(dest).exists() and not meta_path(dest).exists() and not dest.exists()


# --- resuming --------------------------------------------------------------------------------------------


def test_a_stale_part_without_hash_or_validator_starts_over(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    part_path(dest).write_bytes(b"\xff" * 1000)  # from another file, or an older version of this one
    download(f"{server.url}/m", dest, cache=cache)
    assert dest.read_bytes() == DATA
    assert server.requests[0]["range"] is None


def test_a_part_whose_file_changed_is_restarted_through_if_range(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    server.etag = '"v1"'
    server.drop_after = 100_000
    with pytest.raises(DownloadError, match="try again to resume"):
        download(f"{server.url}/m", dest, cache=cache, retries=0, timeout=5)
    assert part_path(dest).stat().st_size == 100_000
    new = bytes(reversed(DATA))
    server.body, server.etag = new, '"v2"'  # the file changed on the server meanwhile
    download(f"{server.url}/m", dest, cache=cache, timeout=5)
    assert dest.read_bytes() == new and hashlib.sha256(new).hexdigest() != SHA
    assert server.requests[-1]["if_range"] == '"v1"' and server.requests[-1]["range"] == "bytes=100000-"
    assert not meta_path(dest).exists()


def test_an_unchanged_file_is_resumed_through_if_range(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    server.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.drop_after = 100_000
    with pytest.raises(DownloadError, match="try again to resume"):
        download(f"{server.url}/m", dest, cache=cache, retries=0, timeout=5)
    download(f"{server.url}/m", dest, cache=cache, timeout=5)
    assert dest.read_bytes() == DATA
    assert server.requests[-1]["if_range"] == server.last_modified
    assert server.requests[-1]["range"] == "bytes=100000-"


def test_a_server_that_ignores_if_range_but_changed_its_etag_restarts(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    server.etag, server.drop_after = '"v1"', 100_000
    with pytest.raises(DownloadError, match="try again to resume"):
        download(f"{server.url}/m", dest, cache=cache, retries=0, timeout=5)
    new = bytes(reversed(DATA))
    server.body, server.etag, server.honour_if_range = new, '"v2"', False  # sends 206 of the new file anyway
    download(f"{server.url}/m", dest, cache=cache, timeout=5)
    assert dest.read_bytes() == new
    assert [r["range"] for r in server.requests[-2:]] == ["bytes=100000-", None]


def test_a_part_that_is_not_a_regular_file_is_refused(server, tmp_path, cache) -> None:
    dest = tmp_path / "m.safetensors"
    part_path(dest).symlink_to(Path("/dev/null"))
    with pytest.raises(DownloadError, match="not a regular file"):
        download(f"{server.url}/m", dest, cache=cache)
    assert server.requests == []
