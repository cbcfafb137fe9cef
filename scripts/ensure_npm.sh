#!/usr/bin/env bash
# Make sure npm is there for `npm ci` (axe-core, which the real-browser tests inject into chromium):
# Debian's nodejs and npm when missing, as for chromium.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

command -v npm >/dev/null 2>&1 && exit 0
apt_install nodejs npm
command -v npm >/dev/null 2>&1 || { echo "make: npm still missing after apt-get install" >&2; exit 1; }
