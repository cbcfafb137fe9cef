#!/usr/bin/env bash
# Make sure Debian's nginx is installed for the deployment-kit test (booking_project/tests/test_deploy_kit.py).
# From apt only; needs root or passwordless sudo, otherwise it says what to run and fails.
# The package's own service is not used: the test runs nginx as a plain process with its own config.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

if [ -n "$(nginx_bin)" ]; then
  exit 0
fi
apt_install nginx
[ -n "$(nginx_bin)" ] || { echo "make: nginx still missing after apt-get install" >&2; exit 1; }
echo "nginx: $("$(nginx_bin)" -v 2>&1)"
