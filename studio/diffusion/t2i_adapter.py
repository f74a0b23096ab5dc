"""T2I-Adapters: loading (original TencentARC and diffusers layouts) and their residuals in the denoiser.

An adapter turns the hint image into one feature map per UNet down block; the UNet adds them inside its
down blocks (``down_intrablock_additional_residuals``), unlike a ControlNet's residuals, which go to the
skip connections. The adapter depends on neither the latent nor the timestep, so it runs once per
sampling run on the hint; its features, scaled by the strength, are reused at every step where it is on.
Rules, as diffusers' ``StableDiffusionAdapterPipeline`` / ``StableDiffusionXLAdapterPipeline``:

- the hint is resized to the output size with Lanczos, as the pipelines' ``_preprocess_adapter_image``
  does with a PIL image (an 8-bit hint goes through PIL exactly as theirs; other values are resized as
  32-bit float channels); a 1-channel adapter (sketch, canny) gets the hint's luma, PIL's ``convert("L")``;
- the output size must be a multiple of the adapter's pixel-unshuffle factor (8 for SD 1.5, 16 for
  SDXL); the pipelines only round a size they derive from the hint, so a user's size that is not a
  multiple fails there — here it is refused with the size and the multiple;
- with CFG the features go to both halves of the batch (a spec on one half only, to those rows);
- ``start``/``end`` are fractions of the schedule's evaluations: the adapter is on at evaluation ``i`` of
  ``n`` while ``i >= start·n`` and ``i < int(end·n)`` — the SDXL pipeline's ``adapter_conditioning_factor``
  is ``end`` with ``start`` = 0 (``i < int(n · factor)``); the SD 1.5 pipeline always applies it (end = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.core.context import NodeFailure

from .errors import ModelError
from .families import ModelInfo
from .t2i_adapter_detect import KIND, adapter_config, is_adapter_keys, original_to_diffusers_key
from .values import Conditioning, ControlSpec, T2IAdapterModel

if TYPE_CHECKING:
    from .denoiser import Step

Progress = Callable[[float, str], None]


# --- loading --------------------------------------------------------------------------------------


def convert_original(weights: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Original-layout weights under diffusers' ``T2IAdapter`` names (other tensors are dropped)."""
    out = {}
    for key, value in weights.items():
        new = original_to_diffusers_key(key, cfg)
        if new is not None:
            out[new] = value
    return out


def load_t2i_adapter(info: ModelInfo, *, dtype: Any, device: Any, cache: Any, allow_ckpt: bool,
                     progress: Progress) -> T2IAdapterModel:
    """Build diffusers' ``T2IAdapter`` from a file or folder ``families.inspect`` recognised as one."""
    from diffusers import T2IAdapter

    from . import loaders as L
    from .component_loading import _folder_weights
    from .weights import read_weights

    name = info.path.name
    cfg = dict(info.configs.get(KIND) or {})
    if info.layout == "folder":
        weights = _folder_weights(info.path, allow_ckpt)
    else:
        weights = read_weights(info.path, allow_ckpt=allow_ckpt)
    if not cfg:  # a pickle: its config is inferred once its tensors are read
        cfg = adapter_config(name, {k: tuple(v.shape) for k, v in weights.items()})
    if not any(k.startswith("adapter.") for k in weights):
        weights = convert_original(weights, cfg)
    progress(0.5, f"{name}: building T2I-Adapter")
    model = L.build(lambda: T2IAdapter.from_config(cfg), weights, dtype=dtype, device=device, what=name)
    return T2IAdapterModel(str(info.family), model, str(info.path), in_channels=int(cfg.get("in_channels", 3)),
                           multiple=int(cfg.get("downscale_factor", 8)))


def is_t2i_adapter_file(path: Path, allow_ckpt: bool) -> bool:
    """Whether a file in a ControlNet folder is a T2I-Adapter (a pickle is read only when allowed)."""
    from .families import PICKLE_SUFFIXES, inspect

    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not allow_ckpt or not path.is_file():
            return False  # the ControlNet load then gives its own refusal
        from .weights import read_weights

        return is_adapter_keys(read_weights(path, allow_ckpt=True))
    try:
        return inspect(path).kind == KIND
    except (ModelError, OSError, ValueError):
        return False


# --- the hint -------------------------------------------------------------------------------------


