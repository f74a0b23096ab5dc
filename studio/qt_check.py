"""Can the Qt window open here? Asked before any Qt library is loaded.

When Qt's platform plugin cannot load (a system library such as libxcb-cursor0 is missing, or there
is no display) Qt aborts the whole process with a core dump, not an exception. This module finds
out beforehand, without importing Qt: it reads which plugin Qt would pick (``QT_QPA_PLATFORM``, the
desktop session), asks the dynamic loader (``ldd``) which of the plugin's libraries are missing,
and names the packages that provide them on Debian/Ubuntu, Fedora and Arch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Plugins that draw into memory or straight onto the hardware: no X11 or Wayland display needed.
NO_DISPLAY_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay")
DISTROS = ("Debian/Ubuntu", "Fedora", "Arch")
INSTALL = {"Debian/Ubuntu": "sudo apt install", "Fedora": "sudo dnf install", "Arch": "sudo pacman -S"}

# Library (its file name before ".so") -> package on (Debian/Ubuntu, Fedora, Arch). These are what the
# xcb and wayland plugins of Qt 6 load from the system (Qt's "X11 requirements").
_XCB = "libxcb", "libxcb"
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-randr": ("libxcb-randr0", *_XCB),
    "libxcb-shm": ("libxcb-shm0", *_XCB),
    "libxcb-sync": ("libxcb-sync1", *_XCB),
    "libxcb-xfixes": ("libxcb-xfixes0", *_XCB),
    "libxcb-render": ("libxcb-render0", *_XCB),
    "libxcb-shape": ("libxcb-shape0", *_XCB),
    "libxcb-xkb": ("libxcb-xkb1", *_XCB),
    "libxcb-xinput": ("libxcb-xinput0", *_XCB),
    "libxcb-glx": ("libxcb-glx0", *_XCB),
    "libxcb": ("libxcb1", *_XCB),
    "libX11-xcb": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11": ("libx11-6", "libX11", "libx11"),
    "libXau": ("libxau6", "libXau", "libxau"),
    "libXdmcp": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    "libxkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libGL": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libEGL": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0": ("libglib2.0-0", "glib2", "glib2"),
    "libwayland-client": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl": ("libwayland-egl1", "libwayland-egl", "wayland"),
    "libSM": ("libsm6", "libSM", "libsm"),
    "libICE": ("libice6", "libICE", "libice"),
}

MissingLookup = Callable[[Path], Sequence[str]]


@dataclass(frozen=True)
class QtCheck:
    status: str  # "ok" | "warning" | "problem"
    message: str
    platform: str = ""  # the platform plugin Qt will use ("xcb", "wayland", "offscreen", …)
    missing: tuple[str, ...] = ()  # libraries (sonames) the dynamic loader cannot find
    hints: tuple[str, ...] = ()  # what to do, one line each

    @property
    def ok(self) -> bool:
        return self.status != "problem"

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def check_qt(env: Mapping[str, str] | None = None, *, system: str | None = None,
             plugin_dir: Path | None = None, missing_libs: MissingLookup | None = None) -> QtCheck:
    """Whether Qt can open a window with ``env``; never loads Qt. ``missing_libs(plugin)`` lists the
    libraries a plugin file needs that the system lacks (``ldd`` by default)."""
    env = os.environ if env is None else env
    system = system or sys.platform
    if not system.startswith("linux"):
        return QtCheck("ok", "Qt brings its own platform plugin on this system")
    folder = plugin_dir or platform_plugin_dir(env)
    lookup = missing_libs or missing_libraries
    wanted = _candidates(env)
    results = [_check_one(name, env, folder, lookup) for name in wanted]
    for result in results:
        if result.ok:
            if result is not results[0]:  # Qt falls back to the next platform in the list
                return QtCheck(result.status, f"{result.message} ({results[0].platform} cannot load: "
                               f"{results[0].message})", result.platform, result.missing, result.hints)
            return result
    first = results[0]
    missing = tuple(dict.fromkeys(m for r in results for m in r.missing))
    # One install command per distribution for everything missing, then the other advice.
    own = {h for r in results for h in install_hints(r.missing)}
    hints = tuple(dict.fromkeys([*install_hints(missing), *(h for r in results for h in r.hints if h not in own)]))
    message = "; ".join(r.message for r in results)
    return QtCheck("problem", message, first.platform, missing, hints)


def _candidates(env: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt tries, in order (what QGuiApplication does on Linux)."""
    raw = env.get("QT_QPA_PLATFORM", "").strip()
    if raw:
        names = [part.split(":", 1)[0].strip() for part in raw.split(";")]
        return [n for n in names if n] or ["xcb"]
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" and env.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def _check_one(name: str, env: Mapping[str, str], folder: Path | None, lookup: MissingLookup) -> QtCheck:
    if name in NO_DISPLAY_PLATFORMS:
        return QtCheck("ok", f"QT_QPA_PLATFORM={name}: no display libraries needed", name)
    if name not in ("xcb",) and not name.startswith("wayland"):
        return QtCheck("ok", f"platform {name!r} is not checked here", name)
    problems: list[str] = []
    hints: list[str] = []
    if name == "xcb" and not env.get("DISPLAY"):
        problems.append("no display: DISPLAY is not set" + ("" if env.get("WAYLAND_DISPLAY") else
                                                            " (nor WAYLAND_DISPLAY)"))
        hints += ["start the studio from a desktop session (over SSH: ssh -X), or run workflows without a "
                  "window: latent-studio run flow.json"]
    if name.startswith("wayland") and not _wayland_display(env):
        problems.append("no Wayland display: WAYLAND_DISPLAY is not set")
    plugin = folder / f"libq{name}.so" if folder else None
    missing: tuple[str, ...] = ()
    if plugin is None or not plugin.is_file():
        # Not where a pip-installed PySide6 keeps it (a bundled app, another layout): Qt may still find
        # it, so this is said but does not stop the launch.
        where = f"{plugin}" if plugin else "PySide6 (not installed)"
        if not problems:
            return QtCheck("warning", f"cannot check the {name} platform plugin: {where} not found", name)
    else:
        missing = tuple(lookup(plugin))
        if missing:
            problems.append(f"Qt's {name} platform plugin needs system libraries that are missing: "
                            f"{', '.join(missing)}")
            hints = install_hints(missing) + hints
    if problems:
        return QtCheck("problem", "; ".join(problems), name, missing, tuple(hints))
    display = env.get("DISPLAY") if name == "xcb" else _wayland_display(env)
    return QtCheck("ok", f"platform {name} on display {display}: the libraries it needs are installed", name)


