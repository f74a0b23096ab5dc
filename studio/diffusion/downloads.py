"""Download a model file on request: resumable, verified, bounded, cancellable, never overwriting.

Bytes stream into ``<dest>.part``; an interrupted or cancelled download keeps it, and the next
attempt asks the server for the rest with an HTTP ``Range``. A ``.part`` is resumed only when it is
known to be a prefix of the same file: the server's ``ETag`` / ``Last-Modified`` are kept beside it
(``<dest>.part.meta``) and sent back as ``If-Range`` (a server whose file changed sends the whole
new file), or the expected SHA-256 is known and checked at the end; otherwise the download starts
over. When the SHA-256 is known the result is checked before it is renamed into place (a mismatch
removes it); the rename is atomic, so a file under its final name is always complete.

Links come from the web, so everything about them is bounded: only http(s), the file name (from
the caller or the URL) must be one plain name that stays in its folder, the body may not exceed the
size the catalogue or the server announced nor a hard ceiling, and a download stops before the disk
is full. Nothing here runs unless the user asked for a download.

``huggingface_hub`` is not used for Hugging Face files: it offers no per-chunk progress or cancel
hook, no size ceiling, writes its own metadata folder into the target, and is switched off entirely
by ``HF_HUB_OFFLINE`` (which the tests set), so it could not be tested against a local server.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import re
import shutil
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError
from .model_hash import Cancel, HashCache, default_cache, sha256_file

CHUNK = 1024 * 1024
HF_BASE = "https://huggingface.co"
# No supported model is near this (an fp32 SDXL checkpoint is 14 GB); a body without a known size
# stops here instead of filling the disk.
MAX_DOWNLOAD_BYTES = 24 * 2**30
FREE_SPACE_RESERVE = 256 * 2**20  # a download never leaves less than this free on its disk
FREE_SPACE_CHECK_EVERY = 64 * 2**20
MAX_NAME_BYTES = 200  # leaves room for ".part.meta" within the usual 255-byte limit
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                    *(f"lpt{i}" for i in range(1, 10))}


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


class UnsafeName(DownloadError):
    """The file name (given, or taken from a URL) could not stay a plain file in its folder."""


class TooLarge(DownloadError):
    """The file is larger than announced, than the ceiling, or than the free disk space allows."""


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
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo) or any(p in (".", "..") for p in repo.split("/")):
        raise ValueError(f"not a Hugging Face repo id (owner/name): {repo!r}")
    quote = urllib.parse.quote
    return f"{HF_BASE}/{repo}/resolve/{quote(revision, safe='')}/{quote(file.lstrip('/'))}"


def safe_file_name(name: str) -> str:
    """``name`` when it is one plain file name that stays in the folder it is written to, on any
    system; else ``UnsafeName`` saying why. Used for every name that comes from a link."""
    shown = repr(name[:80] + ("…" if len(name) > 80 else ""))

    def refuse(why: str) -> UnsafeName:
        return UnsafeName(f"refusing the file name {shown}: {why}")

    if not name:
        raise refuse("it is empty")
    if "/" in name or "\\" in name:
        raise refuse("it contains a path separator")
    if name in (".", "..") or name.startswith("."):
        raise refuse("it starts with a dot (a hidden file, or the folder above)")
    if name.startswith("-"):
        raise refuse("it starts with a dash")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name) or "\ufffd" in name:
        raise refuse("it contains control, invisible or undecodable characters")
    if any(c in '<>:"|?*' for c in name):
        raise refuse('it contains one of < > : " | ? *')
    if name.endswith((" ", ".")):
        raise refuse("it ends with a space or a dot")
    if name.split(".", 1)[0].lower() in _WINDOWS_DEVICES:
        raise refuse("it is a reserved device name on Windows")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise refuse(f"it is longer than {MAX_NAME_BYTES} bytes")
    return name


def url_file_name(url: str) -> str:
    """The file name a URL's path ends with, percent-decoded and then checked (``safe_file_name``):
    ``…/..%2F..%2Fplugins%2Fx.py`` decodes to a name with separators and is refused."""
    raw = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    return safe_file_name(urllib.parse.unquote(raw, errors="replace"))


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def meta_path(dest: Path) -> Path:
    """Where the server's validators for a ``.part`` are kept (what makes resuming it safe)."""
    return dest.with_name(dest.name + ".part.meta")


