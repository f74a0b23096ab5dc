"""LATENT_STUDIO_TORCH: build names to pip arguments (scripts/torch_choice.py), and bootstrap.sh
installing, recording and replacing torch (run for real with a stand-in for the venv's pip)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("torch_choice", ROOT / "scripts" / "torch_choice.py")
assert _spec and _spec.loader
tc = importlib.util.module_from_spec(_spec)
sys.modules["torch_choice"] = tc  # dataclasses look the module up by name
_spec.loader.exec_module(tc)

PIN = "torch==2.13.0"


@pytest.mark.parametrize("value", ["", "default", "  "])
def test_default_is_the_pinned_torch_from_the_default_index(value):
    choice = tc.resolve(value, "linux")
    assert choice.name == "default" and choice.pip_args == (PIN,) and choice.index_url is None


@pytest.mark.parametrize("name", ["cpu", "cu126", "cu128", "rocm6.4"])
def test_build_names_use_pytorchs_index(name):
    choice = tc.resolve(name, "linux")
    assert choice.pip_args == (PIN, "--index-url", f"https://download.pytorch.org/whl/{name}")
    assert choice.name == name and not choice.note


def test_other_build_names_are_tried_with_a_note():
    choice = tc.resolve("cu130", "linux")
    assert choice.index_url == "https://download.pytorch.org/whl/cu130" and "cu130" in choice.note


def test_a_whole_pip_requirement_is_passed_on():
    spec = "torch==2.13.0 --index-url https://example.org/whl/cu128"
    choice = tc.resolve(spec, "linux")
    assert choice.name == "custom" and choice.pip_args == tuple(spec.split())
    assert choice.index_url == "https://example.org/whl/cu128"
    assert tc.resolve("torch", "linux").pip_args == ("torch",)


@pytest.mark.parametrize(("value", "platform", "words"), [
    ("cuda", "linux", "names no torch build"),
    ("cu128", "darwin", "macOS"),
    ("rocm6.4", "win32", "Linux only"),
])
def test_refused_values_say_why(value, platform, words):
    with pytest.raises(tc.ChoiceError, match=words):
        tc.resolve(value, platform)


def test_the_record_starts_with_the_raw_value():
    text = tc.record_text("cu128", tc.resolve("cu128", "linux"))
    assert text.splitlines() == ["LATENT_STUDIO_TORCH=cu128", "name=cu128",
                                 "pip=torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"]


# --- bootstrap.sh, for real, with a stand-in for the venv's python -m pip ---------------------------

FAKE_PYTHON = """#!/usr/bin/env bash
# pip calls are logged (and make torch importable); `python -c 'import torch'` looks at that mark.
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  shift 2; echo "$*" >> "$PIP_LOG"
  if [ -n "${PIP_FAIL:-}" ] && [[ "$*" == $PIP_FAIL ]]; then exit 1; fi
  case "$*" in *torch==*) touch "$TORCH_MARK";; esac
  exit 0
fi
if [ "$1" = "-c" ]; then [ -f "$TORCH_MARK" ]; exit $?; fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.fixture
def checkout(tmp_path):
    if shutil.which("bash") is None or shutil.which("sha256sum") is None:
        pytest.skip("needs bash and sha256sum")
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("bootstrap.sh", "torch_choice.py"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    py = root / ".venv" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text(FAKE_PYTHON)
    py.chmod(0o755)
    return root


def bootstrap(root: Path, torch: str | None = None, *,
              pip_fail: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
    log = root / "pip.log"
    before = log.read_text().splitlines() if log.exists() else []
    env = {k: v for k, v in os.environ.items() if k != "LATENT_STUDIO_TORCH"}
    env.update(PIP_LOG=str(log), TORCH_MARK=str(root / "torch-installed"), REAL_PYTHON=sys.executable,
               PIP_FAIL=pip_fail)
    if torch is not None:
        env["LATENT_STUDIO_TORCH"] = torch
    done = subprocess.run(["bash", str(root / "scripts" / "bootstrap.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    after = log.read_text().splitlines() if log.exists() else []
    return done, after[len(before):]


def record(root: Path) -> list[str]:
    return (root / ".venv" / ".torch-choice").read_text().splitlines()


def torch_lines(calls: list[str]) -> list[str]:
    return [c for c in calls if "torch==" in c]


def test_default_install_is_the_plain_pinned_torch_and_later_launches_install_nothing(checkout):
    done, calls = bootstrap(checkout)
    assert done.returncode == 0, done.stderr
    assert torch_lines(calls) == ["install --disable-pip-version-check -q torch==2.13.0"]
    assert record(checkout)[:2] == ["LATENT_STUDIO_TORCH=", "name=default"]
    assert bootstrap(checkout)[1] == []


def test_a_new_choice_replaces_torch_once_and_unset_keeps_it(checkout):
    bootstrap(checkout)
    done, calls = bootstrap(checkout, "cu128")
    assert done.returncode == 0, done.stderr
    index = "--index-url https://download.pytorch.org/whl/cu128"
    assert torch_lines(calls) == [f"install --disable-pip-version-check -q --force-reinstall --no-deps {PIN} {index}",
                                  f"install --disable-pip-version-check -q {PIN} {index}"]
    assert record(checkout)[:2] == ["LATENT_STUDIO_TORCH=cu128", "name=cu128"]
    assert bootstrap(checkout, "cu128")[1] == []  # the same choice again: nothing
    assert bootstrap(checkout)[1] == []  # unset: the recorded build stays
    done, calls = bootstrap(checkout, "default")  # back to the default index
    assert torch_lines(calls)[-1] == f"install --disable-pip-version-check -q {PIN}"


def test_first_install_with_a_choice_installs_it_directly(checkout):
    done, calls = bootstrap(checkout, "cpu")
    assert done.returncode == 0, done.stderr
    assert torch_lines(calls) == [f"install --disable-pip-version-check -q {PIN} --index-url "
                                  "https://download.pytorch.org/whl/cpu"]
    assert bootstrap(checkout, "cpu")[1] == []


def test_a_bad_choice_stops_before_pip_and_keeps_the_record(checkout):
    bootstrap(checkout)
    done, calls = bootstrap(checkout, "cuda")
    assert done.returncode != 0 and "cuda" in done.stderr and "cu128" in done.stderr
    assert torch_lines(calls) == []
    assert record(checkout)[1] == "name=default"


def test_a_failed_install_is_not_recorded_and_is_tried_again(checkout):
    bootstrap(checkout)
    # The new torch came, but its CUDA libraries did not (no network half-way).
    done, calls = bootstrap(checkout, "cu128", pip_fail="*-q torch==2.13.0 --index-url*")
    assert done.returncode != 0 and len(torch_lines(calls)) == 2
    assert record(checkout)[1] == "name=default"
    done, calls = bootstrap(checkout, "cu128")
    assert done.returncode == 0 and len(torch_lines(calls)) == 2
    assert record(checkout)[1] == "name=cu128"
