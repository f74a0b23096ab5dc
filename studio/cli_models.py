"""``latent-studio models``: list the models in the model folders, or download one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli import EXIT_NODE_FAILED, EXIT_OK, UsageError


def cmd_models(args: argparse.Namespace) -> int:
    from studio.core.settings import Settings

    if args.download:
        return _download_model(args, Settings.load())
    if args.catalogue:
        return _list_catalogue(args, Settings.load())
    try:
        from studio.diffusion.model_folders import models_report
    except ImportError as exc:
        raise UsageError(f"model listing is unavailable: {exc}") from None
    report = models_report(Settings.load())
    if args.hash:
        from studio.diffusion.errors import ModelError
        from studio.diffusion.model_hash import file_hash, short_hash

        for m in report:
            if m.get("format") != "folder":
                progress = _ByteProgress(Path(m["path"]).name)
                try:
                    m["sha256"] = file_hash(m["path"], progress)
                    m["autov2"] = short_hash(m["sha256"])
                except (OSError, ModelError) as exc:  # one unreadable file is one line, not the end
                    m["problem"] = m.get("problem") or f"cannot hash it: {getattr(exc, 'strerror', None) or exc}"
                finally:
                    progress.end()
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    if not report:
        print("no models found; put checkpoints in", Settings.load().models_dir / "checkpoints")
    for m in report:
        size = m.get("size", 0) / 2**20
        sha = f"  {m['sha256']}" if m.get("sha256") else ""
        problem = f"  ! {_printable(m['problem'])}" if m.get("problem") else ""
        print(f"{m.get('kind', '?'):<12} {m.get('family') or '?':<6} {size:>9.1f} MiB  "
              f"{_printable(str(m.get('path')))}{sha}{problem}")
    return EXIT_OK


def _printable(text: str) -> str:
    """A file name or message fit for one terminal line (control characters escaped)."""
    return text if text.isprintable() else text.encode("unicode_escape", "backslashreplace").decode("ascii")


class _ByteProgress:
    """Progress of a long read or download on one stderr line (only on a terminal, at most 5 times a second)."""

    def __init__(self, name: str) -> None:
        self.name, self.last, self.shown = name, 0.0, False

    def __call__(self, done: Any, total: int | None = None, speed: float | None = None) -> None:
        import time

        if not isinstance(done, int):  # a DownloadProgress
            done, total, speed = done.done, done.total, done.speed
        now = time.monotonic()
        if not sys.stderr.isatty() or (now - self.last < 0.2 and done != total):
            return
        self.last, self.shown = now, True
        pct = f"{100 * done / total:5.1f}% " if total else ""
        rate = f"  {speed / 2**20:.1f} MiB/s" if speed else ""
        of = f" / {total / 2**20:.1f}" if total else ""
        print(f"\r{self.name}: {pct}{done / 2**20:.1f}{of} MiB{rate}   ", end="", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _list_catalogue(args: argparse.Namespace, settings: Any) -> int:
    from studio.diffusion.catalogue import load_catalogue

    entries = load_catalogue()
    if args.json:
        print(json.dumps([{"name": e.name, "title": e.title, "kind": e.kind, "family": e.family, "licence": e.licence,
                           "url": e.url, "size": e.size, "installed": e.is_installed(settings)} for e in entries],
                         indent=2))
        return EXIT_OK
    for e in entries:
        mark = "installed" if e.is_installed(settings) else ""
        size = f"{e.size / 2**30:.1f} GiB" if e.size else ""
        print(f"{e.name:<28} {e.kind:<12} {size:>8}  {e.title} [{e.licence}] {mark}")
    return EXIT_OK


def _download_model(args: argparse.Namespace, settings: Any) -> int:
    import re

    from studio.diffusion.catalogue import download_entry, find
    from studio.diffusion.downloads import DownloadError, UnsafeName, download, hf_url, url_file_name
    from studio.diffusion.model_folders import SUBFOLDERS, model_suffixes

    name = args.download
    if args.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        raise UsageError("--sha256 must be 64 hexadecimal digits")
    entry = None if "://" in name else find(name)
    try:
        if entry is not None:
            print(f"{entry.title} ({entry.licence}, {entry.url})", file=sys.stderr)
            progress = _ByteProgress(entry.name)
            try:
                paths = download_entry(entry, settings, progress)
            finally:
                progress.end()
        else:
            m = re.fullmatch(r"([\w.-]+/[\w.-]+)/(.+)", name)
            if "://" in name:
                url = name
                if url.split("://", 1)[0].lower() not in ("http", "https"):
                    raise UsageError("only http and https links can be downloaded")
            elif m:
                try:
                    url = hf_url(m.group(1), m.group(2))
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
            else:
                raise UsageError(f"{_printable(name)!r} is not in the model catalogue (see `latent-studio models "
                                 "--catalogue`), nor a URL or owner/repo/file")
            kind = args.kind or "checkpoints"
            # The name is decoded first and then checked, so an encoded "../" cannot leave the folder.
            file = url_file_name(url)
            if not file.lower().endswith(model_suffixes(kind)):
                raise UsageError(f"{file!r} is not a model file name (a {kind} model ends in "
                                 f"{', '.join(model_suffixes(kind))}); nothing was downloaded")
            dest = settings.models_dir / SUBFOLDERS[kind][0] / file
            progress = _ByteProgress(file)
            try:
                paths = [download(url, dest, sha256=args.sha256, progress=progress)]
            finally:
                progress.end()
    except UnsafeName as exc:
        raise UsageError(str(exc)) from None
    except DownloadError as exc:
        print(f"error: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_NODE_FAILED
    for p in paths:
        print(p)
    return EXIT_OK
