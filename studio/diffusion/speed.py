"""Speed options applied to loaded models: torch threads, compiled UNet / ControlNet, fused QKV
projections, channels-last memory format and the attention backend.

Every option is decided per device and falls back to the plain (eager) path rather than failing:

- **threads**: torch's intra-op threads default to the machine's physical cores (hyper-threads
  share one core's vector units, so extra threads only add contention); a setting or
  ``LATENT_STUDIO_THREADS`` overrides it. Applied once per process, at the first model load.
- **compile** (opt-in: ``compile_models`` setting or ``LATENT_STUDIO_COMPILE=1``): the UNet's and a
  ControlNet's ``forward`` go through ``torch.compile`` (inductor). Compiled graphs are kept in the
  studio's cache folder, so the warm-up is paid once per model shape; it is logged. When compiling
  fails the model runs uncompiled from then on, with one line in the log.
- **fused QKV** (opt-in): diffusers' ``fuse_qkv_projections`` (one matmul for q, k and v).
- **fp8 weights** (opt-in): the UNet's and a ControlNet's weights stored in float8, each layer
  widened to the working dtype as it runs (diffusers' layerwise casting): half of fp16's memory.
- **channels-last**: in half precision, used where a quick probe (once per machine) finds it faster
  for the device and dtype at hand; fp32 keeps the default layout; the setting forces on / off.
- **attention**: diffusers' processors call torch's ``scaled_dot_product_attention``; on CUDA torch
  picks flash / memory-efficient kernels by itself, so the backends are only made sure to be enabled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from studio.core.settings import Settings, data_dir

log = logging.getLogger(__name__)

ENV_COMPILE = "LATENT_STUDIO_COMPILE"
ENV_THREADS = "LATENT_STUDIO_THREADS"
Switch = Literal["auto", "on", "off"]
# Model kinds whose forward is worth compiling / fusing (the ones called at every step).
STEP_MODELS = ("checkpoint", "controlnet")
# Channels-last must beat the default layout by this much in the probe to be used (noise margin).
PROBE_MARGIN = 0.05


@dataclass(frozen=True)
class SpeedOptions:
    compile: Switch = "auto"  # auto: off (compiling costs minutes on a CPU; not yet measured a win)
    fuse_qkv: bool = False
    channels_last: Switch = "auto"  # auto: a probe at load decides
    threads: int = 0  # 0: physical cores
    fp8_weights: bool = False

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SpeedOptions:
        """The settings' choices, with ``LATENT_STUDIO_COMPILE`` / ``LATENT_STUDIO_THREADS`` over them."""
        s = settings or Settings()
        compile_: Switch = s.compile_models
        env = os.environ.get(ENV_COMPILE, "").strip().lower()
        if env in ("1", "on", "true", "yes"):
            compile_ = "on"
        elif env in ("0", "off", "false", "no"):
            compile_ = "off"
        threads = s.torch_threads
        env_threads = os.environ.get(ENV_THREADS, "").strip()
        if env_threads.isdigit():
            threads = int(env_threads)
        return cls(compile=compile_, fuse_qkv=s.fuse_qkv, fp8_weights=s.fp8_weights, channels_last=s.channels_last,
                   threads=threads)

    def compiles(self, device: Any) -> bool:
        """``auto`` is off everywhere for now. On a CPU the first run compiles for about two minutes
        (SD1.5, 2 cores) to gain 0-7 % a step (``python -m bench speed``: fp32 on AVX2 1.00×, bf16 on
        AVX512-BF16 1.065× eager); on CUDA it is yet to be measured."""
        return self.compile == "on"


# --- threads ---------------------------------------------------------------------------------------


def physical_cores() -> int:
    """Physical CPU cores of this machine (hyper-threads not counted); the logical count if unknown."""
    logical = os.cpu_count() or 1
    if sys.platform.startswith("linux"):
        n = _linux_physical_cores()
        if n:
            return min(n, logical)
    try:
        import psutil  # type: ignore[import-untyped]

        n = psutil.cpu_count(logical=False)
        if n:
            return int(n)
    except Exception:  # noqa: BLE001 - psutil is optional
        pass
    return logical


