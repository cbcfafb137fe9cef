#!/usr/bin/env bash
# Make sure Debian's chromium (and its driver) are installed for the browser test.
# Installs from apt only: the browser test never downloads a browser from anywhere else
# (no `playwright install`). Needs root or passwordless sudo (as on a fresh Debian machine or CI);
# otherwise it says what to run and fails, so the browser test never silently skips.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
apt_install chromium chromium-driver fonts-dejavu-core
command -v chromium >/dev/null 2>&1 || { echo "make: chromium still missing after apt-get install" >&2; exit 1; }
echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
