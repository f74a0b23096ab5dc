"""Textual-inversion embeddings: reading the files users have, and finding them by name.

Formats read (all torch-free to find, torch to read):

- A1111 ``.pt`` / ``.bin``: a pickled dict ``{"string_to_param": {"*": tensor (n, dim)}, ...}``, or just
  ``{"emb_params": tensor}``, or diffusers' ``{token: tensor}``. Read with ``torch.load(weights_only=True)``,
  which builds tensors and plain containers only; a file that needs anything else is refused.
- ``.safetensors``: ``emb_params`` (SD 1.x: 768 values per vector, SD 2.x: 1024), SDXL ``clip_l``
  (n, 768) with ``clip_g`` (n, 1280), or a single tensor under any name.

Names come from prompts, which come from workflow files, which come from strangers: a name is looked
up only inside the embeddings folders, with ``model_folders``' confinement (no ``..``, no absolute
path outside the folders).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import model_folders
from .errors import ModelError

KIND = "embeddings"
SUFFIXES = (".safetensors", ".pt", ".bin")
GENERIC = ""  # the key of an embedding's one tensor (SD 1.x / 2.x files)
FAMILY_NAMES = {768: "SD 1.x", 1024: "SD 2.x", 1280: "SDXL (OpenCLIP-G)"}


class EmbeddingError(ModelError):
    """An embedding file that cannot be used; the message names it."""


@dataclass(frozen=True, eq=False)
class Embedding:
    """A parsed embedding: float32 CPU tensors (n, dim) under "" (one encoder) or "clip_l"/"clip_g"."""

    name: str
    path: Path
    tensors: Mapping[str, Any]

    @property
    def vectors(self) -> int:
        return int(next(iter(self.tensors.values())).shape[0])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def describe(self) -> str:
        """What it was trained for, as a message says it ("an SD 1.x embedding")."""
        if "clip_l" in self.tensors and "clip_g" in self.tensors:
            return "an SDXL embedding"
        dim = int(next(iter(self.tensors.values())).shape[-1])
        fam = FAMILY_NAMES.get(dim)
        return f"an {fam} embedding ({dim} values per vector)" if fam else f"an embedding of {dim}-value vectors"

    def for_encoders(self, family: str, dims: Sequence[int]) -> list[Any] | None:
        """One (n, dim) tensor per text encoder of a CLIP of ``family`` with token widths ``dims``,
        or None when it was made for another family (A1111 skips those)."""
        t = self.tensors
        if len(dims) == 2:
            picked = [t.get("clip_l"), t.get("clip_g")]
        elif family == "sdxl_refiner":
            picked = [t.get("clip_g", t.get(GENERIC))]
        else:
            picked = [t.get(GENERIC, t.get("clip_l"))]
        if any(p is None or int(p.shape[-1]) != d for p, d in zip(picked, dims, strict=True)):
            return None
        return picked


def read_embedding(path: Path) -> Embedding:
    """Parse an embedding file; ``EmbeddingError`` naming it when it is not one we can read safely."""
    import torch

    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(path), device="cpu")
        else:
            try:
                data = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as exc:
                raise EmbeddingError(
                    f"embedding {path.name} was refused: it is a pickle that holds more than tensors and plain "
                    f"values, and loading it could run code hidden in it ({type(exc).__name__}). Use a "
                    ".safetensors copy") from None
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"embedding {path.name} cannot be read: {exc}") from None
    tensors = _tensors(data)
    if not tensors:
        raise EmbeddingError(f"{path.name} holds no textual-inversion vectors (expected string_to_param, "
                             "emb_params, clip_l/clip_g or one tensor)")
    counts = {int(v.shape[0]) for v in tensors.values()}
    if len(counts) != 1:
        raise EmbeddingError(f"embedding {path.name} has a different number of vectors per text encoder")
    return Embedding(_stem(path.name), path, tensors)


def _tensors(data: Any) -> dict[str, Any]:
    import torch

    def clean(t: Any) -> Any:
        if not isinstance(t, torch.Tensor) or t.ndim not in (1, 2) or t.numel() == 0 or t.is_complex():
            return None
        t = t.detach().to(device="cpu", dtype=torch.float32)
        return t.unsqueeze(0) if t.ndim == 1 else t.contiguous()

    if isinstance(data, torch.Tensor):
        t = clean(data)
        return {GENERIC: t} if t is not None else {}
    if not isinstance(data, Mapping):
        return {}
    if "clip_l" in data or "clip_g" in data:
        out = {k: clean(data[k]) for k in ("clip_l", "clip_g") if k in data}
        return {k: v for k, v in out.items() if v is not None}
    params = data.get("string_to_param")
    if isinstance(params, Mapping) and params:
        t = clean(next(iter(params.values())))
        return {GENERIC: t} if t is not None else {}
    if "emb_params" in data:
        t = clean(data["emb_params"])
        return {GENERIC: t} if t is not None else {}
    found = [t for t in (clean(v) for v in data.values()) if t is not None]
    return {GENERIC: found[0]} if len(found) == 1 else {}  # diffusers' {token: tensor}


def _drop_suffix(name: str) -> str:
    for suffix in model_folders.model_suffixes(KIND):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _stem(name: str) -> str:
    """A file's name without folders and suffix: what a prompt calls it."""
    return _drop_suffix(name.rsplit("/", 1)[-1])