# One download per destination in this process: two writers appending to one .part would corrupt it.
_active: set[str] = set()
_active_lock = threading.Lock()


def download(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
             progress: ProgressFn | None = None, cancel: Cancel | None = None, timeout: float = 30.0,
             retries: int = 2, token: str | None = None, cache: HashCache | None = None,
             chunk_size: int = CHUNK, max_bytes: int | None = None) -> Path:
    """Fetch ``url`` into ``dest`` and return it.

    ``sha256`` / ``size``, when known, are checked (and let an existing identical file count as done).
    A dropped connection is resumed up to ``retries`` times within this call; after that the ``.part``
    stays for the next call. ``timeout`` bounds connecting and each read. The body may not exceed
    ``size``, the server's announced length, or ``max_bytes`` (default ``MAX_DOWNLOAD_BYTES``;
    ``TooLarge``).
    """
    max_bytes = MAX_DOWNLOAD_BYTES if max_bytes is None else max_bytes
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"only http and https links can be downloaded, not {scheme or 'this'}: {url[:200]}")
    dest = Path(dest).expanduser()
    safe_file_name(dest.name)
    sha256 = sha256.lower() if sha256 else None
    if size is not None and size > max_bytes:
        raise TooLarge(f"{dest.name}: {_fmt(size)} is more than the {_fmt(max_bytes)} a download may be")
    cache = cache or default_cache()
    if dest.exists() or dest.is_symlink():
        return _existing(dest, sha256, size, cache)
    try:
        key = str(dest.resolve())
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise DownloadError(f"cannot write into {dest.parent}: {exc}") from None
    with _active_lock:
        if key in _active:
            raise DownloadError(f"{dest.name} is already being downloaded")
        _active.add(key)
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError(f"cannot create {dest.parent}: {exc.strerror or exc}") from None
        limits = _Limits(size if size is not None else max_bytes, size, max_bytes)
        attempt = 0
        while True:
            try:
                _fetch(url, dest, bool(sha256), limits, progress, cancel, timeout, token, chunk_size)
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


@dataclass(frozen=True)
class _Limits:
    ceiling: int  # the most bytes the file may have
    size: int | None  # the expected size, when the caller knows it
    max_bytes: int


class _Interrupted(Exception):
    """The transfer stopped early in a way that resuming may fix."""


class _Restart(Exception):
    """The ``.part`` is not a prefix of the file the server has now: start over from zero."""


