"""The check that runs before the window: a missing system library gives a message and exit 2, not
Qt's abort with a core dump."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio import qt_check
from studio.qt_check import check_qt, failure_text, install_hints, missing_libraries, parse_ldd

ROOT = Path(__file__).resolve().parents[2]
X11 = {"DISPLAY": ":0"}


def plugins(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "platforms"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"libq{name}.so").write_bytes(b"\x7fELF")
    return folder


def lacking(*sonames: str, only: str = "libqxcb.so"):
    """A loader lookup that finds everything except ``sonames`` (for the plugin file ``only``)."""
    seen: list[str] = []

    def lookup(plugin: Path) -> list[str]:
        seen.append(plugin.name)
        return list(sonames) if plugin.name == only else []

    lookup.seen = seen  # type: ignore[attr-defined]
    return lookup


def never(plugin: Path) -> list[str]:
    raise AssertionError(f"{plugin} should not have been inspected")


def test_missing_xcb_cursor_names_the_package_for_each_distribution(tmp_path):
    result = check_qt(X11, system="linux", plugin_dir=plugins(tmp_path, "xcb"),
                      missing_libs=lacking("libxcb-cursor.so.0"))
    assert not result.ok and result.status == "problem" and result.platform == "xcb"
    assert result.missing == ("libxcb-cursor.so.0",)
    text = failure_text(result)
    assert "libxcb-cursor.so.0" in text.splitlines()[0]
    assert "sudo apt install libxcb-cursor0" in text
    assert "sudo dnf install xcb-util-cursor" in text
    assert "sudo pacman -S xcb-util-cursor" in text
    assert "latent-studio doctor" in text


def test_several_missing_libraries_make_one_command_per_distribution():
    lines = install_hints(["libxcb-icccm.so.4", "libxcb-randr.so.0", "libxcb-shm.so.0", "libxkbcommon-x11.so.0"])
    apt, dnf, pacman = lines
    assert apt.endswith("sudo apt install libxcb-icccm4 libxcb-randr0 libxcb-shm0 libxkbcommon-x11-0")
    assert dnf.endswith("sudo dnf install xcb-util-wm libxcb libxkbcommon-x11")  # libxcb named once
    assert pacman.endswith("sudo pacman -S xcb-util-wm libxcb libxkbcommon-x11")


def test_an_unknown_library_says_how_to_find_its_package():
    (line,) = install_hints(["libfrob.so.3"])
    assert "apt-file search libfrob.so.3" in line and "dnf provides" in line and "pacman -F libfrob.so.3" in line


@pytest.mark.parametrize("platform", ["offscreen", "minimal", "offscreen:fontengine=freetype"])
def test_platforms_without_a_display_need_no_x11(tmp_path, platform):
    result = check_qt({"QT_QPA_PLATFORM": platform}, system="linux", plugin_dir=plugins(tmp_path),
                      missing_libs=never)
    assert result.ok and result.platform == platform.split(":")[0]


def test_no_display_is_said(tmp_path):
    result = check_qt({}, system="linux", plugin_dir=plugins(tmp_path, "xcb"), missing_libs=lacking())
    assert not result.ok
    assert "DISPLAY is not set" in result.message and "WAYLAND_DISPLAY" in result.message
    assert any("latent-studio run" in h for h in result.hints)


def test_wayland_needs_its_display_and_not_xcb(tmp_path):
    folder = plugins(tmp_path, "xcb", "wayland")
    lookup = lacking("libxcb-cursor.so.0")
    assert not check_qt({"QT_QPA_PLATFORM": "wayland"}, system="linux", plugin_dir=folder, missing_libs=lookup).ok
    env = {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"}
    result = check_qt(env, system="linux", plugin_dir=folder, missing_libs=lookup)
    assert result.ok and result.platform == "wayland"
    assert "libqxcb.so" not in lookup.seen  # type: ignore[attr-defined]


def test_a_wayland_session_falls_back_to_xcb_as_qt_does(tmp_path):
    folder = plugins(tmp_path, "xcb", "wayland")
    session = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    # xcb libraries missing: the window still opens on Wayland.
    assert check_qt(session, system="linux", plugin_dir=folder, missing_libs=lacking("libxcb-cursor.so.0")).ok
    # Wayland's libraries missing: Qt falls back to xcb, which works.
    result = check_qt(session, system="linux", plugin_dir=folder,
                      missing_libs=lacking("libwayland-cursor.so.0", only="libqwayland.so"))
    assert result.ok and result.platform == "xcb" and "wayland cannot load" in result.message
    # Both missing: a problem naming both sets of packages.
    def both(plugin: Path) -> list[str]:
        return ["libwayland-cursor.so.0"] if "wayland" in plugin.name else ["libxcb-cursor.so.0"]

    result = check_qt(session, system="linux", plugin_dir=folder, missing_libs=both)
    assert not result.ok and set(result.missing) == {"libwayland-cursor.so.0", "libxcb-cursor.so.0"}
    assert any("libwayland-cursor0" in h and "libxcb-cursor0" in h for h in result.hints)


@pytest.mark.parametrize("system", ["darwin", "win32"])
def test_macos_and_windows_pass_through(system):
    assert check_qt({}, system=system, missing_libs=never).ok


def test_a_plugin_file_elsewhere_is_a_warning_that_does_not_stop_the_launch(tmp_path):
    result = check_qt(X11, system="linux", plugin_dir=plugins(tmp_path), missing_libs=never)
    assert result.ok and result.status == "warning" and "cannot check" in result.message


def test_parse_ldd():
    text = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
            "\tlibQt6XcbQpa.so.6 => /opt/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)\n"
            "\tlibxcb-cursor.so.0 => not found\n"
            "\tlibxcb-icccm.so.4 => not found\n"
            "\tlibxcb-cursor.so.0 => not found\n")
    assert parse_ldd(text) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]


def test_the_gui_command_exits_2_with_the_message(monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(qt_check, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0"])
    folder = qt_check.platform_plugin_dir()
    if not sys.platform.startswith("linux") or folder is None or not (folder / "libqxcb.so").is_file():
        pytest.skip("needs Linux and PySide6's xcb plugin")
    assert main(["gui"]) == 2
    err = capsys.readouterr().err
    assert "sudo apt install libxcb-cursor0" in err and "sudo dnf install xcb-util-cursor" in err


# --- for real: Qt's own plugin with one dependency renamed, checked by the dynamic loader ----------------


def _broken_plugin(tmp_path: Path) -> Path:
    """A copy of PySide6's libqxcb.so that needs ``libxcb-cursor.so.9`` (which no system has) instead
    of ``libxcb-cursor.so.0``; Qt's own libraries are reached through a link beside it, as its
    RUNPATH ($ORIGIN/../../lib) expects."""
    real = qt_check.platform_plugin_dir({})
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None or real is None:
        pytest.skip("needs Linux, ldd and PySide6")
    data = (real / "libqxcb.so").read_bytes()
    if b"libxcb-cursor.so.0\0" not in data:
        pytest.skip("this Qt's xcb plugin does not link libxcb-cursor")
    folder = tmp_path / "plugins" / "platforms"
    folder.mkdir(parents=True)
    (tmp_path / "lib").symlink_to(real.parent.parent / "lib")
    (folder / "libqxcb.so").write_bytes(data.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursor.so.9\0"))
    return folder


def test_ldd_finds_the_missing_library(tmp_path):
    folder = _broken_plugin(tmp_path)
    # a machine without the desktop's xcb libraries misses those for the real plugin too
    already = set(missing_libraries(qt_check.platform_plugin_dir({}) / "libqxcb.so"))
    missing = missing_libraries(folder / "libqxcb.so")
    assert "libxcb-cursor.so.9" in missing
    assert set(missing) - already == {"libxcb-cursor.so.9"}


@pytest.mark.parametrize("argv", [[], ["gui"]])
def test_the_launcher_exits_2_instead_of_aborting(tmp_path, argv):
    folder = _broken_plugin(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(DISPLAY=":99", QT_QPA_PLATFORM_PLUGIN_PATH=str(folder), LATENT_STUDIO_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "libxcb-cursor.so.9" in done.stderr
    assert "sudo apt install libxcb-cursor0" in done.stderr and "sudo pacman -S xcb-util-cursor" in done.stderr
    assert "Traceback" not in done.stderr