def _linux_physical_cores(cpuinfo: str = "/proc/cpuinfo") -> int:
    """Distinct (physical id, core id) pairs among the CPUs this process may run on."""
    try:
        allowed = os.sched_getaffinity(0)
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except (OSError, AttributeError):
        return 0
    return count_physical_cores(text, allowed)


def count_physical_cores(cpuinfo_text: str, allowed: set[int] | None = None) -> int:
    """Physical cores described by a ``/proc/cpuinfo`` text; 0 when it names no core ids (some VMs, ARM)."""
    cores: set[tuple[str, str]] = set()
    for block in cpuinfo_text.split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        if "processor" not in fields or "core id" not in fields:
            continue
        if allowed is not None and fields["processor"].isdigit() and int(fields["processor"]) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores)


_threads_lock = threading.Lock()
_threads_applied: int | None = None


def apply_threads(requested: int = 0, *, lower_only: bool = False) -> int:
    """Set torch's intra-op threads once per process: ``requested``, else ``OMP_NUM_THREADS`` when the
    user set it, else the physical cores. Returns the number in force.

    ``lower_only`` (the model-loading path, for a front end that did not apply it at start): an
    explicit request is applied as usual, but the automatic choice only lowers torch's count (from
    logical CPUs to physical cores), never raises what the process chose for itself."""
    global _threads_applied
    import torch

    with _threads_lock:
        if _threads_applied is not None:
            return _threads_applied
        n = requested
        if n <= 0 and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
            n = int(os.environ["OMP_NUM_THREADS"])
        if lower_only and n <= 0:
            n = min(physical_cores(), torch.get_num_threads())
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
            return n
        n = n if n > 0 else physical_cores()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        _threads_applied = n
        log.info("torch threads: %d (%d logical CPUs, %d physical cores)", n, os.cpu_count() or 1, physical_cores())
        return n


# --- compile ---------------------------------------------------------------------------------------


def compile_cache_dir() -> Path:
    return data_dir() / "cache" / "inductor"


def enable_compile_cache(folder: Path | None = None) -> Path:
    """Inductor's on-disk caches (FX graphs, kernels) under the studio's cache folder, unless the user
    pointed ``TORCHINDUCTOR_CACHE_DIR`` elsewhere."""
    folder = Path(os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(folder or compile_cache_dir())))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import torch._inductor.config as inductor_config

        inductor_config.fx_graph_cache = True
    except Exception:  # noqa: BLE001 - an older torch: compiles, without the persistent cache
        pass
    return folder


