"""``latent-studio doctor``: what this machine offers the studio, one line per check.

Each check says ok, warning (works, but not as well as it could) or problem (something will not
work), with what to do about it. torch is imported inside its check only; Qt is never loaded
(``studio.qt_check`` asks the dynamic loader instead), so the doctor runs where the window cannot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.core.settings import Settings

OK, WARNING, PROBLEM = "ok", "warning", "problem"
TORCH_CHOICE_FILE = ".torch-choice"  # written into the venv by scripts/bootstrap.sh


@dataclass
class Check:
    name: str
    status: str  # ok | warning | problem
    message: str
    hints: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_python() -> Check:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro} at {sys.executable}"
    details = {"version": f"{v.major}.{v.minor}.{v.micro}", "executable": sys.executable, "prefix": sys.prefix}
    if v < (3, 11):
        return Check("python", PROBLEM, f"{text}: Python 3.11 or newer is needed", details=details)
    return Check("python", OK, text, details=details)


def _nvidia_present() -> bool:
    import shutil

    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def check_torch(settings: Settings, *, nvidia_present: Callable[[], bool] = _nvidia_present) -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", PROBLEM, f"torch cannot be imported: {exc}",
                     ["start ./latent-studio once (it installs torch), or: pip install torch==2.13.0"])
    cuda, hip = torch.version.cuda, getattr(torch.version, "hip", None)
    build = f"ROCm {hip}" if hip else f"CUDA {cuda}" if cuda else "CPU"
    details: dict[str, Any] = {"version": torch.__version__, "build": build, "cuda": cuda, "hip": hip,
                               "device": "cpu"}
    head = f"{torch.__version__} ({build} build)"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        details.update(device="cuda", gpu=props.name, gpu_memory_gib=round(gib, 1),
                       gpu_count=torch.cuda.device_count())
        return Check("torch", OK, f"{head}: {props.name}, {gib:.1f} GiB", details=details)
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if mps:
        details["device"] = "mps"
        return Check("torch", OK, f"{head}: Apple GPU (MPS)", details=details)
    hints = []
    if nvidia_present() and not cuda:
        hints.append("this machine has an NVIDIA GPU: `LATENT_STUDIO_TORCH=cu128 ./latent-studio` installs "
                     "a CUDA build of torch (cu126 for older drivers)")
    elif cuda or hip:
        hints.append("no usable GPU was found by this build: check the GPU driver (nvidia-smi / rocm-smi)")
    status = WARNING
    if settings.device in ("cuda", "mps"):
        status = PROBLEM
        hints.append(f"Preferences ask for device {settings.device!r}, which is not available: choose auto or "
                     "cpu, or install a build of torch for the GPU")
    return Check("torch", status, f"{head}: no GPU, runs on the CPU (minutes per image)", hints, details)


def check_cpu() -> Check:
    """Whether bfloat16 runs natively on this CPU (else it is emulated, slower than float32)."""
    import platform

    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return Check("cpu", OK, f"{platform.machine()}, {os.cpu_count()} cores", details={"bf16": None})
    speed = "native" if bf16 else "emulated (float32 is faster here)"
    return Check("cpu", OK, f"{platform.machine()}, {os.cpu_count()} cores, {capability}, bf16 {speed}",
                 details={"machine": platform.machine(), "cores": os.cpu_count(), "capability": capability,
                          "bf16": bf16})


def check_torch_choice(torch_check: Check | None = None, prefix: str | None = None) -> Check:
    path = Path(prefix or sys.prefix) / TORCH_CHOICE_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return Check("torch choice", OK, "not recorded (torch was installed another way); "
                     "`LATENT_STUDIO_TORCH=cu128 ./latent-studio` chooses a build (or cpu, cu126, rocm6.4)",
                     details={"recorded": False, "file": str(path)})
    record = dict(line.partition("=")[::2] for line in lines if "=" in line)
    name, pip = record.get("name", "?"), record.get("pip", "")
    details = {"recorded": True, "file": str(path), "name": name, "pip": pip,
               "LATENT_STUDIO_TORCH": record.get("LATENT_STUDIO_TORCH", "")}
    built = (torch_check.details.get("build") or "") if torch_check else ""
    expected = "CUDA" if name.startswith("cu") else "ROCm" if name.startswith("rocm") else ""
    if expected and built and not built.startswith(expected):
        # The record matches, so the launcher would not reinstall: the record goes first.
        return Check("torch choice", WARNING, f"{name} was chosen, but the installed torch is a {built} build",
                     [f"rm {path} && LATENT_STUDIO_TORCH={name} ./latent-studio   (installs it again)"], details)
    return Check("torch choice", OK, f"{name} (pip install {pip})", details=details)


def check_qt(env: Mapping[str, str] | None = None) -> Check:
    from importlib import metadata

    from studio.qt_check import check_qt as qt_check

    version = None
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            version = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    if version is None:
        return Check("qt", PROBLEM, "PySide6 is not installed", ["start ./latent-studio once (it installs it)"])
    result = qt_check(env)
    details = {"pyside6": version, **result.as_dict()}
    return Check("qt", result.status, f"PySide6 {version}: {result.message}", list(result.hints), details)


def check_settings(settings: Settings) -> Check:
    path = Path(settings.path)
    where = str(path) if path.is_file() else f"{path} (not written yet: defaults)"
    details = {"path": str(path), "exists": path.is_file(), "warnings": list(settings.warnings),
               "device": settings.device, "dtype": settings.dtype}
    if settings.warnings:
        return Check("settings", WARNING, f"{where}: {len(settings.warnings)} value(s) ignored",
                     list(settings.warnings), details)
    return Check("settings", OK, where, details=details)


def check_model_folders(settings: Settings) -> list[Check]:
    """One line per models root (its layout), and one for what they hold per kind."""
    from studio.diffusion.model_folders import KINDS, detect_tree, scan

    out = []
    for i, root in enumerate(settings.model_roots):
        label = "models root" if i == 0 else "extra models root"
        if not root.is_dir():  # the models line below says where checkpoints go
            hints = [] if i == 0 else ["remove it in Preferences, or mount it"]
            out.append(Check(label, WARNING, f"{root} does not exist", hints, {"path": str(root)}))
            continue
        layout = detect_tree(root) or "no known model folders"
        out.append(Check(label, OK, f"{root} ({layout})", details={"path": str(root), "layout": layout}))
    entries = scan(settings.model_roots)
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        of_kind = [e for e in entries if e.kind == kind]
        if of_kind:
            families = Counter(e.family for e in of_kind if e.family)
            kinds[kind] = {"count": len(of_kind), "families": dict(sorted(families.items())),
                           "problems": sum(1 for e in of_kind if e.problem)}
    parts = []
    for kind, info in kinds.items():
        fam = ", ".join(f"{f} {n}" for f, n in info["families"].items())
        parts.append(f"{kind} {info['count']}" + (f" ({fam})" if fam else ""))
    details = {"kinds": kinds}
    bad = [e for e in entries if e.problem]
    hints = [f"{e.kind}/{e.name}: {e.problem}" for e in bad[:5]] + ([f"… and {len(bad) - 5} more"] if len(bad) > 5
                                                                    else [])
    status = WARNING if bad else OK
    message = "; ".join(parts) or "none found"
    if bad:
        message += f"; {len(bad)} unreadable (see `latent-studio models`)"
    if "checkpoints" not in kinds:
        status = WARNING
        hints.insert(0, f"no checkpoints: put .safetensors files in {settings.models_dir / 'checkpoints'} "
                        "or run `latent-studio models --download sd15`")
    return [*out, Check("models", status, message, hints, details)]


def check_output(settings: Settings) -> Check:
    """Whether save nodes can write into the output folder (a file is made and removed to be sure)."""
    folder = settings.output_path
    details = {"path": str(folder), "exists": folder.is_dir()}
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
                pass
        except OSError as exc:
            return Check("output folder", PROBLEM, f"{folder} is not writable: {exc.strerror or exc}",
                         ["choose another output folder in Preferences, or use --output-dir"], details)
        return Check("output folder", OK, f"{folder} (writable)", details=details)
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Check("output folder", OK, f"{folder} (made on the first save)", details=details)
    why = "is not a folder" if parent.exists() and not parent.is_dir() else "cannot be written"
    return Check("output folder", PROBLEM, f"{folder} cannot be made: {parent} {why}",
                 ["choose another output folder in Preferences, or use --output-dir"], details)


def check_log() -> Check:
    from studio.logs import log_file

    path = log_file()
    state = f"{path.stat().st_size / 1024:.0f} KiB" if path.is_file() else "empty so far"
    return Check("log file", OK, f"{path} ({state})", details={"path": str(path), "exists": path.is_file()})


def run_checks(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> list[Check]:
    settings = settings or Settings.load()
    torch_check = check_torch(settings)
    return [check_python(), torch_check, check_cpu(), check_torch_choice(torch_check), check_qt(env),
            check_settings(settings), *check_model_folders(settings), check_output(settings), check_log()]


def format_text(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<8} {c.name:<{width}}  {c.message}")
        lines += [f"{'':<8} {'':<{width}}    {h}" for h in c.hints]
    problems = sum(c.status == PROBLEM for c in checks)
    warnings = sum(c.status == WARNING for c in checks)
    lines.append(f"{problems} problem(s), {warnings} warning(s)")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    from studio import __version__

    checks = run_checks()
    problems = sum(c.status == PROBLEM for c in checks)
    if getattr(args, "json", False):
        print(json.dumps({"version": __version__, "ok": problems == 0, "problems": problems,
                          "warnings": sum(c.status == WARNING for c in checks),
                          "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        print(f"Latent Studio {__version__}")
        print(format_text(checks))
    return 1 if problems else 0
