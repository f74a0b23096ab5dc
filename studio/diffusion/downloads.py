"""Download a model file on request: resumable, verified, cancellable, never overwriting.

Bytes stream into ``<dest>.part``; an interrupted or cancelled download keeps it, and the next
attempt asks the server for the rest with an HTTP ``Range`` (a server that ignores it sends the whole
file, and the ``.part`` starts over). When the expected SHA-256 is known the result is checked before
it is renamed into place (a mismatch removes it); the rename is atomic, so a file under its final
name is always complete. Nothing here runs unless the user asked for a download.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .model_hash import Cancel, HashCache, default_cache, sha256_file

CHUNK = 1024 * 1024
HF_BASE = "https://huggingface.co"


class DownloadError(Exception):
    """A download failed; ``str(exc)`` says why and what to do."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the ``.part`` file is kept so the next attempt resumes."""


class HashMismatch(DownloadError):
    """The downloaded bytes are not the expected file; the download was removed."""


class AlreadyExists(DownloadError):
    """A different (or unverifiable) file already has the destination's name."""


class NotFound(DownloadError):
    """The server has no such file (HTTP 404)."""


@dataclass(frozen=True)
class DownloadProgress:
    name: str
    done: int  # bytes of the file on disk so far (resumed bytes included)
    total: int | None  # None when the server does not say
    speed: float  # bytes per second over this attempt

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


ProgressFn = Callable[[DownloadProgress], None]


def hf_url(repo: str, file: str, revision: str = "main") -> str:
    """``https://huggingface.co/<repo>/resolve/<revision>/<file>`` with each part quoted."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ValueError(f"not a Hugging Face repo id (owner/name): {repo!r}")
    quote = urllib.parse.quote
    return f"{HF_BASE}/{repo}/resolve/{quote(revision, safe='')}/{quote(file.lstrip('/'))}"


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


# One download per destination in this process: two writers appending to one .part would corrupt it.
_active: set[str] = set()
_active_lock = threading.Lock()


def download(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
             progress: ProgressFn | None = None, cancel: Cancel | None = None, timeout: float = 30.0,
             retries: int = 2, token: str | None = None, cache: HashCache | None = None,
             chunk_size: int = CHUNK) -> Path:
    """Fetch ``url`` into ``dest`` and return it.

    ``sha256`` / ``size``, when known, are checked (and let an existing identical file count as done).
    A dropped connection is resumed up to ``retries`` times within this call; after that the ``.part``
    stays for the next call. ``timeout`` bounds connecting and each read.
    """
    dest = Path(dest).expanduser()
    sha256 = sha256.lower() if sha256 else None
    cache = cache or default_cache()
    if dest.exists():
        return _existing(dest, sha256, size, cache)
    key = str(dest.resolve())
    with _active_lock:
        if key in _active:
            raise DownloadError(f"{dest.name} is already being downloaded")
        _active.add(key)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            try:
                _fetch(url, dest, size, progress, cancel, timeout, token, chunk_size)
                break
            except _Interrupted as exc:
                attempt += 1
                if attempt > retries:
                    part = part_path(dest)
                    kept = part.stat().st_size if part.exists() else 0
                    hint = f"; {_fmt(kept)} kept in {part.name}, try again to resume" if kept else ""
                    raise DownloadError(f"{dest.name}: {exc}{hint}") from None
                time.sleep(min(0.2 * attempt, 2.0))
        return _finish(dest, sha256, size, cache)
    finally:
        with _active_lock:
            _active.discard(key)


class _Interrupted(Exception):
    """The transfer stopped early in a way that resuming may fix."""


class _RangeEnd(Exception):
    """HTTP 416: nothing left after the ``.part``'s bytes; ``total`` is the file's size if the server says."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def _existing(dest: Path, sha256: str | None, size: int | None, cache: HashCache) -> Path:
    if sha256:
        got = cache.hash(dest)
        if got == sha256:
            return dest
        raise AlreadyExists(f"{dest} already exists and is a different file (SHA-256 {got}, expected "
                            f"{sha256}); move it away to download this one")
    if size is not None and dest.stat().st_size != size:
        raise AlreadyExists(f"{dest} already exists and is a different file ({dest.stat().st_size} bytes, "
                            f"expected {size}); move it away to download this one")
    if size is not None:
        return dest
    raise AlreadyExists(f"{dest} already exists; move it away (or delete it) to download it again")


