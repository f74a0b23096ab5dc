#!/usr/bin/env bash
# Create .venv in the checkout and install the studio into it, once (again when pyproject.toml
# changes). Sourced by ./latent-studio and ./run-tests. Usage: bootstrap.sh [extras]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
extras="${1:-}"

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "Latent Studio needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py="$(find_python)"
  echo "Creating a virtual environment in $venv ..." >&2
  "$py" -m venv "$venv"
fi

want="$( (cat "$root/pyproject.toml"; echo "extras=$extras") | sha256sum | cut -c1-64)"
stamp="$venv/.installed-${extras:-base}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Latent Studio and its dependencies (first run only) ..." >&2
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
  "${pip[@]}" --upgrade pip setuptools wheel >&2
  # torch first and pinned: an unpinned torch would pull several GB of CUDA wheels on some
  # machines. LATENT_STUDIO_TORCH overrides it (e.g. a CUDA build's index URL).
  if ! "$venv/bin/python" -c 'import torch' >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    "${pip[@]}" ${LATENT_STUDIO_TORCH:-torch==2.13.0} >&2
  fi
  target="$root"
  [ -n "$extras" ] && target="$root[$extras]"
  "${pip[@]}" -e "$target" >&2
  echo "$want" > "$stamp"
fi
