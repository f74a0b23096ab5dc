"""What Help ▸ About and ``latent-studio --version`` report: versions, licences, where the docs are.

No Qt here (the window adds the Qt runtime version itself) and no torch import unless asked:
package versions come from the installed distributions' metadata, which costs milliseconds.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from studio.core.settings import resources_dir

APP_NAME = "Latent Studio"
APP_DIST = "latent-studio"
NOT_INSTALLED = "not installed"
NOT_RECORDED = "not recorded"
LICENCES_FILE = "licences.json"

# (shown name, distributions that provide it, first found wins)
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("torch", ("torch",)),
    ("diffusers", ("diffusers",)),
    ("transformers", ("transformers",)),
    ("PySide6", ("PySide6", "PySide6-Essentials")),
    ("superqt", ("superqt",)),
)


def package_version(*dists: str) -> str | None:
    """The installed version of the first of ``dists`` that is installed; None when none is."""
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def app_version() -> str:
    from studio import __version__

    return package_version(APP_DIST) or __version__


def python_version() -> str:
    return f"{platform.python_version()} ({platform.python_implementation()})"


def library_versions() -> list[tuple[str, str]]:
    return [(name, package_version(*dists) or NOT_INSTALLED) for name, dists in LIBRARIES]


def accelerator_versions(*, import_torch: bool = False) -> list[tuple[str, str]]:
    """CUDA / ROCm / MPS as torch sees them. Without ``import_torch`` only an already-loaded torch
    is asked (the window loads it in the background soon after start-up); otherwise nothing."""
    torch: Any = sys.modules.get("torch")
    if torch is None and import_torch:
        try:
            import torch
        except Exception:  # a broken torch install: the version line above already tells
            return []
    if torch is None:
        return []
    out: list[tuple[str, str]] = []
    try:
        cuda_build = getattr(torch.version, "cuda", None)
        hip_build = getattr(torch.version, "hip", None)
        if cuda_build or hip_build:
            name = "ROCm" if hip_build else "CUDA"
            devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            shown = ", ".join(devices) if devices else "no device found"
            out.append((name, f"{hip_build or cuda_build} ({shown})"))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_built():
            out.append(("MPS", "available" if mps.is_available() else "built, not available"))
        if not out:
            out.append(("GPU", "none (torch is a CPU-only build)"))
    except Exception as exc:  # a driver problem is worth reporting, not worth failing over
        out.append(("GPU", f"unknown ({type(exc).__name__}: {exc})"))
    return out


def versions(*, qt_runtime: str | None = None, import_torch: bool = False) -> list[tuple[str, str]]:
    """(name, version) for a bug report: the app, Python, the OS, the libraries, the GPU."""
    out = [(APP_NAME, app_version()), ("Python", python_version()), ("OS", platform.platform())]
    for name, version in library_versions():
        out.append((name, version))
        if name == "torch":
            out.extend(accelerator_versions(import_torch=import_torch))
        if name == "PySide6" and qt_runtime:
            out.append(("Qt", qt_runtime))
    return out


def report_text(pairs: list[tuple[str, str]]) -> str:
    """Plain text, one ``name: version`` a line, as pasted into a bug report."""
    return "\n".join(f"{name}: {version}" for name, version in pairs) + "\n"


def version_lines() -> list[str]:
    """What ``latent-studio --version`` prints: the app on the first line, what it runs on below."""
    libs = ", ".join(f"{name} {version}" for name, version in library_versions())
    return [f"{APP_DIST} {app_version()}", f"Python {platform.python_version()}, {libs}"]


# --- licences of the bundled resources -------------------------------------------------------------


@dataclass(frozen=True)
class ResourceLicence:
    path: str  # relative to resources/
    what: str
    licence: str
    source: str
    licence_file: str | None = None


def app_licence() -> str:
    """The studio's own licence, as its package metadata declares it."""
    try:
        meta = metadata.metadata(APP_DIST)
    except metadata.PackageNotFoundError:
        return NOT_RECORDED
    for key in ("License-Expression", "License"):  # get_all: a missing key is no error on any Python
        values = meta.get_all(key) or []
        if values and values[0].strip():
            return values[0].strip()
    return NOT_RECORDED


def resource_licences(root: Path | None = None) -> list[ResourceLicence]:
    """The entries of ``resources/licences.json`` that exist, then every folder under resources/ that
    no entry covers, as "not recorded" (a folder added later is never passed off as licensed)."""
    root = root or resources_dir()
    try:
        data = json.loads((root / LICENCES_FILE).read_text(encoding="utf-8"))
        entries = [e for e in data.get("resources", []) if isinstance(e, dict) and isinstance(e.get("path"), str)]
    except (OSError, ValueError, AttributeError):
        entries = []
    out = [ResourceLicence(e["path"], str(e.get("what", "")), str(e.get("licence") or NOT_RECORDED),
                           str(e.get("source") or NOT_RECORDED), e.get("licence_file"))
           for e in entries if (root / e["path"]).exists()]
    covered = {r.path.split("/", 1)[0] for r in out}
    try:
        folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        folders = []
    out += [ResourceLicence(name, "", NOT_RECORDED, NOT_RECORDED) for name in folders if name not in covered]
    return out


# --- documentation ----------------------------------------------------------------------------------


def documentation_target() -> str | Path | None:
    """A documentation URL when the package declares one, else the README next to resources/ (a source
    checkout), else the home page URL; None when there is nothing to open."""
    urls: dict[str, str] = {}
    try:
        for entry in metadata.metadata(APP_DIST).get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            urls[label.strip().lower()] = url.strip()
    except metadata.PackageNotFoundError:
        pass
    if urls.get("documentation"):
        return urls["documentation"]
    readme = resources_dir().parent / "README.md"
    if readme.is_file():
        return readme
    return urls.get("homepage") or urls.get("home") or None
