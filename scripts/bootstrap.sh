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

pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
# torch first and pinned: an unpinned torch would pull several GB of CUDA wheels on some machines.
# LATENT_STUDIO_TORCH picks another build: cpu, cu126, cu128, rocm6.4 (scripts/torch_choice.py), or
# a whole pip requirement. The choice is recorded in .venv/.torch-choice (`latent-studio doctor`).
torch_choice="$venv/.torch-choice"
install_torch() {  # [pip options]: installs the chosen torch
  local spec line args=()
  spec="$("$venv/bin/python" "$root/scripts/torch_choice.py" pip-args "${LATENT_STUDIO_TORCH:-}")"
  while IFS= read -r line; do args+=("$line"); done <<< "$spec"
  "${pip[@]}" "$@" "${args[@]}" >&2
}
record_torch() {  # only once torch is fully installed: a failed install is tried again next time
  "$venv/bin/python" "$root/scripts/torch_choice.py" record "${LATENT_STUDIO_TORCH:-}" "$torch_choice"
}

want="$( (cat "$root/pyproject.toml"; echo "extras=$extras") | sha256sum | cut -c1-64)"
stamp="$venv/.installed-${extras:-base}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Latent Studio and its dependencies (first run only) ..." >&2
  "${pip[@]}" --upgrade pip setuptools wheel >&2
  if ! "$venv/bin/python" -c 'import torch' >/dev/null 2>&1; then
    install_torch
    record_torch
  fi
  target="$root"
  [ -n "$extras" ] && target="$root[$extras]"
  "${pip[@]}" -e "$target" >&2
  echo "$want" > "$stamp"
fi

# A LATENT_STUDIO_TORCH other than the recorded one replaces torch (compared without starting Python;
# unset keeps what is installed). The new build is downloaded before the old one is removed, then
# its own dependencies (CUDA or ROCm libraries) follow.
if [ -n "${LATENT_STUDIO_TORCH:-}" ]; then
  recorded=""
  if [ -f "$torch_choice" ]; then IFS= read -r recorded < "$torch_choice" || true; fi
  if [ "$recorded" != "LATENT_STUDIO_TORCH=$LATENT_STUDIO_TORCH" ]; then
    echo "Installing torch for LATENT_STUDIO_TORCH=$LATENT_STUDIO_TORCH ..." >&2
    install_torch --force-reinstall --no-deps
    install_torch
    record_torch
  fi
fi
