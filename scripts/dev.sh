#!/usr/bin/env bash
# One entry point for set-up + the two Quick-start jobs. Idempotent: creates .venv when missing,
# (re)installs only when pyproject.toml or the constraints changed.
#   scripts/dev.sh demo [args]   build (or reuse) ./demo-project, pre-label it, print its summary
#                                and open the app (headless when there is no display, or --headless)
#   scripts/dev.sh test [args]   lint, import contracts, type check and the whole test suite
#   scripts/dev.sh setup         set-up only
#   scripts/dev.sh run CMD...    run a command inside the venv
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
py="${LAZLABEL_PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.11 python3.12 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1; then py="$cand"; break; fi
  done
fi

setup() {
  if [ ! -x "$venv/bin/python" ]; then
    echo "[lazlabel] creating $venv with $py" >&2
    "$py" -m venv "$venv"
  fi
  stamp="$venv/.lazlabel-installed"
  want="$(cat pyproject.toml scripts/constraints.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[lazlabel] installing dependencies (first run takes a few minutes)" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/python" -m pip install -q -c scripts/constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

cmd="${1:-help}"; shift || true
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    headless="${LAZLABEL_HEADLESS:-}"
    args=()
    for a in "$@"; do
      if [ "$a" = "--headless" ]; then headless=1; else args+=("$a"); fi
    done
    # Build (or reuse) and pre-label the demo project, printing its summary ...
    "$venv/bin/lazlabel" demo --dir "$root/demo-project" "${args[@]}"
    # ... then open it in the app when there is a screen to show it on.
    if [ -z "$headless" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = Darwin ]; }; then
      exec "$venv/bin/lazlabel-desktop" "$root/demo-project/demo.lazlabel"
    fi
    echo "[lazlabel] no display: ran headless. Open it later with: .venv/bin/lazlabel-desktop demo-project/demo.lazlabel" >&2 ;;
  test)
    setup
    export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
    echo "[lazlabel] ruff" >&2
    "$venv/bin/ruff" check .
    echo "[lazlabel] import contracts" >&2
    "$venv/bin/lint-imports"
    echo "[lazlabel] type check (mypy)" >&2
    "$venv/bin/python" -m mypy
    # shellcheck source=scripts/services.sh
    source "$root/scripts/services.sh"
    lazlabel_services_start  # stopped by its EXIT trap
    echo "[lazlabel] pytest" >&2
    "$venv/bin/python" -m pytest "$@" ;;
  run)
    setup
    exec "$@" ;;
  *)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
