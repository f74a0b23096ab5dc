"""The desktop bundle's spec covers what the studio loads at run time.

The spec (``packaging/latent-studio.spec``) is executed here with PyInstaller's build steps replaced
by recorders, so what it would hand to PyInstaller is checked against the source tree: every
module of ``nodes/`` (imported by name at run time), ``resources/``, the entry-point metadata that
registers the built-in nodes, and the Qt plugins the window needs. No PyInstaller run, no torch.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import nodes

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"


def _bundle_contents() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_contents", PACKAGING / "bundle_contents.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bc = _bundle_contents()


def _walked_node_modules() -> set[str]:
    """What ``Registry.load_builtins`` imports: a package walk of ``nodes``."""
    return {info.name for info in pkgutil.walk_packages(nodes.__path__, "nodes.")}


GTK_BINARIES = ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libatk-1.0.so.0", "libcairo.so.2",
                 "libpango-1.0.so.0", "libgdk_pixbuf-2.0.so.0", "libgtk-3.so.0")


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.pure: list[Any] = []
        self.scripts: list[Any] = []
        self.binaries: list[Any] = []
        self.datas: list[Any] = []


@pytest.fixture(scope="module")
def spec_run() -> dict[str, Any]:
    """The spec's namespace after running it with PyInstaller's classes and hooks stubbed."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")

    def collect_submodules(name: str, filter: Any = None) -> list[str]:
        if name == "nodes":
            return sorted(_walked_node_modules())
        return []  # transformers / diffusers: too slow to walk here; their filters are tested below

    def copy_metadata(dist: str) -> list[tuple[str, str]]:
        found = importlib.metadata.distribution(dist)  # raises for a distribution not installed
        return [(str(found.locate_file("")), f"{found.metadata['Name']}.dist-info")]

    hooks.collect_submodules = collect_submodules  # type: ignore[attr-defined]
    hooks.copy_metadata = copy_metadata  # type: ignore[attr-defined]
    hooks.collect_data_files = lambda name: []  # type: ignore[attr-defined]
    stubs = {"PyInstaller": types.ModuleType("PyInstaller"), "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
             "PyInstaller.utils.hooks": hooks}
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    made: dict[str, list[_Recorder]] = {}

    def recorder(kind: str) -> Any:
        def make(*args: Any, **kwargs: Any) -> _Recorder:
            rec = _Recorder(*args, **kwargs)
            if kind == "Analysis":  # what PyInstaller's Qt hooks would add, the GTK theme among them
                rec.binaries = [(f"{dest}/{Path(src).name}", src, "BINARY") for src, dest in kwargs["binaries"]]
                rec.binaries += [(name, "/x", "BINARY") for name in GTK_BINARIES + ("libQt6Gui.so.6", "libglib-2.0.so.0")]
            made.setdefault(kind, []).append(rec)
            return rec
        return make

    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING), "__name__": "__spec__",
                                 **{k: recorder(k) for k in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}}
    try:
        path = PACKAGING / "latent-studio.spec"
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    namespace["_made"] = made
    return namespace


def _analysis(spec_run: dict[str, Any]) -> dict[str, Any]:
    (analysis,) = spec_run["_made"]["Analysis"]
    return analysis.kwargs


def test_packaging_folder_does_not_shadow_the_pypi_packaging_module() -> None:
    assert not (PACKAGING / "__init__.py").exists()
    import packaging.version

    assert packaging.version.Version("1.10") > packaging.version.Version("1.9")
    assert not Path(packaging.version.__file__).resolve().is_relative_to(PACKAGING)
    # From the repository root, where '' (the checkout) comes first on sys.path.
    code = "import packaging.version, sys; print(packaging.version.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not Path(out.stdout.strip()).resolve().is_relative_to(PACKAGING), out.stdout


def test_every_node_module_is_a_hidden_import(spec_run: dict[str, Any]) -> None:
    hidden = set(_analysis(spec_run)["hiddenimports"])
    walked = _walked_node_modules()
    assert {"nodes.preprocess", "nodes.preprocess.canny", "nodes.sampling"} <= walked
    assert walked <= hidden, sorted(walked - hidden)
    # The file listing the spec relies on matches the walk (a module the walk would miss, or a
    # stray name the walk cannot import, fails here).
    assert set(bc.source_modules("nodes")) == walked | {"nodes"}
    assert {m for m in hidden if m.startswith("studio.")} == set(bc.source_modules("studio")) - {"studio"}


def test_a_new_node_module_must_reach_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "nodes" / "preprocess").mkdir(parents=True)
    for rel in ("nodes/__init__.py", "nodes/preprocess/__init__.py", "nodes/preprocess/new_thing.py"):
        (tmp_path / rel).write_text("")
    assert "nodes.preprocess.new_thing" in bc.hidden_imports(tmp_path)


def test_builtin_entry_point_metadata_travels(spec_run: dict[str, Any]) -> None:
    """The registry finds the built-in nodes through latent-studio's entry point, so the frozen app
    needs that distribution's metadata."""
    found = importlib.metadata.entry_points(group="latent_studio.builtins")
    assert found and {ep.value.split(".")[0] for ep in found} <= set(bc.FIRST_PARTY)
    dests = {dest for _, dest in _analysis(spec_run)["datas"]}
    assert any(re.fullmatch(r"latent[-_]studio.*\.dist-info", d) for d in dests), sorted(dests)


