"""``latent-studio doctor``: one line per check, JSON, and exit 1 only when something will not work."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from studio import doctor, qt_check
from studio.cli import main
from studio.core.settings import Settings
from studio.diffusion.model_folders import list_models
from studio.logs import log_file

ROOT = Path(__file__).resolve().parents[2]
STATUSES = ("ok", "warning", "problem")


@pytest.fixture
def env(monkeypatch, tmp_path, tiny_root):
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    monkeypatch.setenv("LATENT_STUDIO_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return tmp_path


def run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_text_report_has_one_line_per_check_and_the_models_per_kind(env, tiny_root, capsys):
    code, out = run(["doctor"], capsys)
    lines = out.splitlines()
    assert lines[0].startswith("Latent Studio ")
    names = ("python", "torch choice", "torch", "cpu", "qt", "settings", "models root", "models",
             "output folder", "log file")
    checks = {}
    for line in lines[1:-1]:
        if line.startswith(" "):  # a hint under its check
            continue
        status, rest = line.split(None, 1)
        assert status in STATUSES, line
        name = next(n for n in names if rest.startswith(n + " "))
        checks[name] = (status, rest[len(name):].strip())
    assert set(names) <= set(checks)
    assert code == 0 and lines[-1].startswith("0 problem(s)")
    assert checks["qt"][0] == "ok" and "offscreen" in checks["qt"][1]
    assert str(log_file()) in checks["log file"][1]
    assert str(env / "out") in checks["output folder"][1] and checks["output folder"][0] == "ok"
    # What the models line counts is what the folders hold.
    models = checks["models"][1]
    for kind in ("checkpoints", "controlnet", "vae"):
        n = len(list_models([tiny_root], kind))
        assert n > 0 and f"{kind} {n}" in models, models
    assert "sd15" in models and "sdxl" in models
    assert f"{tiny_root} (Latent Studio)" in checks["models root"][1]


def test_json_report_and_exit_1_when_the_output_folder_cannot_be_made(env, monkeypatch, capsys):
    blocker = env / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LATENT_STUDIO_OUTPUT", str(blocker / "out"))
    code, out = run(["doctor", "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["problems"] == 1
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["output folder"]["status"] == "problem" and "not a folder" in by_name["output folder"]["message"]
    assert by_name["output folder"]["hints"]
    assert all(c["status"] in STATUSES for c in report["checks"])
    kinds = by_name["models"]["details"]["kinds"]
    assert kinds["checkpoints"]["count"] >= 3 and "sd15" in kinds["checkpoints"]["families"]
    torch_details = by_name["torch"]["details"]
    assert torch_details["version"].startswith("2.") and torch_details["device"] in ("cpu", "cuda", "mps")
    assert by_name["log file"]["details"]["path"] == str(log_file())


def test_missing_qt_library_is_a_problem_with_install_commands(env, monkeypatch):
    monkeypatch.setattr(qt_check, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    check = doctor.check_qt({"DISPLAY": ":0"})
    if not sys.platform.startswith("linux"):
        assert check.status == "ok"
        return
    assert check.status == "problem" and "libxcb-cursor.so.0" in check.message
    assert "Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4" in check.hints
    assert any(h.endswith("sudo dnf install xcb-util-cursor xcb-util-wm") for h in check.hints)
    assert any(h.endswith("sudo pacman -S xcb-util-cursor xcb-util-wm") for h in check.hints)


def test_an_empty_models_root_is_a_warning_that_says_where_checkpoints_go(env, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(env / "none"))
    *roots, models = doctor.check_model_folders(Settings.load())
    assert roots[0].status == "warning" and "does not exist" in roots[0].message
    assert models.status == "warning" and str(env / "none" / "checkpoints") in models.hints[0]


def _record(tmp_path: Path, value: str) -> Path:
    spec = importlib.util.spec_from_file_location("torch_choice", ROOT / "scripts" / "torch_choice.py")
    assert spec and spec.loader
    tc = importlib.util.module_from_spec(spec)
    sys.modules["torch_choice"] = tc
    spec.loader.exec_module(tc)
    (tmp_path / doctor.TORCH_CHOICE_FILE).write_text(tc.record_text(value, tc.resolve(value, "linux")))
    return tmp_path


def test_torch_choice_recorded_by_bootstrap_is_shown(tmp_path):
    cuda_build = doctor.Check("torch", "ok", "", details={"build": "CUDA 12.8"})
    check = doctor.check_torch_choice(cuda_build, prefix=str(_record(tmp_path, "cu128")))
    assert check.status == "ok" and check.message.startswith("cu128 (pip install torch==2.13.0 --index-url")
    assert check.details["LATENT_STUDIO_TORCH"] == "cu128"
    # Chosen CUDA, but a CPU torch is what imports: said, with the command that fixes it.
    cpu_build = doctor.Check("torch", "warning", "", details={"build": "CPU"})
    check = doctor.check_torch_choice(cpu_build, prefix=str(tmp_path))
    assert check.status == "warning" and "LATENT_STUDIO_TORCH=cu128 ./latent-studio" in check.hints[0]
    assert check.hints[0].startswith(f"rm {tmp_path / doctor.TORCH_CHOICE_FILE} && ")  # else nothing reinstalls
    assert "not recorded" in doctor.check_torch_choice(cpu_build, prefix=str(tmp_path / "nowhere")).message


def test_cpu_torch_on_a_machine_with_an_nvidia_gpu_says_how_to_get_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("a GPU is usable here")
    check = doctor.check_torch(Settings(), nvidia_present=lambda: True)
    if torch.version.cuda is None:
        assert check.status == "warning" and "LATENT_STUDIO_TORCH=cu128" in check.hints[0]
    # A GPU device asked for in Preferences that is not there: a run would fail.
    assert doctor.check_torch(Settings(device="cuda"), nvidia_present=lambda: False).status == "problem"


def test_a_cuda_gpu_is_shown_with_its_memory(monkeypatch):
    from types import SimpleNamespace

    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * 2**30))
    check = doctor.check_torch(Settings(device="cuda"))
    assert check.status == "ok" and check.message.endswith("(CUDA 12.8 build): NVIDIA H100 80GB HBM3, 80.0 GiB")
    assert check.details["device"] == "cuda" and check.details["gpu_memory_gib"] == 80.0
    assert check.details["gpu_count"] == 2
