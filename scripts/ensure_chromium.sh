#!/usr/bin/env bash
# Make sure Debian's chromium (and its driver) are installed for the browser test.
# Installs from apt only: the browser test never downloads a browser from anywhere else
# (no `playwright install`). Needs root (as on a fresh Debian machine or CI); otherwise it
# says what to run and fails, so the browser test never silently skips.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing: run 'sudo apt-get install -y chromium chromium-driver' (Debian packages)." >&2
  exit 1
fi

echo "Installing Debian's chromium and chromium-driver with apt-get..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium still missing after apt-get install" >&2; exit 1; }
echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
