"""Read a weights file into a state dict: memory-mapped safetensors, or an opted-in pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelError
from .families import PICKLE_SUFFIXES


def read_weights(path: Path, *, allow_ckpt: bool = False) -> dict[str, Any]:
    """Tensors by name. Safetensors are memory-mapped (copy-on-write), so nothing is read until used."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return _read_pickle(path, allow_ckpt)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file: {exc}") from None


def load_pickle(path: Path, *, allow_ckpt: bool) -> Any:
    """What a pickled weights file (.ckpt, .pt, .pth, .bin) holds, read only where the user allows
    pickles and then only as plain tensors and containers (``weights_only``): a pickle can run code."""
    if not allow_ckpt:
        raise ModelError(f"{path.name} is a pickle ({path.suffix}) file, which can run code when opened. Allow "
                         "legacy .ckpt / .pt model files in Preferences to load it (only plain tensors are read), "
                         "or use a .safetensors version.")
    import pickle

    import torch

    try:
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except pickle.UnpicklingError as exc:
        raise ModelError(f"{path.name} holds more than plain tensors and was refused: {exc}") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a readable PyTorch file: {exc}") from None


def _read_pickle(path: Path, allow_ckpt: bool) -> dict[str, Any]:
    import torch

    obj = load_pickle(path, allow_ckpt=allow_ckpt)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelError(f"{path.name} does not hold a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def shapes_of(weights: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in weights.items()}
