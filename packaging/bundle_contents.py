"""What the desktop bundle must contain, as data: read by ``latent-studio.spec`` and by the tests.

Nothing here imports PyInstaller, Qt or torch, so the test suite can check the listing against the
source tree. This folder is deliberately not a Python package (no ``__init__.py``): a package named
``packaging`` would shadow the PyPI ``packaging`` module that pip, setuptools and huggingface use.
Load this file by path (``importlib.util.spec_from_file_location``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "Latent Studio"
EXE_NAME = "latent-studio"
BUNDLE_ID = "org.latentstudio.LatentStudio"
ICONS = ROOT / "resources" / "icons"

# The first-party packages. Built-in nodes are imported by name at run time (the registry walks the
# ``nodes`` package found through the ``latent_studio.builtins`` entry point), so static analysis
# cannot see them: every module is listed as a hidden import.
FIRST_PARTY = ("studio", "nodes")
# Distributions whose metadata must travel: the entry points above live in latent-studio's; the
# others read their own version through importlib.metadata when imported.
METADATA = ("latent-studio", "torch", "diffusers", "transformers", "huggingface-hub", "safetensors",
            "tokenizers", "accelerate", "peft", "numpy", "pillow", "tqdm", "regex", "requests",
            "filelock", "packaging", "pyyaml", "pydantic", "pyside6-essentials", "shiboken6",
            "superqt", "qtawesome", "torchsde", "opencv-contrib-python-headless")

# transformers and diffusers import their classes lazily (``from transformers import CLIPTextModel``
# resolves ``transformers.models.clip.modeling_clip`` by name), so their submodules are collected
# explicitly. transformers has hundreds of model families: only those the studio builds are kept
# (text/vision encoders and the annotators' models with their backbones).
TRANSFORMERS_MODELS = frozenset({
    "auto", "clip",                                  # text encoders, CLIP vision (IP-Adapter)
    "depth_anything", "dinov2", "dpt", "beit", "bit", "vit", "vit_hybrid", "zoedepth",  # depth
    "upernet", "convnext", "swin", "segformer", "oneformer", "dinat",  # segmentation
    "vitpose", "vitpose_backbone", "rt_detr", "resnet",  # pose and its person detector
})
# diffusers pipelines are not used (our sampler drives the components) except these imports.
DIFFUSERS_PIPELINES = frozenset({"stable_diffusion", "paint_by_example", "deprecated"})
# Never needed at run time; left out to keep the bundle small and analysis fast.
EXCLUDES = ("tkinter", "matplotlib", "IPython", "pytest", "hypothesis", "skimage", "scipy.spatial.cKDTree",
            "torch.utils.tensorboard", "tensorboard", "PySide6.QtQml", "PySide6.QtQuick",
            "PySide6.QtWebEngineCore", "PySide6.QtMultimedia", "PySide6.Qt3DCore")

# Qt plugins the studio needs, by plugin folder: the window on X11, Wayland and headless
# (offscreen, used by the smoke test and CI), the image formats it opens and saves, and SVG for
# icons. Names are file stems without the platform's prefix/suffix (``libqxcb.so``, ``qxcb.dll``).
QT_PLUGINS: dict[str, dict[str, tuple[str, ...]]] = {
    "linux": {
        "platforms": ("qxcb", "qoffscreen", "qwayland", "qminimal"),
        "xcbglintegrations": ("qxcb-glx-integration", "qxcb-egl-integration"),
        "wayland-shell-integration": ("xdg-shell",),
        "wayland-decoration-client": ("bradient",),
        # Not qgtk3: it would drag the build machine's GTK into the bundle.
        "platformthemes": ("qxdgdesktopportal",),
        "imageformats": ("qjpeg", "qwebp", "qgif", "qico", "qsvg", "qtiff"),
        "iconengines": ("qsvgicon",),
    },
    "darwin": {
        "platforms": ("qcocoa", "qoffscreen", "qminimal"),
        "styles": ("qmacstyle",),
        "imageformats": ("qjpeg", "qwebp", "qgif", "qico", "qsvg", "qtiff", "qicns"),
        "iconengines": ("qsvgicon",),
    },
    "win32": {
        "platforms": ("qwindows", "qoffscreen", "qminimal"),
        "styles": ("qmodernwindowsstyle",),
        "imageformats": ("qjpeg", "qwebp", "qgif", "qico", "qsvg", "qtiff"),
        "iconengines": ("qsvgicon",),
    },
}


# qgtk3 comes with PyInstaller's platformthemes folder and pulls the build machine's GTK stack in
# after it (not relocatable, and it clashes with the user's own GTK). Dropped after analysis: Qt
# then uses its own file dialogs. Matched against a binary's file name.
DROP_BINARIES = re.compile(
    r"libqgtk3\.so|lib(gtk-3|gdk-3|atk-1\.0|atk-bridge-2\.0|atspi|cairo|cairo-gobject|gdk_pixbuf-2\.0|"
    r"pango-1\.0|pangocairo-1\.0|pangoft2-1\.0|epoxy)\.so(\.\d+)*")


def keep_binary(dest: str) -> bool:
    """False for the bundle's binaries that must not ship (see ``DROP_BINARIES``)."""
    return not DROP_BINARIES.fullmatch(dest.replace("\\", "/").rsplit("/", 1)[-1])