class _RangeEnd(Exception):
    """HTTP 416: nothing left after the ``.part``'s bytes; ``total`` is the file's size if the server says."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def _existing(dest: Path, sha256: str | None, size: int | None, cache: HashCache) -> Path:
    if not dest.is_file():
        raise AlreadyExists(f"{dest} already exists and is not a regular file; move it away to download this one")
    if sha256:
        try:
            got = cache.hash(dest)
        except (OSError, ModelError) as exc:
            raise AlreadyExists(f"{dest} already exists and cannot be read ({exc}); move it away") from None
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


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Redirects stay on http(s) (never ``file:`` or ``ftp:``)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise DownloadError(f"{req.full_url}: refusing a redirect to a {scheme or 'relative'} link")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_Redirects())


def _request(url: str, start: int, token: str | None, validator: str | None) -> urllib.request.Request:
    from studio import __version__

    headers = {"User-Agent": f"latent-studio/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
        if validator:
            headers["If-Range"] = validator
    req = urllib.request.Request(url, headers=headers)
    if token:
        # Not repeated on a redirect: the token is for the host it was given for, not for a CDN.
        req.add_unredirected_header("Authorization", f"Bearer {token}")
    return req


def _open(url: str, start: int, timeout: float, token: str | None,
          validator: str | None = None) -> http.client.HTTPResponse:
    """The response to a (ranged) GET; ``_RangeEnd`` when the range starts at or past the end."""
    host = urllib.parse.urlsplit(url).netloc or url
    try:
        return _opener.open(_request(url, start, token, validator), timeout=timeout)
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
    except ValueError as exc:  # a malformed URL
        raise DownloadError(f"cannot download {url[:200]}: {exc}") from None


# --- the .part and what makes it resumable --------------------------------------------------------


def _discard(dest: Path) -> None:
    for p in (part_path(dest), meta_path(dest)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _read_meta(dest: Path) -> dict[str, Any]:
    try:
        with open(meta_path(dest), "rb") as f:
            meta = json.loads(f.read(65536).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(dest: Path, url: str, resp: http.client.HTTPResponse, total: int | None) -> None:
    etag = resp.headers.get("ETag")
    meta = {"url": url, "etag": etag if etag and not etag.startswith("W/") else None,
            "last_modified": resp.headers.get("Last-Modified"), "total": total}
    with contextlib.suppress(OSError):  # without it the .part is restarted, not resumed: still correct
        meta_path(dest).write_text(json.dumps(meta), encoding="utf-8")


def _validator(meta: dict[str, Any], url: str) -> str | None:
    """What to send as ``If-Range``: a strong ETag, else the Last-Modified date (None: cannot tell)."""
    if meta.get("url") != url:
        return None
    for key in ("etag", "last_modified"):
        value = meta.get(key)
        if isinstance(value, str) and value and len(value) < 512 and value.isprintable():
            return value
    return None


def _fetch(url: str, dest: Path, verified: bool, limits: _Limits, progress: ProgressFn | None,
           cancel: Cancel | None, timeout: float, token: str | None, chunk_size: int) -> None:
    try:
        _transfer(url, dest, verified, limits, progress, cancel, timeout, token, chunk_size)
    except _Restart:
        _discard(dest)
        _transfer(url, dest, verified, limits, progress, cancel, timeout, token, chunk_size)


def _transfer(url: str, dest: Path, verified: bool, limits: _Limits, progress: ProgressFn | None,
              cancel: Cancel | None, timeout: float, token: str | None, chunk_size: int) -> None:
    part = part_path(dest)
    if cancel is not None and cancel.cancelled:
        raise DownloadCancelled(f"download of {dest.name} cancelled")
    if part.is_symlink() or (part.exists() and not part.is_file()):
        raise DownloadError(f"{part} is not a regular file; move it away to download {dest.name}")
    start = part.stat().st_size if part.exists() else 0
    meta = _read_meta(dest) if start else {}
    validator = _validator(meta, url) if start else None
    if start and (start > limits.ceiling or (validator is None and not verified)):
        _discard(dest)  # not known to be a prefix of this file (a stale or foreign .part): start over
        start, meta = 0, {}
    try:
        resp = _open(url, start, timeout, token, validator)
    except _RangeEnd as end:
        if end.total == start or (end.total is None and limits.size in (None, start)):
            return  # the .part already holds the whole file
        raise _Restart from None
    with resp:
        status = resp.status
        if status == 206:
            if _range_start(resp) != start:
                raise DownloadError(f"{url}: the server answered a different range than asked for")
            etag = resp.headers.get("ETag")
            if (meta.get("total") is not None and _total(resp, start) != meta.get("total")) or (
                    meta.get("etag") and etag and etag != meta.get("etag")):
                raise _Restart  # the server ignored If-Range but its file changed
        else:
            start = 0  # the whole file is coming (Range ignored, or If-Range said it changed)
        total = _total(resp, start)
        _check_size(dest, total, start, limits)
        if start == 0:
            _write_meta(dest, url, resp, total)
        _receive(resp, dest, start, total if total is not None else limits.ceiling, total, progress, cancel,
                 timeout, chunk_size)


def _check_size(dest: Path, total: int | None, start: int, limits: _Limits) -> None:
    """Refuse before receiving a byte what cannot fit: more than expected, than allowed, than the disk."""
    if total is None:
        return
    if limits.size is not None and total != limits.size:
        _discard(dest)
        raise DownloadError(f"{dest.name}: the server's file has {total} bytes, expected {limits.size}; "
                            "nothing was downloaded")
    if total > limits.max_bytes:
        _discard(dest)
        raise TooLarge(f"{dest.name}: the server's file is {_fmt(total)}, more than the {_fmt(limits.max_bytes)} "
                       "a download may be")
    free = _free_space(dest.parent)
    if free is not None and free - (total - start) < FREE_SPACE_RESERVE:
        raise TooLarge(f"{dest.name} needs {_fmt(total - start)} more but {dest.parent} has only {_fmt(free)} "
                       "free; make room and try again")


def _receive(resp: http.client.HTTPResponse, dest: Path, start: int, limit: int, total: int | None,
             progress: ProgressFn | None, cancel: Cancel | None, timeout: float, chunk_size: int) -> None:
    part = part_path(dest)
    done = start
    t0, last = time.monotonic(), 0.0  # the first chunk is always reported
    next_space_check = done + FREE_SPACE_CHECK_EVERY
    try:
        f = open(part, "ab" if start else "wb")  # noqa: SIM115 (closed below, also on every error)
    except OSError as exc:
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
    with f:
        while True:
            if cancel is not None and cancel.cancelled:
                _flush(f, dest)
                raise DownloadCancelled(f"download of {dest.name} cancelled; {_fmt(done)} kept for resuming")
            try:
                block = resp.read(chunk_size)
            except TimeoutError:
                raise _Interrupted(f"the server stopped sending for {timeout:g} s") from None
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                raise _Interrupted(f"the connection dropped ({exc.__class__.__name__})") from None
            if not block:
                break
            if done + len(block) > limit:
                f.close()
                _discard(dest)
                what = "more than it announced" if total is not None else f"more than {_fmt(limit)}"
                raise TooLarge(f"{dest.name}: the server sent {what}; the download was removed")
            _write(f, block, dest)
            done += len(block)
            if total is None and done >= next_space_check:  # an unknown size: stop before the disk is full
                next_space_check = done + FREE_SPACE_CHECK_EVERY
                free = _free_space(dest.parent)
                if free is not None and free < FREE_SPACE_RESERVE:
                    f.close()
                    _discard(dest)
                    raise TooLarge(f"{dest.name}: stopped after {_fmt(done)}, the disk is nearly full; the "
                                   "download was removed")
            now = time.monotonic()
            if progress is not None and (now - last >= 0.1 or done == total):
                last = now  # at most ten reports a second
                progress(DownloadProgress(dest.name, done, total, (done - start) / max(now - t0, 1e-6)))
        _flush(f, dest)
    if total is not None and done < total:
        raise _Interrupted(f"the connection closed after {_fmt(done)} of {_fmt(total)}")


def _write(f: Any, block: bytes, dest: Path) -> None:
    try:
        f.write(block)
    except OSError as exc:
        _disk_error(f, dest, exc)


def _flush(f: Any, dest: Path) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    except OSError as exc:
        _disk_error(f, dest, exc)


def _disk_error(f: Any, dest: Path, exc: OSError) -> None:
    """A write failed: a full disk removes the partial file (it would keep the disk full)."""
    with contextlib.suppress(OSError):
        f.close()
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        _discard(dest)
        raise DownloadError(f"{dest.name}: the disk is full ({dest.parent}); the partial download was removed, "
                            "make room and try again") from None
    raise DownloadError(f"{dest.name}: cannot write {part_path(dest)}: {exc.strerror or exc}") from None


def _free_space(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _total(resp: http.client.HTTPResponse, start: int) -> int | None:
    content_range = resp.headers.get("Content-Range", "")
    m = re.match(r"bytes \d+-\d+/(\d+)", content_range)
    if m:
        return int(m.group(1))
    length = resp.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() and len(length) < 20 else None


def _range_start(resp: http.client.HTTPResponse) -> int | None:
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _finish(dest: Path, sha256: str | None, size: int | None, cache: HashCache) -> Path:
    part = part_path(dest)
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        _discard(dest)
        raise DownloadError(f"{dest.name}: got {got_size} bytes, expected {size}; the download was removed, "
                            "try again")
    got = sha256_file(part) if sha256 else None
    if sha256 and got != sha256:
        _discard(dest)
        raise HashMismatch(f"{dest.name}: SHA-256 mismatch (expected {sha256}, got {got}); the download was "
                           "removed")
    if dest.exists():  # appeared while downloading: fine if it is the very same file
        if dest.is_file() and (got or sha256_file(part)) == cache.hash(dest):
            _discard(dest)
            return dest
        raise AlreadyExists(f"{dest} appeared while downloading and is a different file; the download is kept as "
                            f"{part.name}")
    os.replace(part, dest)
    with contextlib.suppress(FileNotFoundError):
        meta_path(dest).unlink()
    if got:
        cache.put(dest, got)
    return dest


def _fmt(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"