def prepare_hint(hint: Any, channels: int, height: int, width: int) -> Any:
    """IMAGE (B, H, W, 3) in [0, 1] → float32 tensor (B, channels, height, width), as the pipelines'
    ``_preprocess_adapter_image`` makes it of PIL images (Lanczos), for a 1-channel adapter in luma."""
    import torch
    from PIL import Image

    arr = hint.detach().cpu().float().numpy() if hasattr(hint, "detach") else np.asarray(hint, dtype=np.float32)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    out = []
    for img in arr:
        img = img[..., :3] if img.shape[-1] >= 3 else np.repeat(img[..., :1], 3, axis=-1)
        levels = img * 255.0
        if np.allclose(levels, np.round(levels), atol=1e-3):  # an 8-bit image: exactly the pipelines' path
            pil = Image.fromarray(np.clip(np.round(levels), 0, 255).astype(np.uint8), "RGB")
            if channels == 1:
                pil = pil.convert("L")
            if pil.size != (width, height):
                pil = pil.resize((width, height), resample=Image.Resampling.LANCZOS)
            a = np.asarray(pil, dtype=np.float32) / 255.0
            a = a[..., None] if a.ndim == 2 else a
        else:
            planes = [img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)] if channels == 1 else \
                [img[..., c] for c in range(3)]
            a = np.stack([_resize_plane(p, height, width) for p in planes], axis=-1)
        out.append(a)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2)))


def _resize_plane(plane: Any, height: int, width: int) -> Any:
    from PIL import Image

    if plane.shape == (height, width):
        return plane.astype(np.float32)
    pil = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F")
    out = np.asarray(pil.resize((width, height), resample=Image.Resampling.LANCZOS), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)  # Lanczos overshoots; an 8-bit resize clips it


# --- residuals ------------------------------------------------------------------------------------


@dataclass
class AdapterJob:
    features: list[Any]  # strength-scaled, the model batch's size (zeros outside the spec's rows)
    start: float
    end: float


def is_on(index: int, total: int, start: float, end: float) -> bool:
    """Whether an adapter acts at evaluation ``index`` of ``total`` (see the module docstring)."""
    return index >= start * total and index < int(total * end)


@dataclass
class T2IAdapterResiduals:
    """The intrablock residuals of the adapters attached to the prompts at a step, summed (None when
    none is on). The UNet pops from the list it gets, so each call returns a new list."""

    jobs: list[AdapterJob]

    def __call__(self, step: Step) -> list[Any] | None:
        total: list[Any] | None = None
        for job in self.jobs:
            if not is_on(step.index, step.total, job.start, job.end):
                continue
            total = list(job.features) if total is None else [a + b for a, b in zip(total, job.features, strict=True)]
        return total


def is_adapter_spec(spec: ControlSpec) -> bool:
    return isinstance(spec.controlnet, T2IAdapterModel)


def adapter_residuals(positive: Conditioning, negative: Conditioning, *, batch: int, guided: bool, height: int,
                      width: int, device: Any, dtype: Any) -> T2IAdapterResiduals | None:
    """The provider for the adapters among the prompts' controls, or None when there are none. Rows
    of the model batch as the ControlNets': [negative, positive] with CFG, [positive] without."""
    import torch

    pos = [s for s in positive.controls if is_adapter_spec(s)]
    neg = [s for s in negative.controls if is_adapter_spec(s)] if guided else []
    if not pos and not neg:
        return None
    size = 2 * batch if guided else batch
    whole = slice(0, size)
    cond_half = slice(batch, size) if guided else whole
    placed = [(s, whole if s in neg else cond_half) for s in pos] + [(s, slice(0, batch)) for s in neg if s not in pos]
    jobs = []
    with torch.no_grad():
        for spec, rows in placed:
            feats = _features(spec, batch, height, width)
            n = rows.stop - rows.start
            placed_feats = []
            for f in feats:
                f = f.repeat(n // batch, 1, 1, 1) if n != batch else f
                if n != size:
                    full = torch.zeros((size, *f.shape[1:]), dtype=f.dtype, device=f.device)
                    full[rows] = f
                    f = full
                placed_feats.append(f.to(device=device, dtype=dtype))
            jobs.append(AdapterJob(placed_feats, spec.start, spec.end))
    return T2IAdapterResiduals(jobs)


def _features(spec: ControlSpec, batch: int, height: int, width: int) -> list[Any]:
    adapter = spec.controlnet
    assert isinstance(adapter, T2IAdapterModel)
    m = adapter.multiple
    if height % m or width % m:
        raise NodeFailure(f"this T2I-Adapter needs an output size that is a multiple of {m} px; "
                          f"{width}×{height} is not (try {_round(width, m)}×{_round(height, m)})")
    model = adapter.model
    hint = prepare_hint(spec.hint, adapter.in_channels, height, width)
    if hint.shape[0] not in (1, batch):
        raise NodeFailure(f"a T2I-Adapter hint image has a batch of {hint.shape[0]}, the latent {batch}")
    feats = model(hint.to(device=model.device, dtype=model.dtype))
    return [(f * spec.strength).repeat(batch // f.shape[0], 1, 1, 1) for f in feats]


def _round(size: int, multiple: int) -> int:
    return max(multiple, round(size / multiple) * multiple)
