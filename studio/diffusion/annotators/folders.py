"""Where annotator weights live and what to say when they are missing.

Each annotator is a Hugging Face repo's files copied into a folder named after it under a models
root's ``annotators/`` (e.g. ``<models>/annotators/depth-anything-v2-small/``). They are only ever
read from there with ``local_files_only=True``; nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..model_folders import SUBFOLDERS, kind_dirs

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
REPO_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


@dataclass(frozen=True)
class AnnotatorSpec:
    folder: str  # folder name under annotators/
    repo: str  # the Hugging Face repo its files come from
    title: str
    extra_files: tuple[str, ...] = ()  # needed besides config + weights + preprocessor config

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}"


class AnnotatorMissing(ModelError):
    """An annotator's folder or files are not there; the message says where and how to get them."""


def is_complete(folder: Path, spec: AnnotatorSpec) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES) and all(
        (folder / f).is_file() for f in spec.extra_files)


def find_annotator(roots: Sequence[str | Path], spec: AnnotatorSpec) -> Path:
    """The folder holding ``spec``'s files, or ``AnnotatorMissing`` naming where it looked."""
    dirs = kind_dirs(roots, "annotators")
    for d in dirs:
        if is_complete(d / spec.folder, spec):
            return d / spec.folder
    looked = [d / spec.folder for d in dirs]
    if not looked:  # no annotators folder yet: name the one to create under the first root
        base = Path(roots[0]).expanduser() if roots else Path()
        looked = [base / SUBFOLDERS["annotators"][0] / spec.folder]
    files = ", ".join((*REPO_FILES, *spec.extra_files))
    where = looked[0]
    also = f" (also looked in {', '.join(str(p) for p in looked[1:])})" if len(looked) > 1 else ""
    raise AnnotatorMissing(
        f"{spec.title} weights not found in {where}{also}. This node expects the model {spec.repo}: "
        f"download the repo files ({files}) from {spec.url} into {where}")


Builder = Callable[[Path, Any, Any, Callable[[float, str], None]], Any]


def load(mm: Any, spec: AnnotatorSpec, builder: Builder, progress: Callable[[float, str], None]) -> Any:
    """Find ``spec`` under the manager's model roots and load it once through the manager (cached)."""
    folder = find_annotator(mm.settings.model_roots, spec)
    try:
        return mm.load_annotator(spec.folder, folder, builder, progress)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot load {spec.title} from {folder}: {exc}") from exc


def model_dtype(device: Any, dtype: Any) -> Any:
    """Annotators run in fp32 on the CPU (half precision there is slow or unsupported for some ops);
    on a GPU they use the manager's dtype."""
    import torch

    return torch.float32 if getattr(device, "type", str(device)) == "cpu" else dtype
