#!/usr/bin/env bash
# Make sure .venv is a working virtual environment with pip; rebuild it when it is half-made
# (say, python3-venv was missing at the first try), installing python3-venv from Debian when needed.
set -euo pipefail
PYTHON="${1:-python3}"
VENV="${2:-.venv}"
. "$(dirname "$0")/lib/apt.sh"

command -v "$PYTHON" >/dev/null 2>&1 || { echo "make: $PYTHON not found: install Python 3.11 or newer." >&2; exit 1; }
if [ -x "$VENV/bin/pip" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  exit 0
fi
if [ -e "$VENV" ]; then
  echo "make: $VENV is incomplete (no working pip): rebuilding it."
  rm -rf "$VENV"
fi
if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
  apt_install python3-venv
fi
"$PYTHON" -m venv "$VENV" || { rm -rf "$VENV"; echo "make: '$PYTHON -m venv $VENV' failed." >&2; exit 1; }
[ -x "$VENV/bin/pip" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || { rm -rf "$VENV"; echo "make: the new $VENV has no pip." >&2; exit 1; }
