#!/usr/bin/env bash
# Build the self-contained Latent Studio desktop app for the platform this runs on.
#
#   packaging/build.sh [--torch pypi|cpu|cu126|cu128|rocm6.4|...] [--torch-spec "PIP ARGS"]
#                      [--build-dir DIR] [--out DIR] [--smoke] [--reuse-env]
#
# --torch       which torch goes into the bundle. `pypi` (default): the registry's wheel (CUDA on
#               Linux, MPS on macOS, CPU on Windows); any other value is a PyTorch wheel index
#               (https://download.pytorch.org/whl/<value>). LATENT_STUDIO_TORCH or --torch-spec
#               give pip arguments verbatim instead (a local wheel, another index).
# --build-dir   build environment and PyInstaller work files (default: build/bundle, ~3-6 GB)
# --out         where the archives go (default: dist/)
# --smoke       afterwards, run the bundle (Linux): --version, headless runs, the window under Xvfb
# --reuse-env   keep an existing build environment instead of creating it afresh
#
# Output: Linux  dist/latent-studio-<version>-linux-<arch>-<torch>.tar.gz (+ .AppImage when
#                appimagetool is on PATH); macOS  "Latent Studio.app" and a .dmg (hdiutil);
#         Windows (Git Bash) the app folder, and an installer when Inno Setup's iscc is on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/packaging"
torch_version="${TORCH_VERSION:-2.13.0}"
torch="pypi"
torch_spec="${LATENT_STUDIO_TORCH:-}"
build="$root/build/bundle"
out="$root/dist"
smoke=0
reuse=0

while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch="$2"; shift 2 ;;
    --torch-spec) torch_spec="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --reuse-env) reuse=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$(uname -s)" in
  Linux) platform=linux ;;
  Darwin) platform=macos ;;
  MINGW*|MSYS*|CYGWIN*) platform=windows ;;
  *) echo "unsupported platform: $(uname -s)" >&2; exit 2 ;;
esac
arch="$(uname -m)"
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/studio/__init__.py")"
venv="$build/venv"
if [ "$platform" = windows ]; then py="$venv/Scripts/python.exe"; else py="$venv/bin/python"; fi
mkdir -p "$build" "$out"
build="$(cd "$build" && pwd)"; out="$(cd "$out" && pwd)"
step() { printf '\n== %s\n' "$*" >&2; }

# -- 1. the build environment: the chosen torch first, then the studio and PyInstaller ------------
if [ "$reuse" = 0 ] || [ ! -x "$py" ]; then
  step "build environment in $venv (torch: ${torch_spec:-$torch})"
  rm -rf "$venv"
  python_bin="${PYTHON:-}"
  if [ -z "$python_bin" ]; then
    for cand in python3.13 python3.12 python3.11 python3 python; do
      if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        python_bin="$cand"; break
      fi
    done
  fi
  [ -n "$python_bin" ] || { echo "needs Python 3.11 or newer (set PYTHON)" >&2; exit 2; }
  "$python_bin" -m venv "$venv"
  pip=("$py" -m pip install --disable-pip-version-check -q)
  "${pip[@]}" --upgrade pip setuptools wheel
  if [ -n "$torch_spec" ]; then
    # shellcheck disable=SC2086
    "${pip[@]}" $torch_spec
  elif [ "$torch" = pypi ]; then
    "${pip[@]}" "torch==$torch_version"
  else
    "${pip[@]}" "torch==$torch_version" --index-url "https://download.pytorch.org/whl/$torch"
  fi
  # Editable: the package metadata (with the entry point that registers the built-in nodes) is
  # installed, and PyInstaller reads the sources from this checkout.
  "${pip[@]}" -e "$root[bundle]"
fi
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' >&2

# -- 2. PyInstaller: one folder with the executable(s) and everything they need -------------------
step "PyInstaller"
dist="$build/dist"
rm -rf "$dist"
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath "$dist" --workpath "$build/work" \
  "$here/latent-studio.spec"
app="$dist/latent-studio"

# -- 3. the platform's package ----------------------------------------------------------------------
label="$torch"; [ -n "$torch_spec" ] && label=custom  # --torch-spec: pip arguments, no short name
tag="$version-$platform-$arch-$label"
case "$platform" in
  linux)
    step "Linux tarball"
    install -d "$app/share/applications" "$app/share/icons/hicolor"
    install -m 644 "$here/linux/latent-studio.desktop" "$app/share/applications/"
    for png in "$root"/resources/icons/latent-studio-*.png; do
      n="$(basename "$png" .png)"; n="${n##*-}"
      install -D -m 644 "$png" "$app/share/icons/hicolor/${n}x${n}/apps/latent-studio.png"
    done
    install -m 755 "$here/linux/install-desktop-entry.sh" "$app/"
    tarball="$out/latent-studio-$tag.tar.gz"
    tar -C "$dist" -czf "$tarball" latent-studio
    echo "$tarball"
    if command -v appimagetool >/dev/null 2>&1; then
      step "AppImage"
      appdir="$build/LatentStudio.AppDir"
      rm -rf "$appdir"; mkdir -p "$appdir/usr"
      cp -a "$app" "$appdir/usr/latent-studio"
      cp "$here/linux/latent-studio.desktop" "$appdir/"
      cp "$root/resources/icons/latent-studio-256.png" "$appdir/latent-studio.png"
      printf '#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/usr/latent-studio/latent-studio" "$@"\n' > "$appdir/AppRun"
      chmod 755 "$appdir/AppRun"
      ARCH="$arch" appimagetool "$appdir" "$out/latent-studio-$tag.AppImage"
    fi
    ;;
  macos)
    step "macOS disk image"
    bundle="$dist/Latent Studio.app"
    stage="$build/dmg"
    rm -rf "$stage"; mkdir -p "$stage"
    cp -R "$bundle" "$stage/"
    ln -s /Applications "$stage/Applications"
    dmg="$out/LatentStudio-$tag.dmg"
    rm -f "$dmg"
    hdiutil create -volname "Latent Studio" -srcfolder "$stage" -ov -format UDZO "$dmg"
    echo "$dmg"
    ;;
  windows)
    step "Windows installer"
    if command -v iscc >/dev/null 2>&1; then
      iscc "/DAppVersion=$version" "/DSourceDir=$(cygpath -w "$app")" "/DOutputDir=$(cygpath -w "$out")" \
        "/DIconFile=$(cygpath -w "$root/resources/icons/latent-studio.ico")" "$(cygpath -w "$here/windows/latent-studio.iss")"
    else
      echo "Inno Setup (iscc) not found: the app folder is $app" >&2
    fi
    ;;
esac

if [ "$smoke" = 1 ]; then
  step "smoke test"
  "$here/smoke.sh" "$app" "$py"
fi
