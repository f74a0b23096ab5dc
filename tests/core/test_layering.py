"""The layers of the design: studio/core imports neither Qt nor torch; nodes/ and studio/diffusion
import no Qt; importing the built-in nodes does not pay for torch."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_core_imports_neither_qt_nor_torch_in_source():
    imports = _imports(ROOT / "studio" / "core")
    for banned in ("PySide6", "shiboken6", "torch", "diffusers", "transformers", "superqt", "qtawesome"):
        assert banned not in imports, f"{banned} imported by {imports.get(banned)}"


def test_nodes_and_diffusion_import_no_qt():
    for folder in (ROOT / "nodes", ROOT / "studio" / "diffusion"):
        imports = _imports(folder)
        for banned in ("PySide6", "shiboken6", "superqt", "qtawesome"):
            assert banned not in imports, f"{banned} imported by {imports.get(banned)}"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_importing_core_loads_no_qt_and_no_torch():
    mods = _modules_after(
        "import studio.core.graph, studio.core.workflow, studio.core.executor, studio.core.pngmeta, "
        "studio.core.registry, studio.core.types, studio.core.settings, studio.core.parameters_text")
    assert not {m for m in mods if m.split(".")[0] in ("PySide6", "torch", "diffusers", "transformers")}


def test_loading_validating_and_saving_a_workflow_loads_no_qt_and_no_torch():
    mods = _modules_after(
        "from studio.core.registry import default_registry\n"
        "from studio.core.workflow import load_file, dumps\n"
        "g = load_file('resources/workflows/canny.json', default_registry())\n"
        "g.validate(); dumps(g); g.snapshot()")
    assert not {m for m in mods if m.split(".")[0] in ("PySide6", "torch", "diffusers", "transformers")}