def version(root: Path = ROOT) -> str:
    """The studio's version, read from ``studio/__init__.py`` without importing it."""
    match = re.search(r'^__version__ = "([^"]+)"', (root / "studio" / "__init__.py").read_text(encoding="utf-8"), re.M)
    if not match:
        raise ValueError("studio/__init__.py has no __version__")
    return match.group(1)


def source_modules(package: str, root: Path = ROOT) -> list[str]:
    """Every module and subpackage of a first-party package, from the files on disk (no imports)."""
    base = root / package
    names = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if "__pycache__" in rel.parts:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join(parts))
    return sorted(set(names))


def hidden_imports(root: Path = ROOT) -> list[str]:
    return [m for pkg in FIRST_PARTY for m in source_modules(pkg, root)]


def keep_transformers(name: str) -> bool:
    """Filter for ``collect_submodules('transformers')``: everything outside ``transformers.models``
    except the command-line tools, and only the model families the studio builds."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in ("commands", "cli", "kernels"):
        return False
    if len(parts) > 2 and parts[1] == "models":
        return parts[2] in TRANSFORMERS_MODELS
    return True


def keep_diffusers(name: str) -> bool:
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in ("commands", "experimental"):
        return False
    if len(parts) > 2 and parts[1] == "pipelines":
        return parts[2] in DIFFUSERS_PIPELINES or parts[2].startswith(("pipeline_", "auto_pipeline", "onnx_utils"))
    return True


def data_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """(source, folder in the bundle) pairs. ``resources/`` sits beside the ``studio`` package as it
    does in a checkout, so ``studio.core.settings.resources_dir()`` finds it unchanged."""
    return [(str(root / "resources"), "resources")]


def platform_key(platform: str = sys.platform) -> str:
    return "darwin" if platform == "darwin" else "win32" if platform.startswith("win") else "linux"


def plugin_file_name(stem: str, platform: str = sys.platform) -> str:
    key = platform_key(platform)
    if key == "win32":
        return f"{stem}.dll"
    return f"lib{stem}.dylib" if key == "darwin" else f"lib{stem}.so"


def qt_plugin_files(plugins_dir: Path, platform: str = sys.platform) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for each needed Qt plugin found in ``plugins_dir``
    (``PySide6/Qt/plugins`` on Linux/macOS, ``PySide6/plugins`` on Windows). Missing ones are left
    for the caller to report (``missing_qt_plugins``)."""
    dest_root = "PySide6/plugins" if platform_key(platform) == "win32" else "PySide6/Qt/plugins"
    found = []
    for folder, stems in QT_PLUGINS[platform_key(platform)].items():
        for stem in stems:
            path = plugins_dir / folder / plugin_file_name(stem, platform)
            if path.is_file():
                found.append((str(path), f"{dest_root}/{folder}"))
    return found


def missing_qt_plugins(plugins_dir: Path, platform: str = sys.platform) -> list[str]:
    return [f"{folder}/{plugin_file_name(stem, platform)}"
            for folder, stems in QT_PLUGINS[platform_key(platform)].items() for stem in stems
            if not (plugins_dir / folder / plugin_file_name(stem, platform)).is_file()]


def icon_file(platform: str = sys.platform) -> Path:
    key = platform_key(platform)
    return ICONS / ("latent-studio.ico" if key == "win32" else
                    "latent-studio.icns" if key == "darwin" else "latent-studio-256.png")
