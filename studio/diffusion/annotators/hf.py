"""What every transformers-based annotator shares: the loaded value, config sniffing, input moving."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError


@dataclass
class HFAnnotator:
    model: Any  # a torch module; the model manager counts its bytes under ``.model``
    processor: Any
    model_type: str
    device: Any
    dtype: Any


def model_type(folder: Path) -> str:
    """``model_type`` from the folder's config.json (which class to build)."""
    try:
        return str(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type", ""))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {folder / 'config.json'}: {exc}") from None


def from_folder(cls: Any, folder: Path, device: Any, dtype: Any) -> Any:
    """``cls.from_pretrained`` from the local folder only, in eval mode on ``device``."""
    from transformers.utils import logging

    logging.disable_progress_bar()  # loading bars would go to the terminal, not to the node's progress
    model = cls.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    return model.to(device).eval()


def inputs_to(batch: Any, device: Any, dtype: Any) -> dict[str, Any]:
    """Processor output moved to the model's device; floating tensors cast to its dtype."""
    out = {}
    for k, v in batch.items():
        if hasattr(v, "to"):
            v = v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
        out[k] = v
    return out
