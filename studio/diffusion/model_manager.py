"""The one place that loads models, and keeps them resident under a memory budget (LRU).

The same file (path, size, mtime) loaded again as the same kind, dtype and device returns the very
same objects. Loading reports progress as ``(fraction, text)`` and fails with ``ModelError`` naming
the file. Torch, diffusers and transformers are imported on first load, not on import.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.settings import Settings, data_dir

from . import model_folders
from .conversion_cache import ConversionCache
from .errors import ModelError
from .families import ModelInfo, inspect
from .values import ControlNet, T2IAdapterModel, TextEncoder, UNetModel, VAEModel

Progress = Callable[[float, str], None]
GB = 1024**3


def _quiet(fraction: float, text: str) -> None:
    pass


@dataclass
class _Resident:
    value: Any
    nbytes: int


class ModelManager:
    def __init__(self, settings: Settings | None = None, *, device: str | None = None, dtype: str | None = None,
                 budget_bytes: int | None = None, cache_dir: Path | None | bool = True,
                 convert_in_child: bool = False) -> None:
        self.settings = settings or Settings()
        self._device_pref = device or self.settings.device
        self._dtype_pref = dtype or self.settings.dtype
        self._budget = budget_bytes if budget_bytes is not None else (
            int(self.settings.memory_budget_gb * GB) if self.settings.memory_budget_gb > 0 else None)
        if cache_dir is True:
            cache_dir = data_dir() / "cache" / "converted"
        self.cache = ConversionCache(Path(cache_dir) if cache_dir else None, convert_in_child=convert_in_child)
        self._resident: OrderedDict[tuple, _Resident] = OrderedDict()
        self._lock = threading.RLock()
        self._device: Any = None
        self._dtype: Any = None

    # -- device, dtype, budget -------------------------------------------------------------------
    @property
    def device(self) -> Any:
        if self._device is None:
            self._device = pick_device(self._device_pref)
        return self._device

    @property
    def dtype(self) -> Any:
        if self._dtype is None:
            self._dtype = pick_dtype(self._dtype_pref, self.device)
        return self._dtype

    @property
    def budget_bytes(self) -> int:
        if self._budget is None:
            self._budget = default_budget(self.device)
        return self._budget

    @property
    def resident_bytes(self) -> int:
        return sum(r.nbytes for r in self._resident.values())

    def resident(self) -> list[tuple[str, str, int]]:
        """(kind, path, bytes) of each resident model, least recently used first."""
        return [(k[0], k[1], r.nbytes) for k, r in self._resident.items()]

    def clear(self) -> None:
        with self._lock:
            self._resident.clear()
            _free_device_memory()

    # -- names ----------------------------------------------------------------------------------
    def resolve(self, kind: str, name: str) -> Path:
        return model_folders.resolve(self.settings.model_roots, kind, name)

    # -- loading --------------------------------------------------------------------------------
    def load_checkpoint(self, path: str | Path, progress: Progress | None = None
                        ) -> tuple[UNetModel, TextEncoder, VAEModel]:
        """UNet, text encoder(s) with tokenizer(s), and VAE from a single file or a diffusers folder."""
        return self._load("checkpoint", Path(path), progress)

    def load_vae(self, path: str | Path, progress: Progress | None = None) -> VAEModel:
        return self._load("vae", Path(path), progress)

    def load_controlnet(self, path: str | Path, progress: Progress | None = None) -> ControlNet | T2IAdapterModel:
        """A ControlNet, or the T2I-Adapter the file is (both live in the ControlNet folders)."""
        from .t2i_adapter import is_t2i_adapter_file

        if is_t2i_adapter_file(Path(path), self.settings.allow_ckpt):
            return self.load_t2i_adapter(path, progress)
        return self._load("controlnet", Path(path), progress)

    def load_t2i_adapter(self, path: str | Path, progress: Progress | None = None) -> T2IAdapterModel:
        return self._load("t2i_adapter", Path(path), progress)

    def load_taesd(self, family: str, progress: Progress | None = None) -> VAEModel | None:
        """TAESD (``taesd``) or TAESDXL (``taesdxl``) from a ``taesd`` model folder, if present."""
        from .taesd import find_taesd

        path = find_taesd(self.settings.model_roots, family)
        return None if path is None else self._load("taesd", path, progress, family)

    def load_embedding(self, path: str | Path) -> Any:
        """A textual-inversion embedding file, parsed once (float32 CPU tensors) and kept under the budget."""
        from .embeddings import read_embedding

        path = Path(path)
        return self._cached(("embedding", *_file_key(path)), path.name, lambda: read_embedding(path),
                            size=lambda v: v.nbytes)

    def load_clip_vision(self, path: str | Path, progress: Progress | None = None) -> Any:
        """A CLIP vision encoder: a model folder or a single file (``studio.diffusion.clip_vision``)."""
        from .clip_vision import load_clip_vision

        return self._load_built("clip_vision", Path(path), load_clip_vision, progress)

    def load_ip_adapter(self, path: str | Path, progress: Progress | None = None) -> Any:
        """An IP-Adapter in the original layout (``studio.diffusion.ip_adapter``)."""
        from .ip_adapter import load_ip_adapter

        return self._load_built("ipadapter", Path(path), load_ip_adapter, progress)

    def load_upscale_model(self, path: str | Path, progress: Progress | None = None) -> Any:
        """An upscale model: ESRGAN / Real-ESRGAN, Real-ESRGAN compact or SwinIR (``studio.diffusion.upscale_models``)."""
        from .upscale_models import load_upscale_model

        return self._load_built("upscale_model", Path(path), load_upscale_model, progress)

    def load_gligen(self, path: str | Path, progress: Progress | None = None) -> Any:
        """GLIGEN text-box weights, original or diffusers layout (``studio.diffusion.gligen``)."""
        from .gligen import load_gligen

        return self._load_built("gligen", Path(path), load_gligen, progress)

    def _load_built(self, kind: str, path: Path, build: Callable[..., Any], progress: Progress | None) -> Any:
        """A model made by ``build(path, device=, dtype=, allow_ckpt=, progress=)``, kept like the rest."""
        progress = progress or _quiet
        key = (kind, *_file_key(path), str(self.dtype), str(self.device), "")
        return self._cached(key, path.name, lambda: build(path, device=self.device, dtype=self.dtype,
                                                          allow_ckpt=self.settings.allow_ckpt, progress=progress),
                            progress)

    def load_annotator(self, name: str, folder: Path, builder: Callable[[Path, Any, Any, Progress], Any],
                       progress: Progress | None = None) -> Any:
        """An annotator model folder, built once by ``builder(folder, device, dtype, progress)`` and kept
        under the same LRU budget as everything else (the value's ``.model`` module is what is counted)."""
        progress = progress or _quiet
        key = ("annotator", *_file_key(folder), str(self.dtype), str(self.device), name)
        return self._cached(key, name, lambda: builder(folder, self.device, self.dtype, progress), progress)

    def load_lora(self, path: str | Path, progress: Progress | None = None) -> Any:
        """A LoRA file's layers (``studio.diffusion.lora.LoraFile``; CPU tensors in the file's dtype),
        read once per file version and kept under the same LRU budget, so switching back is cheap."""
        from .lora import read_lora

        path = Path(path)
        return self._cached(("lora", *_file_key(path)), path.name, lambda: read_lora(path), progress,
                            size=lambda v: v.nbytes)

    def _load(self, kind: str, path: Path, progress: Progress | None, extra: str = "") -> Any:
        progress = progress or _quiet
        key = (kind, *_file_key(path), str(self.dtype), str(self.device), extra)

        def make() -> Any:
            info = inspect(path) if kind != "taesd" else None
            if info is not None and info.kind != kind and info.layout != "pickle":
                raise ModelError(f"{path.name} is a {info.what}, not a {_kind_name(kind)}")
            return self._build(kind, path, info, progress, extra)

        return self._cached(key, path.name, make, progress)

    def _cached(self, key: tuple, name: str, make: Callable[[], Any], progress: Progress | None = None,
                size: Callable[[Any], int] = lambda value: _value_bytes(value)) -> Any:
        """The value resident under ``key``, or ``make()``'s, kept under the memory budget (LRU)."""
        progress = progress or _quiet
        with self._lock:
            hit = self._resident.get(key)
            if hit is not None:
                self._resident.move_to_end(key)
                progress(1.0, f"{name} already loaded")
                return hit.value
            progress(0.0, f"loading {name}")
            value = make()
            self._resident[key] = _Resident(value, size(value))
            self._evict(keep=key)
            progress(1.0, f"loaded {name}")
            return value

    def _build(self, kind: str, path: Path, info: ModelInfo | None, progress: Progress, extra: str) -> Any:
        from . import component_loading as cl

        args = {"dtype": self.dtype, "device": self.device, "cache": self.cache,
                "allow_ckpt": self.settings.allow_ckpt, "progress": progress}
        if kind == "taesd":
            return cl.load_taesd(path, extra, **args)
        if info is not None and info.layout == "pickle":
            info = cl.inspect_pickle(path, kind, self.settings.allow_ckpt)
        assert info is not None
        if kind == "checkpoint":
            return self._speed_up(kind, cl.load_checkpoint(info, **args))
        if kind == "vae":
            return cl.load_vae(info, **args)
        if kind == "t2i_adapter":
            from .t2i_adapter import load_t2i_adapter

            return load_t2i_adapter(info, **args)
        return self._speed_up(kind, cl.load_controlnet(info, **args))

    def _speed_up(self, kind: str, value: Any) -> Any:
        """Threads, layout, fused attention and compiling per the settings (``studio.diffusion.speed``)."""
        from . import speed

        return speed.prepare(kind, value, speed.SpeedOptions.from_settings(self.settings), self.device, self.dtype)

    def _evict(self, keep: tuple) -> None:
        """Drop least recently used models until the rest fit the budget (never the newest one).
        Objects still referenced elsewhere (a cached node output) live on until released."""
        evicted = False
        while self.resident_bytes > self.budget_bytes and len(self._resident) > 1:
            oldest = next(iter(self._resident))
            if oldest == keep:
                break
            del self._resident[oldest]
            evicted = True
        if evicted:
            _free_device_memory()


def _kind_name(kind: str) -> str:
    return {"vae": "VAE", "controlnet": "ControlNet", "taesd": "TAESD decoder",
            "t2i_adapter": "T2I-Adapter"}.get(kind, kind)


def _file_key(path: Path) -> tuple[str, int, int]:
    """Identity of a file or a diffusers folder: resolved path, total size, newest mtime."""
    try:
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            stats = [p.stat() for p in files]
            return str(path.resolve()), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)
        st = path.stat()
    except OSError:
        raise ModelError(f"model file not found: {path}") from None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _value_bytes(value: Any) -> int:
    """Bytes of parameters and buffers of every module inside a loaded value."""
    import torch

    modules: list[torch.nn.Module] = []
    for v in value if isinstance(value, tuple) else (value,):
        for attr in ("unet", "vae", "model"):
            m = getattr(v, attr, None)
            if isinstance(m, torch.nn.Module):
                modules.append(m)
        modules.extend(m for m in getattr(v, "encoders", ()) if isinstance(m, torch.nn.Module))
    seen: set[int] = set()
    total = 0
    for m in modules:
        for t in (*m.parameters(), *m.buffers()):
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
    return total


def _free_device_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- device / dtype / budget choice ---------------------------------------------------------------


def pick_device(pref: str = "auto") -> Any:
    import torch

    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA was chosen as the device, but no CUDA GPU is available")
    if pref == "mps" and not torch.backends.mps.is_available():
        raise ModelError("Apple MPS was chosen as the device, but it is not available")
    return torch.device(pref)


def pick_dtype(pref: str, device: Any) -> Any:
    """fp16 on CUDA and MPS; bf16 on CPUs with native bf16 (AVX512-BF16 / AMX); else fp32."""
    import torch

    named = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if pref in named:
        return named[pref]
    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (``torch.backends.cpu`` reports only the vector ISA, so read the flags)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        return bool(flags & {"avx512_bf16", "amx_bf16"})
        except OSError:
            return False
    return False


def default_budget(device: Any) -> int:
    """80 % of GPU memory on CUDA; half the machine's RAM elsewhere (MPS shares it)."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory * 0.8)
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        ram = 16 * GB
    return int(ram * 0.5)
