#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the package into it.
# Idempotent: a stamp of setup.cfg + constraints.txt skips pip when nothing changed.
# Usage: bash scripts/setup.sh [--test]   (--test also makes sure headless Chromium is present for the browser test)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.xemogpt-setup-stamp
want=$(cat setup.cfg constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing dependencies into .venv (first run takes a few minutes)"
  # (this machine's pip config lists extra local indexes; its "Location ... is ignored" warnings are noise)
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[serve,dev]" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" > "$stamp"
else
  echo "[setup] .venv is up to date"
fi
# the engine tests (tests/training/test_training_engines.py) also run DeepSpeed, an optional extra: a source archive that imports
# torch to build, so it is built against the venv's torch (version pinned in constraints.txt)
if [ "${1:-}" = "--test" ] && ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('deepspeed') is None)"; then
  echo "[setup] installing the deepspeed extra for the engine tests"
  .venv/bin/python -m pip install -q -c constraints.txt --no-build-isolation deepspeed 2>&1 | { grep -v "^WARNING: Location" || true; }
fi
# evaluate.load("emocue360") from any directory: copy the metric into evaluate's module cache (idempotent)
.venv/bin/python -m emocue360.install >/dev/null
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "[setup] installing Debian chromium for the browser test"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "[setup] could not install chromium; the browser test will be skipped"
  else
    echo "[setup] not root: install Debian's 'chromium' package to run the browser test"
  fi
fi
