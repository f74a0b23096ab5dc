"""The layers of the design, as import contracts (pyproject.toml, import-linter) and at run time:
studio/core imports neither Qt, torch nor the built-in nodes; nodes/, studio/diffusion, studio/compat
and studio/app import no Qt; importing the core pays for neither Qt nor torch."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Check the contracts of ``tree``'s pyproject.toml against the packages found in ``tree``."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
                          capture_output=True, text=True, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": ""})


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _copy_tree(dest: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("studio", "nodes"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", dest)
    return dest


@pytest.mark.parametrize(("module", "line", "forbidden"), [
    ("studio/diffusion/vae.py", "from superqt.utils import qthrottled", "studio.diffusion.vae -> superqt"),
    ("nodes/latent.py", "from PySide6 import QtCore", "nodes.latent -> PySide6"),
    ("studio/compat/__init__.py", "import qtawesome", "studio.compat -> qtawesome"),
    ("studio/app/__init__.py", "import shiboken6", "studio.app -> shiboken6"),
    ("studio/core/graph.py", "def _late():\n    import torch\n    return torch", "studio.core.graph -> torch"),
    ("studio/core/workflow.py", "import nodes.latent", "studio.core.workflow -> nodes.latent"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, forbidden):
    tree = _copy_tree(tmp_path)
    with open(tree / module, "a", encoding="utf-8") as f:
        f.write("\n" + line + "\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert forbidden in result.stdout


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
