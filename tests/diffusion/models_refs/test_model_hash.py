"""Model hashes: computed once per file, remembered across processes, recomputed when the file changes."""

from __future__ import annotations

import hashlib
import os

import pytest

from studio.core.context import CancelledError, CancelToken
from studio.diffusion import model_hash
from studio.diffusion.model_hash import HashCache, hash_matches, sha256_file, short_hash


@pytest.fixture
def reads(monkeypatch):
    """Count full reads of model files (every hash that is not served by the cache)."""
    calls: list[str] = []
    real = model_hash.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(model_hash, "sha256_file", counting)
    return calls


def _file(tmp_path, name="m.safetensors", data=b"weights" * 1000):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_sha256_in_chunks_with_progress_and_the_a1111_short_hash(tmp_path):
    data = os.urandom(100_000)
    p = _file(tmp_path, data=data)
    seen = []
    sha = sha256_file(p, progress=lambda done, total: seen.append((done, total)), chunk_size=30_000)
    assert sha == hashlib.sha256(data).hexdigest()
    assert [d for d, _ in seen] == [30_000, 60_000, 90_000, 100_000] and {t for _, t in seen} == {100_000}
    assert short_hash(sha) == sha[:10]
    assert hash_matches(sha, sha[:10].upper()) and hash_matches(sha, sha)
    assert not hash_matches(sha, sha[:9]) and not hash_matches(sha, "0" * 10)


def test_hashing_is_cancellable_between_chunks(tmp_path):
    p = _file(tmp_path, data=os.urandom(50_000))
    token = CancelToken()
    with pytest.raises(CancelledError):
        sha256_file(p, progress=lambda done, total: token.cancel(), cancel=token, chunk_size=10_000)


def test_a_file_is_read_once_even_across_cache_instances(tmp_path, reads):
    p = _file(tmp_path)
    store = tmp_path / "cache" / "hashes.json"
    first = HashCache(store).hash(p)
    assert HashCache(store).hash(p) == first  # another process: from the cache file
    assert HashCache(store).get(p) == first
    assert reads == [str(p)]


def test_a_changed_size_or_mtime_invalidates_the_entry(tmp_path, reads):
    p = _file(tmp_path)
    cache = HashCache(tmp_path / "h.json")
    a = cache.hash(p)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert cache.get(p) is None
    assert cache.hash(p) == a and len(reads) == 2
    p.write_bytes(b"other weights")
    b = cache.hash(p)
    assert b == hashlib.sha256(b"other weights").hexdigest() and len(reads) == 3


@pytest.mark.parametrize("junk", [b"{not json", b"[1, 2]", b'{"files": 7}', b"\xff\xfe\x00", b""])
def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path, junk, reads):
    store = tmp_path / "h.json"
    store.write_bytes(junk)
    p = _file(tmp_path)
    cache = HashCache(store)
    assert cache.get(p) is None
    sha = cache.hash(p)
    assert HashCache(store).get(p) == sha  # rewritten as a valid cache


def test_two_writers_keep_each_others_entries(tmp_path):
    store = tmp_path / "h.json"
    a, b = _file(tmp_path, "a.bin", b"a"), _file(tmp_path, "b.bin", b"b")
    one, two = HashCache(store), HashCache(store)
    one.get(a), two.get(b)  # both loaded the (empty) file before either wrote
    one.hash(a)
    two.hash(b)
    fresh = HashCache(store)
    assert fresh.get(a) == hashlib.sha256(b"a").hexdigest()
    assert fresh.get(b) == hashlib.sha256(b"b").hexdigest()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_put_records_a_known_hash_and_a_missing_file_has_none(tmp_path, reads):
    p = _file(tmp_path)
    cache = HashCache(tmp_path / "h.json")
    cache.put(p, "AB" * 32)
    assert cache.hash(p) == "ab" * 32 and reads == []
    assert cache.get(tmp_path / "gone.safetensors") is None
    with pytest.raises(FileNotFoundError):
        cache.hash(tmp_path / "gone.safetensors")
