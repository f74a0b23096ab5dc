"""Which models a workflow uses, recorded so that it can travel to another machine.

The models table (``graph.models``, saved in the workflow file) has one row per model a node names:
``{"file", "kind", "family", "size", "sha256"}``; annotators are recorded by folder name and repo.
When a workflow is opened elsewhere, a model file that is missing under its recorded name is looked
up by its SHA-256 among the user's files of the same kind (a renamed or moved file is found and the
node pointed at it); what stays missing is listed with same-family substitutes and a catalogue entry
to download. Hashing happens only when a table is written or a referenced file is missing, and only
once per file (``model_hash``'s cache); candidates are narrowed by size first.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from studio.core.settings import Settings
from studio.core.types import Kind

from .errors import ModelError
from .families import family_of
from .model_folders import INSPECT_KIND, KINDS, folder_size, kind_dirs, list_models, resolve
from .model_hash import Cancel, HashCache, default_cache, hash_matches, short_hash

FILE_KINDS = tuple(k for k in KINDS if k != "annotators")
# Annotators a node type needs besides the one its parameter names.
IMPLIED_ANNOTATORS = {"preprocess.pose": ("rtdetr-r50vd",)}

TableProgress = Callable[[str, int, int], None]  # (file name, bytes hashed, file size)


@dataclass(frozen=True)
class ModelRef:
    node_id: str
    param: str | None  # None for an annotator the node type needs implicitly
    kind: str
    file: str


@dataclass(frozen=True)
class Rewrite:
    """A node parameter pointed at the file found in place of a missing one."""

    node_id: str
    node_title: str
    param: str
    kind: str
    old: str
    new: str
    how: str  # "sha256" | "name"

    def line(self) -> str:
        why = "same SHA-256" if self.how == "sha256" else "same file name in another folder"
        return f"{self.node_title} [{self.node_id}] › {self.param}: using {self.new} for {self.old} ({why})"


@dataclass(frozen=True)
class MissingModel:
    node_id: str
    node_title: str
    param: str | None
    kind: str
    file: str
    family: str | None = None
    sha256: str | None = None
    size: int | None = None
    substitutes: tuple[str, ...] = ()  # same kind and family, found in the model folders
    download: str | None = None  # catalogue entry name
    looked_in: tuple[str, ...] = ()

    def line(self) -> str:
        where = f"{self.node_title} [{self.node_id}]" + (f" › {self.param}" if self.param else "")
        facts = [self.kind] + ([self.family] if self.family else [])
        if self.sha256:
            facts.append(f"SHA-256 {short_hash(self.sha256)}…")
        text = f"{where}: {self.file} ({', '.join(facts)}) is not in the model folders"
        text += f" (looked in {', '.join(self.looked_in)})" if self.looked_in else f" (there is no {self.kind} folder)"
        if self.substitutes:
            text += f"; available instead: {', '.join(self.substitutes[:8])}"
            if len(self.substitutes) > 8:
                text += f" and {len(self.substitutes) - 8} more"
        if self.download:
            text += f"; to download it: latent-studio models --download {self.download}"
        return text


@dataclass
class Resolution:
    rewritten: list[Rewrite] = field(default_factory=list)
    missing: list[MissingModel] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def lines(self) -> list[str]:
        return [r.line() for r in self.rewritten] + [m.line() for m in self.missing]


# --- what a graph uses ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def annotator_specs() -> dict[str, Any]:
    """Folder name → ``AnnotatorSpec`` for every annotator a built-in preprocessor can use."""
    from .annotators.depth import DEPTH_MODELS
    from .annotators.pose import DETECTOR, POSE_MODELS
    from .annotators.segmentation import SEGMENTATION_MODELS

    return {**DEPTH_MODELS, **SEGMENTATION_MODELS, **POSE_MODELS, DETECTOR.folder: DETECTOR}


def model_refs(graph: Any) -> Iterator[ModelRef]:
    """Every model a node names: FILE parameters of a model kind, and annotator choices."""
    specs = annotator_specs()
    for node in graph.nodes.values():
        nt = graph.node_type(node)
        if nt is None:
            continue
        for decl in nt.params:
            value = node.params.get(decl.name, decl.default)
            if not isinstance(value, str) or not value:
                continue
            if decl.kind is Kind.FILE and decl.file_kind in KINDS:
                yield ModelRef(node.id, decl.name, decl.file_kind, value)
            elif decl.kind is Kind.ENUM and decl.choices and value in specs and all(c in specs for c in decl.choices):
                yield ModelRef(node.id, decl.name, "annotators", value)
        for folder in IMPLIED_ANNOTATORS.get(node.type_id, ()):
            yield ModelRef(node.id, None, "annotators", folder)


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else Settings.load()


def _base(name: str) -> str:
    return re.split(r"[\\/]", name)[-1]


def recorded(table: list[dict[str, Any]], kind: str, file: str) -> dict[str, Any] | None:
    """The models-table row for ``file`` of ``kind`` (exact name first, then the same base name)."""
    rows = [r for r in table if isinstance(r, dict) and r.get("kind") in (kind, None)]
    for r in rows:
        if r.get("file") == file:
            return r
    base = _base(file)
    hits = [r for r in rows if isinstance(r.get("file"), str) and _base(r["file"]) == base]
    return hits[0] if len(hits) == 1 else None


# --- writing the table ----------------------------------------------------------------------------


def models_table(graph: Any, settings: Settings | None = None, progress: TableProgress | None = None,
                 cancel: Cancel | None = None, cache: HashCache | None = None) -> list[dict[str, Any]]:
    """The models table for ``graph`` as it is now: one row per model (first use first).

    Files found are described afresh (hashed once, then from the cache); a missing file keeps the
    row already recorded for it, so saving a workflow never forgets what it needs.
    """
    roots = _settings(settings).model_roots
    cache = cache or default_cache()
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for ref in model_refs(graph):
        if (ref.kind, ref.file) in seen:
            continue
        seen.add((ref.kind, ref.file))
        if ref.kind == "annotators":
            spec = annotator_specs().get(ref.file)
            rows.append({"file": ref.file, "kind": "annotators", **({"repo": spec.repo} if spec else {})})
            continue
        try:
            path = resolve(roots, ref.kind, ref.file)
            rows.append(describe(path, ref.kind, ref.file, progress, cancel, cache))
        except (ModelError, OSError):  # missing, refused or unreadable: keep what was recorded
            old = recorded(graph.models, ref.kind, ref.file)
            rows.append({**old, "file": ref.file, "kind": ref.kind} if old else {"file": ref.file, "kind": ref.kind})
    return rows


def describe(path: Path, kind: str, name: str | None = None, progress: TableProgress | None = None,
             cancel: Cancel | None = None, cache: HashCache | None = None) -> dict[str, Any]:
    """One models-table row for an existing file (a diffusers folder gets no hash)."""
    name = name or path.name
    expect = INSPECT_KIND.get(kind)
    family = family_of(path, expect) if expect else None
    if path.is_dir():
        return {"file": name, "kind": kind, "family": family, "size": folder_size(path), "sha256": None}
    each = (lambda done, total: progress(name, done, total)) if progress else None
    sha = (cache or default_cache()).hash(path, each, cancel)
    return {"file": name, "kind": kind, "family": family, "size": path.stat().st_size, "sha256": sha}


def refresh_models_table(graph: Any, settings: Settings | None = None, progress: TableProgress | None = None,
                         cancel: Cancel | None = None, cache: HashCache | None = None) -> list[dict[str, Any]]:
    """Recompute ``graph.models`` (call before saving or running; cheap once files are hashed)."""
    graph.models = models_table(graph, settings, progress, cancel, cache)
    return graph.models


def unhashed_bytes(graph: Any, settings: Settings | None = None, cache: HashCache | None = None) -> int:
    """Bytes ``refresh_models_table`` would have to read (0 when every hash is cached): lets a GUI decide
    whether to show a progress dialog."""
    roots = _settings(settings).model_roots
    cache = cache or default_cache()
    total = 0
    for ref in {(r.kind, r.file) for r in model_refs(graph) if r.kind != "annotators"}:
        try:
            path = resolve(roots, *ref)
        except ModelError:
            continue
        if path.is_file() and cache.get(path) is None:
            total += path.stat().st_size
    return total


# --- opening a workflow elsewhere -----------------------------------------------------------------


def resolve_missing(graph: Any, settings: Settings | None = None, *, apply: bool = True,
                    progress: TableProgress | None = None, cancel: Cancel | None = None,
                    cache: HashCache | None = None) -> Resolution:
    """Find every model the graph names that is not in the model folders.

    A file recorded with a SHA-256 is looked for by hash among the files of its kind (same size first);
    one recorded without a hash, by its base name in another sub-folder. Found ones are rewritten in
    the node's parameter when ``apply`` (else only reported, for an undoable edit by the caller).
    """
    roots = _settings(settings).model_roots
    cache = cache or default_cache()
    result = Resolution()
    candidates: dict[str, list[tuple[str, Path]]] = {}
    found: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, file) → (new name, how)
    missing: dict[tuple[str, str], MissingModel] = {}
    for ref in model_refs(graph):
        title = graph.title_of(ref.node_id)
        if ref.kind == "annotators":
            m = _missing_annotator(graph, ref, title, roots)
            if m is not None:
                result.missing.append(m)
            continue
        try:
            resolve(roots, ref.kind, ref.file)
            continue
        except ModelError:
            pass
        key = (ref.kind, ref.file)
        if key not in found and key not in missing:
            if ref.kind not in candidates:
                candidates[ref.kind] = _files(roots, ref.kind)
            row = recorded(graph.models, ref.kind, ref.file) or {}
            hit = _find(row, ref.file, candidates[ref.kind], progress, cancel, cache)
            if hit:
                found[key] = hit
            else:
                missing[key] = _missing(ref, title, row, candidates[ref.kind], roots)
        if key in found:
            new, how = found[key]
            assert ref.param is not None
            result.rewritten.append(Rewrite(ref.node_id, title, ref.param, ref.kind, ref.file, new, how))
            if apply:
                graph.set_param(ref.node_id, ref.param, new)
        else:
            m = missing[key]
            result.missing.append(MissingModel(ref.node_id, title, ref.param, m.kind, m.file, m.family, m.sha256,
                                               m.size, m.substitutes, m.download, m.looked_in))
    return result


def missing_models(graph: Any, settings: Settings | None = None,
                   notify: Callable[[str], None] | None = None) -> list[str]:
    """For the headless runner: point nodes at renamed files (each change is reported through
    ``notify``, by default on stderr), then one line per model file still missing. Missing
    annotator weights are left to their nodes, which fail with a message saying what to put
    where while the rest of the graph still runs."""
    from studio.core.plan import plan_run

    res = resolve_missing(graph, settings)
    say = notify or (lambda line: print(f"note: {line}", file=sys.stderr))
    for r in res.rewritten:
        say(r.line())
    runs = plan_run(graph).inputs  # a muted (or bypassed) loader's file is not needed
    return [m.line() for m in res.missing if m.kind != "annotators" and m.node_id in runs]


def _files(roots: list[Path], kind: str) -> list[tuple[str, Path]]:
    out = []
    for name in list_models(roots, kind):
        try:
            out.append((name, resolve(roots, kind, name)))
        except ModelError:
            continue
    return out


def _find(row: dict[str, Any], file: str, files: list[tuple[str, Path]], progress: TableProgress | None,
          cancel: Cancel | None, cache: HashCache) -> tuple[str, str] | None:
    sha = row.get("sha256")
    base = _base(file)
    if isinstance(sha, str) and len(sha) >= 10:
        size = row.get("size") if len(sha) == 64 else None  # a short (A1111) hash comes without a size
        pool = [(n, p) for n, p in files if p.is_file() and (not isinstance(size, int) or p.stat().st_size == size)]
        pool.sort(key=lambda np_: _base(np_[0]) != base)  # the same name first: likeliest, maybe cached
        for name, path in pool:
            each = (lambda done, total, n=name: progress(n, done, total)) if progress else None
            try:
                if hash_matches(cache.hash(path, each, cancel), sha):
                    return name, "sha256"
            except (OSError, ModelError):
                continue
        return None
    same_name = [n for n, _ in files if _base(n) == base]
    return (same_name[0], "name") if len(same_name) == 1 else None


def _missing(ref: ModelRef, title: str, row: dict[str, Any], files: list[tuple[str, Path]],
             roots: list[Path]) -> MissingModel:
    from .catalogue import for_model

    sha = row.get("sha256") if isinstance(row.get("sha256"), str) else None
    entry = for_model(ref.kind, ref.file, sha)
    family = row.get("family") or (entry.family if entry else None)
    expect = INSPECT_KIND.get(ref.kind)
    subs = tuple(n for n, p in files
                 if family is None or expect is None or family_of(p, expect) == family)
    size = row.get("size") if isinstance(row.get("size"), int) else None
    looked = tuple(str(d) for d in kind_dirs(roots, ref.kind))
    return MissingModel(ref.node_id, title, ref.param, ref.kind, ref.file, family, sha, size, subs,
                        entry.name if entry else None, looked)


def _missing_annotator(graph: Any, ref: ModelRef, title: str, roots: list[Path]) -> MissingModel | None:
    from .annotators.folders import is_complete
    from .catalogue import for_model

    specs = annotator_specs()
    spec = specs.get(ref.file)
    dirs = kind_dirs(roots, "annotators")
    if spec is None or any(is_complete(d / ref.file, spec) for d in dirs):
        return None
    subs: tuple[str, ...] = ()
    if ref.param is not None:
        nt = graph.node_type(ref.node_id)
        decl = nt.input(ref.param) if nt else None
        choices = decl.choices if decl is not None and decl.choices else ()
        subs = tuple(c for c in choices if c != ref.file and any(is_complete(d / c, specs[c]) for d in dirs))
    entry = for_model("annotators", ref.file)
    return MissingModel(ref.node_id, title, ref.param, "annotators", ref.file, None, None, None, subs,
                        entry.name if entry else None, tuple(str(d) for d in dirs))