class CompiledForward:
    """A module's ``forward`` through ``torch.compile``, falling back to the eager forward for good
    when compiled code fails where the eager one works (the error is then not the input's)."""

    def __init__(self, module: Any, what: str, compiler: Callable[[Callable[..., Any]], Callable[..., Any]]
                 ) -> None:
        self.eager = module.forward
        self.what = what
        self.compiled: Callable[..., Any] | None = compiler(self.eager)
        self.warmed = False
        self.warmup_s = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        start = time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any compiler trouble; eager decides if the input is bad
            out = self.eager(*args, **kwargs)
            self.compiled = None
            log.warning("compiling %s failed (%s: %s); running it uncompiled", self.what, type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            return out
        if not self.warmed:
            self.warmed = True
            self.warmup_s = time.perf_counter() - start
            log.info("compiled %s in %.1f s (first call; kept in %s for later runs)", self.what, self.warmup_s,
                     os.environ.get("TORCHINDUCTOR_CACHE_DIR", "torch's cache"))
        return out

    @property
    def active(self) -> bool:
        return self.compiled is not None


def compile_module(module: Any, what: str, *, compiler: Callable[[Callable[..., Any]], Callable[..., Any]] | None
                   = None) -> CompiledForward | None:
    """Route ``module``'s forward through ``torch.compile`` (compiled lazily at its first call); the
    module stays the same object, so weight patches and hooks keep working. None if torch cannot."""
    if isinstance(module.__dict__.get("forward"), CompiledForward):
        return module.__dict__["forward"]
    if compiler is None:
        import torch

        if not hasattr(torch, "compile"):
            return None
        enable_compile_cache()
        compiler = torch.compile
    try:
        wrapped = CompiledForward(module, what, compiler)
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot compile %s (%s: %s); running it uncompiled", what, type(exc).__name__, exc)
        return None
    module.forward = wrapped
    return wrapped


def uncompile_module(module: Any) -> None:
    if isinstance(module.__dict__.get("forward"), CompiledForward):
        del module.forward


# --- layout and attention --------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_results: dict[str, bool] = {}


def probe_file() -> Path:
    return data_dir() / "cache" / "speed-probes.json"


def _probe_key(device: Any, dtype: Any) -> str:
    """The probe's answer holds for one processor (or GPU) model, torch version, device and dtype."""
    import platform

    import torch

    name = platform.processor() or platform.machine()
    if getattr(device, "type", str(device)) == "cuda":
        name = torch.cuda.get_device_name(device)
    elif sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return f"channels_last|{name}|torch {torch.__version__}|{getattr(device, 'type', device)}|{dtype}"


def channels_last_faster(device: Any, dtype: Any, *, repeats: int = 3) -> bool:
    """Whether a UNet-like 3×3 convolution runs faster channels-last on ``device`` in ``dtype``:
    measured once per machine (kept in ``probe_file()``), the fastest of interleaved runs, with a
    margin against noise."""
    key = _probe_key(device, dtype)
    with _probe_lock:
        if key not in _probe_results:
            saved = _read_probes()
            if key in saved:
                _probe_results[key] = bool(saved[key])
            else:
                _probe_results[key] = _measure_channels_last(device, dtype, repeats)
                _write_probes({**saved, key: _probe_results[key]})
        return _probe_results[key]


def _measure_channels_last(device: Any, dtype: Any, repeats: int) -> bool:
    import torch

    conv = torch.nn.Conv2d(320, 320, 3, padding=1).to(device=device, dtype=dtype)
    conv_cl: Any = torch.nn.Conv2d(320, 320, 3, padding=1).to(device=device, dtype=dtype)
    conv_cl.to(memory_format=torch.channels_last)
    x = torch.randn(1, 320, 32, 32, device=device, dtype=dtype)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    best = {"default": float("inf"), "channels_last": float("inf")}
    with torch.no_grad():
        conv(x), conv_cl(x_cl)  # warm up both (kernel choice, allocator)
        for _ in range(repeats):
            for name, m, inp in (("default", conv, x), ("channels_last", conv_cl, x_cl)):
                _sync(device)
                t = time.perf_counter()
                m(inp)
                _sync(device)
                best[name] = min(best[name], time.perf_counter() - t)
    faster = best["channels_last"] < best["default"] * (1 - PROBE_MARGIN)
    log.info("channels-last probe on %s %s: %.2f ms vs %.2f ms default -> %s", device, dtype,
             best["channels_last"] * 1e3, best["default"] * 1e3, "channels-last" if faster else "default layout")
    return faster


def _read_probes() -> dict[str, Any]:
    try:
        data = json.loads(probe_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_probes(data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # only a lost shortcut
        from studio.core.atomic import atomic_write_text

        probe_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(probe_file(), json.dumps(data, indent=1) + "\n")


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


def enable_sdpa_backends(device: Any) -> None:
    """On CUDA make sure torch may pick flash / memory-efficient attention (it chooses per call)."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        return
    for name in ("enable_flash_sdp", "enable_mem_efficient_sdp", "enable_math_sdp"):
        fn = getattr(torch.backends.cuda, name, None)
        if fn is not None:
            fn(True)


# --- applying options to loaded models -------------------------------------------------------------


def _step_modules(kind: str, value: Any) -> list[tuple[str, Any]]:
    """(name, module) of what runs at every sampling step in a loaded value."""
    if kind == "checkpoint" and isinstance(value, tuple) and value:
        unet = getattr(value[0], "unet", None)
        return [("UNet", unet)] if unet is not None else []
    if kind == "controlnet":
        model = getattr(value, "model", None)
        if model is not None and type(model).__name__ == "ControlNetModel":
            return [("ControlNet", model)]
    return []


def prepare(kind: str, value: Any, options: SpeedOptions, device: Any, dtype: Any) -> Any:
    """Apply ``options`` to a freshly loaded value (in place) and return it."""
    apply_threads(options.threads, lower_only=True)
    modules = _step_modules(kind, value)
    if not modules:
        return value
    enable_sdpa_backends(device)
    for what, module in modules:
        set_channels_last(module, use_channels_last(options, device, dtype))
        if options.fp8_weights:
            if options.fuse_qkv:  # the fused layer's views would become copies: LoRA could not reach it
                log.info("fp8 weights: the %s's attention projections stay unfused", what)
            store_in_fp8(module, what, dtype)
        elif options.fuse_qkv:
            fuse_projections(module, what)
        if options.compiles(device):
            compile_module(module, what)
    return value


def store_in_fp8(module: Any, what: str, compute_dtype: Any) -> bool:
    """diffusers' layerwise casting: weights kept in float8 (e4m3), each layer widened to
    ``compute_dtype`` for its forward and narrowed again after; normalisation and embedding layers
    stay as they are (diffusers' own skip list)."""
    import torch

    if not hasattr(module, "enable_layerwise_casting") or not hasattr(torch, "float8_e4m3fn"):
        log.warning("fp8 weights are not available for the %s here; it keeps %s weights", what, compute_dtype)
        return False
    try:
        module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)
    except Exception as exc:  # noqa: BLE001 - a device without float8 casts: keep the weights as they are
        log.warning("cannot store the %s's weights in fp8 (%s); it keeps %s weights", what, exc, compute_dtype)
        return False
    return True


def fuse_projections(module: Any, what: str = "model") -> bool:
    """diffusers' fused q/k/v (self-attention) and k/v (cross-attention) projections, with the
    separate projections left as views into the fused weights: weight patches made in place (LoRA)
    reach the fused layer, and no weight is stored twice."""
    if not hasattr(module, "fuse_qkv_projections"):
        return False
    try:
        module.fuse_qkv_projections()
    except Exception as exc:  # noqa: BLE001 - an unusual attention layout: keep it unfused
        log.warning("cannot fuse the attention projections of the %s (%s)", what, exc)
        return False
    tie_fused_projections(module)
    return True


def tie_fused_projections(model: Any) -> int:
    """Point ``to_q``/``to_k``/``to_v`` at row slices of ``to_qkv`` (or ``to_k``/``to_v`` at ``to_kv``);
    returns how many attention layers were tied."""
    import torch

    tied = 0
    for m in model.modules():
        if not getattr(m, "fused_projections", False):
            continue
        for fused_name, parts in (("to_qkv", ("to_q", "to_k", "to_v")), ("to_kv", ("to_k", "to_v"))):
            fused = getattr(m, fused_name, None)
            if not isinstance(fused, torch.nn.Linear):
                continue
            start = 0
            for name in parts:
                lin = getattr(m, name)
                rows = lin.weight.shape[0]
                lin.weight = torch.nn.Parameter(fused.weight[start:start + rows], requires_grad=False)
                if lin.bias is not None and fused.bias is not None:
                    lin.bias = torch.nn.Parameter(fused.bias[start:start + rows], requires_grad=False)
                start += rows
            tied += 1
    return tied


def use_channels_last(options: SpeedOptions, device: Any, dtype: Any) -> bool:
    """``auto`` probes the half-precision paths (bf16 / fp16), where oneDNN's and cuDNN's kernels
    differ most by layout; fp32 keeps the default layout (the reference's) unless set ``on``."""
    import torch

    if options.channels_last == "auto":
        return dtype in (torch.bfloat16, torch.float16) and channels_last_faster(device, dtype)
    return options.channels_last == "on"


def set_channels_last(module: Any, on: bool) -> None:
    import torch

    # torch's own ``to``: diffusers' override warns about fp32-kept modules even when there are none
    layout = torch.channels_last if on else torch.contiguous_format
    torch.nn.Module.to(module, memory_format=layout)  # type: ignore[call-overload]