def _shown(name: str) -> str:
    return model_folders._shown(name)


def listing(roots: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """(name relative to its embeddings folder, path) of every embedding file, first root first."""
    return [(e.name, e.path) for e in model_folders.scan(roots, [KIND]) if not e.problem]


def fingerprint(roots: Sequence[str | Path], bare: bool) -> str:
    """Changes when an embedding file appears, goes, or changes: for the text node's cache signature."""
    rows: list[Any] = [bare]
    for name, path in listing(roots):
        try:
            st = path.stat()
        except OSError:
            continue
        rows.append((name, st.st_size, st.st_mtime_ns))
    return hashlib.sha1(json.dumps(rows).encode("utf-8", "surrogateescape")).hexdigest()


Loader = Callable[[Path], Embedding]


@dataclass
class EmbeddingLibrary:
    """The embeddings a run can use, for one encode: finds names, loads files (through ``loader``, the
    model manager's cached one in a run) and keeps what was used and what went wrong."""

    roots: Sequence[str | Path]
    loader: Loader = read_embedding
    bare_names: bool = True
    used: dict[str, int] = field(default_factory=dict)  # shown name -> vectors
    warnings: list[str] = field(default_factory=list)
    _by_name: dict[str, str] | None = field(default=None, repr=False)
    _loaded: dict[str, Embedding | None] = field(default_factory=dict, repr=False)

    def names(self) -> dict[str, str]:
        """Lower-case stems and relative names (with and without suffix) → relative name; listed once."""
        if self._by_name is None:
            by: dict[str, str] = {}
            for rel, _ in listing(self.roots):
                if not rel.lower().endswith(SUFFIXES):
                    continue
                for key in (rel, _drop_suffix(rel), _stem(rel)):
                    by.setdefault(key.lower(), rel)
            self._by_name = by
        return self._by_name

    def bare_words(self) -> set[str]:
        """Lower-case file stems a bare prompt word may name (empty when the setting is off)."""
        if not self.bare_names:
            return set()
        return {_stem(rel).lower() for rel in set(self.names().values())}

    def find(self, name: str) -> Path:
        """The file ``name`` names (as written, or + .safetensors/.pt/.bin; else by case-insensitive stem).
        ``ModelError`` when there is none, or the name tries to leave the folders."""
        problem = model_folders.name_problem(self.roots, KIND, name)
        if problem:
            raise ModelError(problem)
        tries = [name] if name.lower().endswith(SUFFIXES) else [name, *(name + s for s in SUFFIXES)]
        for t in tries:
            try:
                path = model_folders.resolve(self.roots, KIND, t)
            except ModelError:
                continue
            if path.is_file():
                return path
        rel = self.names().get(name.lower())
        if rel is not None:
            return model_folders.resolve(self.roots, KIND, rel)
        raise ModelError("not in the embeddings folders")

    def load(self, name: str, literal: bool = False) -> Embedding | None:
        """The embedding ``name``, or None (with a warning) when it is missing or unreadable; ``literal``:
        it was a bare word, which is then encoded as text."""
        if name in self._loaded:
            return self._loaded[name]
        emb: Embedding | None = None
        shown = _shown(name)
        try:
            emb = self.loader(self.find(name))
        except EmbeddingError as exc:
            what = "the word is encoded as plain text" if literal else "its words are left out of the prompt"
            self.warnings.append(f"{exc}; {what}")
        except ModelError as exc:
            what = ("the word is encoded as plain text" if literal
                    else f"the words 'embedding:{shown}' are left out of the prompt")
            self.warnings.append(f"unknown embedding {shown} ({exc}); {what}")
        self._loaded[name] = emb
        return emb

    def wrong_family(self, emb: Embedding, family: str, literal: bool) -> None:
        what = "it is encoded as plain text" if literal else "its words are left out of the prompt"
        msg = f"embedding {emb.name} is {emb.describe()}, not one for this {family} text encoder: skipped, {what}"
        if msg not in self.warnings:
            self.warnings.append(msg)

    def note_used(self, emb: Embedding) -> None:
        self.used[emb.name] = emb.vectors

    def summary(self) -> str:
        """"embeddings: A (8 vectors), B (1 vector)", or "" when none was used."""
        if not self.used:
            return ""
        parts = [f"{n} ({v} vector{'s' if v != 1 else ''})" for n, v in self.used.items()]
        return "embeddings: " + ", ".join(parts)