def _request(url: str, start: int, token: str | None) -> urllib.request.Request:
    from studio import __version__

    headers = {"User-Agent": f"latent-studio/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers=headers)


def _open(url: str, start: int, timeout: float, token: str | None) -> http.client.HTTPResponse:
    """The response to a (ranged) GET; ``_RangeEnd`` when the range starts at or past the end."""
    host = urllib.parse.urlsplit(url).netloc or url
    try:
        return urllib.request.urlopen(_request(url, start, token), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            m = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", "") if exc.headers else "")
            raise _RangeEnd(int(m.group(1)) if m else None) from None
        if exc.code == 404:
            raise NotFound(f"{url}: not found (HTTP 404)") from None
        if exc.code in (401, 403):
            raise DownloadError(f"{url}: access refused (HTTP {exc.code}); the repo may be gated: accept its "
                                "licence on its page and pass an access token") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Interrupted(f"no answer from {host} within {timeout:g} s") from None
        raise DownloadError(f"cannot reach {host}: {exc.reason}") from None
    except TimeoutError:
        raise _Interrupted(f"no answer from {host} within {timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise _Interrupted(f"connection to {host} failed ({exc})") from None


def _fetch(url: str, dest: Path, size: int | None, progress: ProgressFn | None, cancel: Cancel | None,
           timeout: float, token: str | None, chunk_size: int) -> None:
    part = part_path(dest)
    if cancel is not None and cancel.cancelled:
        raise DownloadCancelled(f"download of {dest.name} cancelled")
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        start = 0  # longer than the file can be: not a prefix of it
        part.unlink()
    try:
        resp = _open(url, start, timeout, token)
    except _RangeEnd as end:
        if end.total == start or (end.total is None and size in (None, start)):
            return  # the .part already holds the whole file
        part.unlink()  # not a prefix of this file: start over
        start = 0
        resp = _open(url, 0, timeout, token)
    with resp:
        status = resp.status
        total = _total(resp, start if status == 206 else 0)
        if status == 206 and _range_start(resp) != start:
            raise DownloadError(f"{url}: the server answered a different range than asked for")
        if status != 206:
            start = 0  # Range ignored: the whole file is coming, start over
        mode = "ab" if start else "wb"
        done = start
        t0, last = time.monotonic(), 0.0  # the first chunk is always reported
        with open(part, mode) as f:
            while True:
                if cancel is not None and cancel.cancelled:
                    f.flush()
                    raise DownloadCancelled(f"download of {dest.name} cancelled; {_fmt(done)} kept for resuming")
                try:
                    block = resp.read(chunk_size)
                except TimeoutError:
                    raise _Interrupted(f"the server stopped sending for {timeout:g} s") from None
                except (ConnectionError, http.client.HTTPException, OSError) as exc:
                    raise _Interrupted(f"the connection dropped ({exc.__class__.__name__})") from None
                if not block:
                    break
                f.write(block)
                done += len(block)
                now = time.monotonic()
                if progress is not None and (now - last >= 0.1 or done == total):
                    last = now  # at most ten reports a second
                    progress(DownloadProgress(dest.name, done, total, (done - start) / max(now - t0, 1e-6)))
            f.flush()
            os.fsync(f.fileno())
    if total is not None and done < total:
        raise _Interrupted(f"the connection closed after {_fmt(done)} of {_fmt(total)}")


def _total(resp: http.client.HTTPResponse, start: int) -> int | None:
    content_range = resp.headers.get("Content-Range", "")
    m = re.match(r"bytes \d+-\d+/(\d+)", content_range)
    if m:
        return int(m.group(1))
    length = resp.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _range_start(resp: http.client.HTTPResponse) -> int | None:
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _finish(dest: Path, sha256: str | None, size: int | None, cache: HashCache) -> Path:
    part = part_path(dest)
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()
        raise DownloadError(f"{dest.name}: got {got_size} bytes, expected {size}; the download was removed, "
                            "try again")
    got = sha256_file(part) if sha256 else None
    if sha256 and got != sha256:
        part.unlink()
        raise HashMismatch(f"{dest.name}: SHA-256 mismatch (expected {sha256}, got {got}); the download was "
                           "removed")
    if dest.exists():  # appeared while downloading: fine if it is the very same file
        if (got or sha256_file(part)) == cache.hash(dest):
            part.unlink()
            return dest
        raise AlreadyExists(f"{dest} appeared while downloading and is a different file; the download is kept as "
                            f"{part.name}")
    os.replace(part, dest)
    if got:
        cache.put(dest, got)
    return dest


def _fmt(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"
