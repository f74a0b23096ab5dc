"""Where model files live: the studio's models root plus any ComfyUI / A1111 trees the user adds.

A root is searched for every known sub-folder name of each kind, so one list covers our own layout
(``checkpoints/``, ``controlnet/``, ...), a ComfyUI tree (``models/checkpoints``, ...), an A1111 tree
(``models/Stable-diffusion``, ``models/ControlNet``, ``embeddings``, ...) and their ``models`` folders
given directly. Names shown to users are relative to their kind folder, with ``/`` separators.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.core.settings import Settings
from studio.core.types import ModelKind

from .errors import ModelError
from .families import PICKLE_SUFFIXES, WEIGHT_SUFFIXES, inspect

KINDS: tuple[str, ...] = tuple(ModelKind)

# Sub-folders (relative to a root) that hold each kind, in lookup order.
_OWN = {k: [k] for k in KINDS}
_COMFY = {"checkpoints": ["checkpoints", "diffusers"], "controlnet": ["controlnet", "t2i_adapter"],
          "vae": ["vae"], "loras": ["loras"], "embeddings": ["embeddings"], "annotators": ["annotators"],
          "taesd": ["vae_approx"], "clip_vision": ["clip_vision"], "ipadapter": ["ipadapter"],
          "upscale_models": ["upscale_models"], "gligen": ["gligen"]}
_A1111 = {"checkpoints": ["Stable-diffusion"], "controlnet": ["ControlNet"], "vae": ["VAE"], "loras": ["Lora"],
          "embeddings": [], "annotators": [], "taesd": ["VAE-approx"], "clip_vision": [],
          "ipadapter": ["ControlNet"], "upscale_models": ["ESRGAN", "RealESRGAN", "SwinIR"],
          "gligen": []}
SUBFOLDERS: dict[str, list[str]] = {
    k: [*_OWN[k], *(f"models/{d}" for d in _COMFY[k] + _A1111[k]), *(d for d in _COMFY[k] + _A1111[k])]
    for k in KINDS
}
SUBFOLDERS["embeddings"].insert(1, "../embeddings")  # an A1111 ``models`` folder given directly
# InvokeAI (3.x) keeps models per base model: models/sd-1/main, models/sdxl/controlnet, ...
_INVOKE = {"checkpoints": ["main"], "controlnet": ["controlnet", "t2i_adapter"], "vae": ["vae"], "loras": ["lora"],
           "embeddings": ["embedding"], "annotators": [], "taesd": [], "clip_vision": ["clip_vision"],
           "ipadapter": ["ip_adapter"], "upscale_models": [], "gligen": []}
for _kind, _subs in _INVOKE.items():
    SUBFOLDERS[_kind] += [f"models/{base}/{d}" for base in ("sd-1", "sd-2", "sdxl", "any") for d in _subs]

# The model-file kind each folder kind holds (what families.inspect expects).
INSPECT_KIND = {"checkpoints": "checkpoint", "controlnet": "controlnet", "vae": "vae", "taesd": "taesd"}
ANNOTATOR_SUFFIXES = (*WEIGHT_SUFFIXES, ".onnx")
FOLDER_MARKERS = ("model_index.json", "config.json")


def detect_tree(root: str | Path) -> str | None:
    """Which application's folder layout ``root`` has: "ComfyUI", "A1111", "InvokeAI",
    "Latent Studio", or None if it holds none of the known model folders."""
    r = Path(root).expanduser()
    if (r / "invokeai.yaml").is_file() or any((r / "models" / b).is_dir() for b in ("sd-1", "sdxl", "sd-2")):
        return "InvokeAI"
    if (r / "models" / "Stable-diffusion").is_dir() or (r / "Stable-diffusion").is_dir():
        return "A1111"
    if (r / "models" / "checkpoints").is_dir() or (r / "custom_nodes").is_dir():
        return "ComfyUI"
    if any((r / k).is_dir() for k in KINDS):
        return "Latent Studio"
    return None


@dataclass(frozen=True)
class ModelEntry:
    kind: str
    name: str
    path: Path
    size: int
    family: str | None = None
    format: str = ""  # safetensors | pickle | folder | other
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def kind_dirs(roots: Iterable[str | Path], kind: str) -> list[Path]:
    """Existing folders holding ``kind`` files, in lookup order, without duplicates."""
    if kind not in SUBFOLDERS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    seen: set[Path] = set()
    out: list[Path] = []
    for root in roots:
        for sub in SUBFOLDERS[kind]:
            d = Path(root).expanduser() / sub
            if d.is_dir():
                real = d.resolve()
                if real not in seen:
                    seen.add(real)
                    out.append(d)
    return out


def list_models(roots: Iterable[str | Path], kind: str) -> list[str]:
    """Sorted names (relative to their kind folder) of the ``kind`` files under ``roots``."""
    names: dict[str, Path] = {}
    for d in kind_dirs(roots, kind):
        for rel, path in _walk(d, kind):
            names.setdefault(rel, path)
    return sorted(names, key=str.lower)


def model_suffixes(kind: str) -> tuple[str, ...]:
    """File name endings a ``kind`` model may have."""
    return ANNOTATOR_SUFFIXES if kind == "annotators" else WEIGHT_SUFFIXES


def name_problem(roots: Sequence[str | Path], kind: str, name: str) -> str | None:
    """Why ``name`` can never name a ``kind`` model (it leaves the folders, is too long, …), without
    looking for the file; None for an acceptable name. What ``validate`` reports."""
    if not isinstance(name, str) or not name:
        return None
    try:
        _name_parts(kind, name, kind_dirs(roots, kind))
    except ModelError as exc:
        return str(exc)
    return None


def installed(roots: Sequence[str | Path], kind: str, names: Iterable[str]) -> str | None:
    """The first of ``names`` that is a ``kind`` model under ``roots`` (names that could never be one
    are skipped), or None."""
    roots = list(roots)
    for name in names:
        if name_problem(roots, kind, name) is None:
            try:
                resolve(roots, kind, name)
            except (ModelError, OSError):
                continue
            return name
    return None


def resolve(roots: Sequence[str | Path], kind: str, name: str) -> Path:
    """The file or folder called ``name`` among the ``kind`` folders.

    ``name`` comes from a workflow, which may come from a stranger, so it is confined: a relative
    path without ``..`` (an absolute path only when it lies inside one of the ``kind`` folders, as
    a file picked in the window does), ending in a model suffix unless it names a folder, and what
    it names must be a regular file or a folder — never a device, FIFO or socket. Symlinks inside
    the model folders are followed: the user put them there (big checkpoints often live elsewhere).
    Raises ``ModelError`` with a message naming ``kind`` and ``name``.
    """
    if not isinstance(name, str) or not name:
        raise ModelError(f"no {kind} model chosen")
    dirs = kind_dirs(roots, kind)
    parts = _name_parts(kind, name, dirs)
    for d in dirs:
        path = d.joinpath(*parts)
        try:
            st = path.stat()
        except (OSError, ValueError):
            continue  # absent, a dangling link or a link loop
        if stat.S_ISDIR(st.st_mode):
            return path
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{kind} model {_shown(name)} is not a regular file (a device, pipe or socket "
                             "cannot be a model)")
        if not parts[-1].lower().endswith(model_suffixes(kind)):
            raise ModelError(f"{kind} model {_shown(name)} is not a model file (expected one of "
                             f"{', '.join(model_suffixes(kind))})")
        return path
    where = ", ".join(str(d) for d in dirs) or "no " + kind + " folder in " + ", ".join(str(r) for r in roots)
    raise ModelError(f"{kind} model not found: {_shown(name)} (looked in {where})")


MAX_NAME_CHARS = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")


def _name_parts(kind: str, name: str, dirs: Sequence[Path]) -> tuple[str, ...]:
    """The path components of a model ``name`` below its kind folder; ``ModelError`` when it would
    leave the folder or cannot be a file name."""
    def refuse(why: str) -> ModelError:
        return ModelError(f"{kind} model {_shown(name)} {why}; a model is named by its path inside the "
                          f"{kind} model folders (see `latent-studio models`)")

    if len(name) > MAX_NAME_CHARS:
        raise refuse("is too long")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise refuse("contains control characters")
    text = os.path.expanduser(name) if name.startswith("~") else name
    if os.path.isabs(text) or _DRIVE.match(text) or text.startswith(("/", "\\")):
        parts = _inside(Path(text), dirs)
        if parts is None:
            raise refuse("is outside the model folders")
    else:
        parts = tuple(p for p in re.split(r"[\\/]+", text) if p not in ("", "."))
        if ".." in parts:
            raise refuse("leaves the model folder (it contains '..')")
    if not parts:
        raise refuse("names no file")
    if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        raise refuse("has a component longer than 255 bytes")
    return parts


def _inside(path: Path, dirs: Sequence[Path]) -> tuple[str, ...] | None:
    """``path``'s components below the kind folder that contains it (compared without following
    links in ``path``), or None."""
    target = os.path.normpath(os.path.abspath(path))
    for d in dirs:
        for base in {os.path.normpath(os.path.abspath(d)), str(d.resolve())}:
            if target != base and target.startswith(base.rstrip(os.sep) + os.sep):
                return tuple(p for p in Path(target).relative_to(base).parts if p not in ("", "."))
    return None


def _shown(name: str) -> str:
    """A name from a file, quoted for a message (control characters escaped, long names cut)."""
    short = name[:200] + ("…" if len(name) > 200 else "")
    return short if short.isprintable() and short.strip() == short and short else repr(short)


def scan(roots: Sequence[str | Path], kinds: Iterable[str] = KINDS) -> list[ModelEntry]:
    """Every model file under ``roots`` with its kind, family (from headers, no torch) and size.
    One unreadable or malformed entry gives one entry with a ``problem``, never an exception."""
    entries: list[ModelEntry] = []
    for kind in kinds:
        seen: set[str] = set()
        for d in kind_dirs(roots, kind):
            problems: list[tuple[str, Path, str]] = []
            for rel, path in _walk(d, kind, problems):
                if rel not in seen:
                    seen.add(rel)
                    entries.append(_entry(kind, rel, path))
            for rel, path, why in problems:
                if rel not in seen:
                    seen.add(rel)
                    entries.append(ModelEntry(kind, rel, path, 0, None, "other", why))
    return entries


def models_report(settings: Settings) -> list[dict[str, Any]]:
    """What ``latent-studio models --json`` prints: one dict per model file."""
    return [e.as_dict() for e in scan(settings.model_roots)]


def _entry(kind: str, rel: str, path: Path) -> ModelEntry:
    try:
        is_dir = path.is_dir()
        size = folder_size(path) if is_dir else path.stat().st_size
    except OSError as exc:
        return ModelEntry(kind, rel, path, 0, None, "other", f"cannot read it: {exc.strerror or exc}")
    suffix = path.suffix.lower()
    fmt = "folder" if is_dir else "safetensors" if suffix == ".safetensors" else (
        "pickle" if suffix in PICKLE_SUFFIXES else "other")
    family, problem = None, ""
    expect = INSPECT_KIND.get(kind)
    if expect and fmt in ("safetensors", "folder"):
        try:
            family = inspect(path, expect).family
        except ModelError as exc:
            problem = str(exc)
        except (OSError, ValueError, RecursionError) as exc:  # a hostile file must not end the listing
            problem = f"{path.name} cannot be read: {type(exc).__name__}"
    return ModelEntry(kind, rel, path, size, family, fmt, problem)


# A model tree is a few levels deep; these bounds keep a hostile or accidental tree (a link to /, a
# million files) from making a listing take forever.
MAX_DEPTH = 8
MAX_WALK_ENTRIES = 100_000


def _walk(folder: Path, kind: str,
          problems: list[tuple[str, Path, str]] | None = None) -> Iterator[tuple[str, Path]]:
    """(name, path) of each ``kind`` model under ``folder``: regular files with a model suffix and
    (for kinds that have them) diffusers folders. Links are followed, but each real folder is
    entered once (two ``x -> .`` links cannot loop), no deeper than ``MAX_DEPTH``; FIFOs, devices
    and sockets are skipped unread. Unreadable entries go to ``problems`` as (name, path, why)."""
    suffixes = model_suffixes(kind)
    folders_ok = kind in INSPECT_KIND
    visited: set[tuple[int, int]] = set()
    budget = [MAX_WALK_ENTRIES]

    def note(rel: str, path: Path, why: str) -> None:
        if problems is not None:
            problems.append((rel, path, why))

    def visit(here: Path, rel: str, depth: int) -> Iterator[tuple[str, Path]]:
        try:
            st = here.stat()
        except OSError:
            return
        if (st.st_dev, st.st_ino) in visited:
            return  # a link loop, or a second link to a folder already listed
        visited.add((st.st_dev, st.st_ino))
        entries: list[os.DirEntry[str]] = []
        try:
            with os.scandir(here) as it:
                for e in it:
                    budget[0] -= 1
                    if budget[0] < 0:
                        note(rel or ".", here, f"listing stopped: more than {MAX_WALK_ENTRIES} entries")
                        break
                    entries.append(e)
        except OSError as exc:
            note(rel or ".", here, f"cannot read this folder: {exc.strerror or exc}")
            return
        entries.sort(key=lambda e: e.name)
        if folders_ok and depth > 0 and any(e.name in FOLDER_MARKERS for e in entries):
            yield rel, here  # a diffusers folder is one model
            return
        subdirs: list[os.DirEntry[str]] = []
        for e in entries:
            if e.name.startswith("."):
                continue
            child_rel = f"{rel}/{e.name}" if rel else e.name
            wanted = e.name.lower().endswith(suffixes)
            try:
                mode = e.stat().st_mode  # follows links
            except OSError as exc:
                if wanted and not e.is_symlink():
                    note(child_rel, Path(e.path), f"cannot read it: {exc.strerror or exc}")
                continue  # a dangling link or a loop
            if stat.S_ISDIR(mode):
                subdirs.append(e)
            elif stat.S_ISREG(mode) and wanted:
                yield child_rel, Path(e.path)
        if depth >= MAX_DEPTH:
            if subdirs:
                note(rel or ".", here, f"not listed deeper than {MAX_DEPTH} folders")
            return
        for e in subdirs:
            yield from visit(Path(e.path), f"{rel}/{e.name}" if rel else e.name, depth + 1)

    yield from visit(folder, "", 0)


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links followed once, bounded like ``_walk``)."""
    total = 0
    visited: set[tuple[int, int]] = set()
    stack = [(folder, 0)]
    budget = MAX_WALK_ENTRIES
    while stack:
        here, depth = stack.pop()
        try:
            st = here.stat()
            if (st.st_dev, st.st_ino) in visited:
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(here) as it:
                for e in it:
                    budget -= 1
                    if budget < 0:
                        return total
                    try:
                        est = e.stat()
                    except OSError:
                        continue
                    if stat.S_ISREG(est.st_mode):
                        total += est.st_size
                    elif stat.S_ISDIR(est.st_mode) and depth < MAX_DEPTH:
                        stack.append((Path(e.path), depth + 1))
        except OSError:
            continue
    return total

