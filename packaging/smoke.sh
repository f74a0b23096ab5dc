#!/usr/bin/env bash
# Smoke test of a built Linux bundle: packaging/smoke.sh APP_DIR [PYTHON]
#   APP_DIR  the PyInstaller folder (build/bundle/dist/latent-studio)
#   PYTHON   an interpreter with this checkout installed, to write the tiny test models
#            (default: .venv/bin/python)
# Checks, all from the bundle and against a throw-away home (LATENT_STUDIO_HOME):
#   1. `latent-studio --version` (timed, cold and warm)
#   2. `latent-studio nodes` lists the built-in nodes (entry-point metadata travelled)
#   3. `latent-studio run resources/workflows/canny.json` writes a PNG (no model needed)
#   4. `latent-studio run resources/workflows/txt2img.json` on a tiny random-weight checkpoint
#      (torch, diffusers, the sampler and the VAE inside the bundle)
#   5. the window under Xvfb: it maps a "Latent Studio" window; a screenshot is saved
# Needs (for 5): xvfb-run, xdotool, ImageMagick's `import`, libxcb-cursor0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="$(cd "${1:?usage: smoke.sh APP_DIR [PYTHON]}" && pwd)"
py="${2:-$root/.venv/bin/python}"
exe="$app/latent-studio"
work="$(mktemp -d /tmp/latent-studio-smoke.XXXXXX)"
shots="${SMOKE_OUT:-$root/dist}"
mkdir -p "$shots"
export LATENT_STUDIO_HOME="$work/home" LATENT_STUDIO_MODELS="$work/models" LATENT_STUDIO_OUTPUT="$work/out"
failed=0
ok() { echo "PASS $*"; }
bad() { echo "FAIL $*"; failed=1; }
now() { date +%s.%N; }
cd "$root"

echo "bundle: $app ($(du -sh "$app" | cut -f1))"
t0=$(now); v="$("$exe" --version)"; t1=$(now)
"$exe" --version >/dev/null; t2=$(now)
printf 'version: %s  (cold %.2fs, warm %.2fs)\n' "$v" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
[[ "$v" == latent-studio* ]] && ok "--version" || bad "--version printed: $v"

n="$("$exe" nodes | grep -c '^preprocess\.' || true)"
[ "$n" -gt 0 ] && ok "nodes: $n preprocess nodes found" || bad "nodes: no built-in preprocess nodes"

if "$exe" run resources/workflows/canny.json --output-dir "$work/out/canny" > "$work/canny.log" 2>&1 \
    && ls "$work/out/canny"/*.png >/dev/null 2>&1; then
  ok "run canny.json -> $(ls "$work/out/canny" | head -1)"
else
  bad "run canny.json"; tail -20 "$work/canny.log"
fi

"$py" -m bench make-models --size tiny --out "$work/models" --families sd15 > "$work/models.log" 2>&1
ck="$(cd "$work/models/checkpoints" && ls ./*sd15*.safetensors | head -1)"; ck="${ck#./}"
t0=$(now)
if "$exe" run resources/workflows/txt2img.json --output-dir "$work/out/txt2img" \
    --set "91a4e357-2a45-52fe-892c-f82498d8b310.checkpoint=$ck" \
    --set "766ad0e4-d1a7-5607-acea-e079b490b4d1.width=64" --set "766ad0e4-d1a7-5607-acea-e079b490b4d1.height=64" \
    --set "4df84330-c023-5ad6-ae76-03432cedfb06.steps=4" > "$work/txt2img.log" 2>&1 \
    && ls "$work/out/txt2img"/*.png >/dev/null 2>&1; then
  ok "$(printf 'run txt2img.json on %s (%.1fs)' "$ck" "$(echo "$(now) - $t0" | bc)")"
else
  bad "run txt2img.json"; tail -20 "$work/txt2img.log"
fi

if command -v xvfb-run >/dev/null && command -v xdotool >/dev/null && command -v import >/dev/null; then
  shot="$shots/smoke-window.png"
  # The window opens the first-run example; after it is mapped, give it a moment to paint.
  xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
    "$1" > "$2/gui.log" 2>&1 & pid=$!
    for _ in $(seq 1 120); do
      if xdotool search --onlyvisible --name "Latent Studio" >/dev/null 2>&1; then break; fi
      kill -0 $pid 2>/dev/null || break; sleep 0.5
    done
    found=$(xdotool search --onlyvisible --name "Latent Studio" 2>/dev/null | head -1 || true)
    sleep 3; import -window root "$3"
    kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
    [ -n "$found" ]' _ "$exe" "$work" "$shot" \
    && ok "window mapped under Xvfb; screenshot $shot" || { bad "window under Xvfb"; tail -20 "$work/gui.log"; }
else
  echo "SKIP window: needs xvfb-run, xdotool and ImageMagick (apt-get install -y xvfb xdotool imagemagick libxcb-cursor0)"
fi

rm -rf "$work"
[ "$failed" = 0 ] && echo "smoke test passed" || { echo "smoke test FAILED"; exit 1; }
