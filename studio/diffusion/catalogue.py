"""The catalogue of standard models (``resources/models/catalogue.json``) and downloading its entries.

An entry is one model: a single file (checkpoint, ControlNet) saved into its kind folder, or a
folder of repo files (an annotator, TAESD) saved into ``<kind>/<folder>/`` of the main models root.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from studio.core.settings import Settings, resources_dir

from .downloads import DownloadProgress, NotFound, UnsafeName, download, hf_url, safe_file_name
from .model_folders import KINDS, SUBFOLDERS
from .model_hash import Cancel, HashCache, default_cache


@dataclass(frozen=True)
class CatalogueFile:
    file: str  # local name, relative to the entry's folder
    url: str
    size: int | None = None
    sha256: str | None = None
    alternatives: tuple[tuple[str, str], ...] = ()  # (local name, url) tried in order after a 404


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    title: str
    kind: str
    licence: str
    url: str  # the model's page (licence and card)
    files: tuple[CatalogueFile, ...]
    family: str | None = None
    folder: str | None = None  # set for multi-file models: the folder they go into

    @property
    def file(self) -> str:
        """What a node parameter names: the folder for folder models, else the one file."""
        return self.folder or self.files[0].file

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None

    def target_dir(self, settings: Settings) -> Path:
        base = settings.models_dir / SUBFOLDERS[self.kind][0]
        return base / self.folder if self.folder else base

    def is_installed(self, settings: Settings) -> bool:
        """Whether every file is in the main models root (by name; not re-verified)."""
        target = self.target_dir(settings)
        return all(any((target / name).is_file() for name in (f.file, *(a for a, _ in f.alternatives)))
                   for f in self.files)


def default_path() -> Path:
    return resources_dir() / "models" / "catalogue.json"


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """Every entry of the catalogue file (the shipped one by default)."""
    path = path or default_path()
    return list(_load(str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> tuple[CatalogueEntry, ...]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(_entry(raw) for raw in doc.get("models", []))


def _entry(raw: dict[str, Any]) -> CatalogueEntry:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ValueError(f"catalogue entry {raw.get('name')!r}: unknown kind {kind!r}")
    repo, rev = raw.get("repo"), raw.get("revision", "main")

    def url_of(name: str, explicit: str | None = None) -> str:
        if explicit:
            return explicit
        if not repo:
            raise ValueError(f"catalogue entry {raw['name']!r}: a file without url and no repo")
        return hf_url(repo, name, rev)

    files = []
    for name in (raw.get("folder"), *(f["file"] for f in raw["files"]),
                 *(a for f in raw["files"] for a in f.get("alternatives", ()))):
        if name is not None:
            try:
                safe_file_name(name)  # every name must stay inside the entry's folder
            except UnsafeName as exc:
                raise ValueError(f"catalogue entry {raw.get('name')!r}: {exc}") from None
    for f in raw["files"]:
        url = url_of(f.get("source") or f["file"], f.get("url"))
        # Alternatives sit beside the file they stand in for.
        alts = tuple((a, f"{url.rsplit('/', 1)[0]}/{urllib.parse.quote(a)}") for a in f.get("alternatives", ()))
        files.append(CatalogueFile(f["file"], url, f.get("size"), (f.get("sha256") or None) and f["sha256"].lower(),
                                   alts))
    return CatalogueEntry(raw["name"], raw.get("title", raw["name"]), kind, raw["licence"], raw["url"],
                          tuple(files), raw.get("family"), raw.get("folder"))


def find(query: str, catalogue: list[CatalogueEntry] | None = None) -> CatalogueEntry | None:
    """An entry by name, file name or folder name (case-insensitive; a path's last part counts)."""
    q = re.split(r"[\\/]", query.strip())[-1].lower()
    entries = catalogue if catalogue is not None else load_catalogue()
    for test in (lambda e: e.name.lower() == q, lambda e: (e.folder or "").lower() == q,
                 lambda e: any(f.file.lower() == q for f in e.files) and not e.folder):
        for e in entries:
            if test(e):
                return e
    return None


def for_model(kind: str, file: str, sha256: str | None = None,
              catalogue: list[CatalogueEntry] | None = None) -> CatalogueEntry | None:
    """The entry that provides the ``kind`` model ``file`` (by recorded hash first, then by name)."""
    entries = [e for e in (catalogue if catalogue is not None else load_catalogue()) if e.kind == kind]
    if sha256:
        from .model_hash import hash_matches

        for e in entries:
            if any(f.sha256 and hash_matches(f.sha256, sha256) for f in e.files):
                return e
    hit = find(file, entries)
    return hit if hit is not None and hit.kind == kind else None


def by_kind(kind: str, catalogue: list[CatalogueEntry] | None = None) -> list[CatalogueEntry]:
    return [e for e in (catalogue if catalogue is not None else load_catalogue()) if e.kind == kind]


def download_entry(entry: CatalogueEntry, settings: Settings | None = None,
                   progress: Callable[[DownloadProgress], None] | None = None, cancel: Cancel | None = None,
                   *, timeout: float = 30.0, token: str | None = None, cache: HashCache | None = None) -> list[Path]:
    """Fetch ``entry``'s files into the main models root; files already there are kept (a known hash is
    checked). Returns the files' paths. Raises ``DownloadError`` (``DownloadCancelled`` on cancel)."""
    settings = settings or Settings.load()
    cache = cache or default_cache()
    target = entry.target_dir(settings)
    out: list[Path] = []
    for f in entry.files:
        present = next((target / n for n in (f.file, *(a for a, _ in f.alternatives)) if (target / n).is_file()),
                       None)
        if present is not None and (f.sha256 is None or f.file != present.name):
            out.append(present)  # complete (downloads are renamed into place only when done)
            continue
        candidates = [(f.file, f.url), *f.alternatives]
        for i, (name, url) in enumerate(candidates):
            try:
                out.append(download(url, target / name, sha256=f.sha256 if i == 0 else None,
                                    size=f.size if i == 0 else None, progress=progress, cancel=cancel,
                                    timeout=timeout, token=token, cache=cache))
                break
            except NotFound:
                if i == len(candidates) - 1:
                    raise
    return out