def _wayland_display(env: Mapping[str, str]) -> str | None:
    """WAYLAND_DISPLAY, or the socket a Wayland client connects to without it (wayland-0)."""
    runtime = env.get("XDG_RUNTIME_DIR")
    default = "wayland-0" if runtime and (Path(runtime) / "wayland-0").exists() else None
    return env.get("WAYLAND_DISPLAY") or default


def platform_plugin_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The folder Qt loads its platform plugins from: ``QT_QPA_PLATFORM_PLUGIN_PATH`` when it is set,
    else PySide6's own (found without importing PySide6)."""
    env = os.environ if env is None else env
    override = env.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"


def missing_libraries(plugin: Path) -> list[str]:
    """Libraries ``plugin`` needs (directly or through its dependencies) that the dynamic loader cannot
    find. Asks ``ldd``; without it, looks for the libraries Qt's X11 plugin is known to need."""
    ldd = shutil.which("ldd")
    if ldd:
        try:
            done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20,
                                  env=dict(os.environ, LC_ALL="C"))
            if done.returncode == 0:
                return parse_ldd(done.stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    return _missing_by_dlopen(XCB_SONAMES) if plugin.name == "libqxcb.so" else []


def parse_ldd(text: str) -> list[str]:
    """The sonames ``ldd`` reports as ``not found``, each once, in order."""
    found: dict[str, None] = {}
    for line in text.splitlines():
        name, arrow, target = line.strip().partition("=>")
        if arrow and target.strip() == "not found":
            found[name.strip()] = None
    return list(found)


# The system libraries Qt 6's libqxcb.so loads (readelf -d), checked one by one when ldd is absent.
XCB_SONAMES = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-util.so.1", "libxcb-image.so.0",
               "libxcb-keysyms.so.1", "libxcb-randr.so.0", "libxcb-render-util.so.0", "libxcb-shm.so.0",
               "libxcb-sync.so.1", "libxcb-xfixes.so.0", "libxcb-render.so.0", "libxcb-shape.so.0",
               "libxcb-xkb.so.1", "libxcb.so.1", "libX11-xcb.so.1", "libX11.so.6", "libxkbcommon.so.0",
               "libxkbcommon-x11.so.0", "libGL.so.1", "libglib-2.0.so.0", "libgthread-2.0.so.0")


def _missing_by_dlopen(sonames: Iterable[str]) -> list[str]:
    """Loading a plain system library is harmless (only Qt's plugin can abort the process)."""
    import ctypes

    missing = []
    for soname in sonames:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def soname_stem(soname: str) -> str:
    """``libxcb-cursor.so.0`` → ``libxcb-cursor``."""
    return soname.split(".so", 1)[0]


def packages_for(missing: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Packages per distribution for the ``missing`` sonames, and the sonames no package is known for."""
    per: dict[str, list[str]] = {d: [] for d in DISTROS}
    unknown: list[str] = []
    for soname in missing:
        names = PACKAGES.get(soname_stem(soname))
        if names is None:
            unknown.append(soname)
            continue
        for distro, package in zip(DISTROS, names, strict=True):
            if package not in per[distro]:
                per[distro].append(package)
    return per, unknown


def install_hints(missing: Iterable[str]) -> list[str]:
    """One install command per distribution (and how to find a package for an unknown library)."""
    per, unknown = packages_for(missing)
    width = max(len(d) for d in DISTROS) + 1
    lines = [f"{d + ':':<{width}} {INSTALL[d]} {' '.join(p)}" for d, p in per.items() if p]
    if any(soname_stem(s).startswith(("libQt6", "libpyside6", "libshiboken6")) for s in unknown):
        lines.append("Qt's own libraries are incomplete: delete .venv and start ./latent-studio again")
        unknown = [s for s in unknown if not soname_stem(s).startswith(("libQt6", "libpyside6", "libshiboken6"))]
    for soname in unknown:
        lines.append(f"{soname}: find its package with `apt-file search {soname}`, "
                     f"`dnf provides '*/{soname}'` or `pacman -F {soname}`")
    return lines


def failure_text(check: QtCheck) -> str:
    """What the launcher prints instead of letting Qt abort."""
    lines = [f"error: the desktop studio cannot start: {check.message}"]
    if check.missing:
        lines.append("Install the missing libraries, then start the studio again:")
    lines += [f"  {h}" for h in check.hints]
    lines.append("`latent-studio doctor` checks the whole set-up.")
    return "\n".join(lines)
