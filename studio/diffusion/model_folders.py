"""Where model files live: the studio's models root plus any ComfyUI / A1111 trees the user adds.

A root is searched for every known sub-folder name of each kind, so one list covers our own layout
(``checkpoints/``, ``controlnet/``, ...), a ComfyUI tree (``models/checkpoints``, ...), an A1111 tree
(``models/Stable-diffusion``, ``models/ControlNet``, ``embeddings``, ...) and their ``models`` folders
given directly. Names shown to users are relative to their kind folder, with ``/`` separators.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.core.settings import Settings

from .errors import ModelError
from .families import PICKLE_SUFFIXES, WEIGHT_SUFFIXES, inspect

KINDS = ("checkpoints", "controlnet", "vae", "loras", "embeddings", "annotators", "taesd")

# Sub-folders (relative to a root) that hold each kind, in lookup order.
_OWN = {k: [k] for k in KINDS}
_COMFY = {"checkpoints": ["checkpoints", "diffusers"], "controlnet": ["controlnet", "t2i_adapter"],
          "vae": ["vae"], "loras": ["loras"], "embeddings": ["embeddings"], "annotators": ["annotators"],
          "taesd": ["vae_approx"]}
_A1111 = {"checkpoints": ["Stable-diffusion"], "controlnet": ["ControlNet"], "vae": ["VAE"], "loras": ["Lora"],
          "embeddings": [], "annotators": [], "taesd": ["VAE-approx"]}
SUBFOLDERS: dict[str, list[str]] = {
    k: [*_OWN[k], *(f"models/{d}" for d in _COMFY[k] + _A1111[k]), *(d for d in _COMFY[k] + _A1111[k])]
    for k in KINDS
}
SUBFOLDERS["embeddings"].insert(1, "../embeddings")  # an A1111 ``models`` folder given directly
# InvokeAI (3.x) keeps models per base model: models/sd-1/main, models/sdxl/controlnet, ...
_INVOKE = {"checkpoints": ["main"], "controlnet": ["controlnet", "t2i_adapter"], "vae": ["vae"], "loras": ["lora"],
           "embeddings": ["embedding"], "annotators": [], "taesd": []}
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


def resolve(roots: Sequence[str | Path], kind: str, name: str) -> Path:
    """The file or folder called ``name`` among the ``kind`` folders (an absolute path as is)."""
    if not name:
        raise ModelError(f"no {kind} model chosen")
    p = Path(name).expanduser()
    if p.is_absolute():
        if p.exists():
            return p
        raise ModelError(f"model file not found: {p}")
    dirs = kind_dirs(roots, kind)
    for d in dirs:
        if (d / p).exists():
            return d / p
    where = ", ".join(str(d) for d in dirs) or "no " + kind + " folder in " + ", ".join(str(r) for r in roots)
    raise ModelError(f"{kind} model not found: {name} (looked in {where})")


def scan(roots: Sequence[str | Path], kinds: Iterable[str] = KINDS) -> list[ModelEntry]:
    """Every model file under ``roots`` with its kind, family (from headers, no torch) and size."""
    entries: list[ModelEntry] = []
    for kind in kinds:
        seen: set[str] = set()
        for d in kind_dirs(roots, kind):
            for rel, path in _walk(d, kind):
                if rel not in seen:
                    seen.add(rel)
                    entries.append(_entry(kind, rel, path))
    return entries


def models_report(settings: Settings) -> list[dict[str, Any]]:
    """What ``latent-studio models --json`` prints: one dict per model file."""
    return [e.as_dict() for e in scan(settings.model_roots)]


def _entry(kind: str, rel: str, path: Path) -> ModelEntry:
    is_dir = path.is_dir()
    size = _folder_size(path) if is_dir else path.stat().st_size
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
    return ModelEntry(kind, rel, path, size, family, fmt, problem)


def _walk(folder: Path, kind: str) -> Iterable[tuple[str, Path]]:
    suffixes = ANNOTATOR_SUFFIXES if kind == "annotators" else WEIGHT_SUFFIXES
    folders_ok = kind in INSPECT_KIND
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        if folders_ok and here != folder and any(m in filenames for m in FOLDER_MARKERS):
            dirnames.clear()  # a diffusers folder is one model
            yield here.relative_to(folder).as_posix(), here
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.lower().endswith(suffixes) and not f.startswith("."):
                yield (here / f).relative_to(folder).as_posix(), here / f


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def default_roots() -> list[Path]:
    """Model roots from the saved settings (for code that only has a parameter value)."""
    return Settings.load().model_roots