def test_resources_sit_beside_the_studio_package(spec_run: dict[str, Any]) -> None:
    from studio.core import settings

    datas = _analysis(spec_run)["datas"]
    assert (str(ROOT / "resources"), "resources") in datas
    # resources_dir() is found relative to the studio package; the bundle keeps the same layout.
    assert settings.resources_dir() == Path(settings.__file__).resolve().parents[2] / "resources"
    assert (ROOT / "resources" / "workflows" / "canny.json").is_file()
    assert bc.icon_file("linux").is_file() and bc.icon_file("win32").is_file() and bc.icon_file("darwin").is_file()


def test_qt_plugins_for_this_platform_are_bundled(spec_run: dict[str, Any]) -> None:
    import PySide6

    binaries = {Path(src).name for src, _ in _analysis(spec_run)["binaries"]}
    need = {bc.plugin_file_name(s) for s in
            {"linux": ("qxcb", "qoffscreen", "qwayland", "qjpeg", "qwebp", "qsvgicon"),
             "darwin": ("qcocoa", "qoffscreen", "qjpeg", "qwebp", "qsvgicon"),
             "win32": ("qwindows", "qoffscreen", "qjpeg", "qwebp", "qsvgicon")}[bc.platform_key()]}
    assert need <= binaries, sorted(need - binaries)
    qt = Path(PySide6.__file__).parent
    plugins = qt / "plugins" if bc.platform_key() == "win32" else qt / "Qt" / "plugins"
    assert bc.missing_qt_plugins(plugins) == []


def test_the_build_machines_gtk_stays_out(spec_run: dict[str, Any]) -> None:
    (analysis,) = spec_run["_made"]["Analysis"]
    kept = {name for name, _, _ in analysis.binaries}
    assert not kept & set(GTK_BINARIES), sorted(kept & set(GTK_BINARIES))
    assert {"libQt6Gui.so.6", "libglib-2.0.so.0"} <= kept
    assert any(name.endswith("platforms/" + bc.plugin_file_name("qoffscreen")) for name in kept)


# Formats QtGui reads without a plugin.
QT_BUILTIN_FORMATS = {".png", ".bmp", ".ppm", ".pgm", ".pbm", ".xbm", ".xpm"}
FORMAT_PLUGINS = {".jpg": "qjpeg", ".jpeg": "qjpeg", ".webp": "qwebp", ".tif": "qtiff", ".tiff": "qtiff",
                  ".gif": "qgif", ".ico": "qico", ".svg": "qsvg"}


@pytest.mark.parametrize("key", ["linux", "darwin", "win32"])
def test_every_image_format_the_window_opens_has_its_plugin(key: str) -> None:
    from studio.ui.documents import IMAGE_SUFFIXES
    from studio.ui.history_panel import IMAGE_SUFFIXES as HISTORY_SUFFIXES

    formats = set(bc.QT_PLUGINS[key]["imageformats"])
    for suffix in sorted(IMAGE_SUFFIXES | HISTORY_SUFFIXES):
        assert suffix in QT_BUILTIN_FORMATS or FORMAT_PLUGINS.get(suffix) in formats, suffix
    assert "qsvgicon" in bc.QT_PLUGINS[key]["iconengines"]
    assert "qoffscreen" in bc.QT_PLUGINS[key]["platforms"]


def test_transformers_filter_keeps_the_models_the_annotators_build() -> None:
    # transformers' models folder, found without importing transformers (slow).
    tf_spec = importlib.util.find_spec("transformers")
    assert tf_spec is not None and tf_spec.submodule_search_locations
    models = Path(next(iter(tf_spec.submodule_search_locations))) / "models"
    annotators = ROOT / "studio" / "diffusion" / "annotators"
    kinds = set(re.findall(r'"(\w+)": tf\.', (annotators / "depth.py").read_text(encoding="utf-8")))
    kinds |= set(re.findall(r'"(\w+)": tf\.', (annotators / "segmentation.py").read_text(encoding="utf-8")))
    kinds |= set(re.findall(r'_build\(\w+, "(\w+)"', (annotators / "pose.py").read_text(encoding="utf-8")))
    assert {"depth_anything", "dpt", "oneformer", "rt_detr", "vitpose"} <= kinds
    for kind in sorted(kinds | {"clip"}):
        module = kind.replace("-", "_")  # transformers' rule for these model types
        assert (models / module).is_dir(), kind
        assert bc.keep_transformers(f"transformers.models.{module}.modeling_{module}"), kind
    assert bc.keep_transformers("transformers.modeling_utils")
    assert bc.keep_transformers("transformers.models.auto.image_processing_auto")
    assert not bc.keep_transformers("transformers.models.llama.modeling_llama")
    assert bc.keep_diffusers("diffusers.models.unets.unet_2d_condition")
    assert bc.keep_diffusers("diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion")
    assert not bc.keep_diffusers("diffusers.pipelines.wan.pipeline_wan")


def test_windows_and_macos_get_their_extras(spec_run: dict[str, Any]) -> None:
    exes = spec_run["_made"]["EXE"]
    assert [e.kwargs["name"] for e in exes][0] == bc.EXE_NAME and exes[0].kwargs["console"] is True
    assert all(e.kwargs["upx"] is False for e in exes)
    iss = (PACKAGING / "windows" / "latent-studio.iss").read_text(encoding="utf-8")
    assert "Latent Studio.exe" in iss and "recursesubdirs" in iss
    desktop = (PACKAGING / "linux" / "latent-studio.desktop").read_text(encoding="utf-8")
    assert "Icon=latent-studio" in desktop and "Exec=latent-studio" in desktop
    assert bc.version() == importlib.metadata.version("latent-studio")
