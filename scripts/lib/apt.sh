# Shared by the scripts/ensure_*.sh helpers: install Debian packages, or say exactly what to run.
apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      runner=(sudo)
    else
      echo "make: missing $*: run 'sudo apt-get install -y $*' (Debian packages), then try again." >&2
      exit 1
    fi
  fi
  echo "Installing Debian's $* with apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${_APT_UPDATED:-}" ]; then
    "${runner[@]}" apt-get update -qq || { echo "make: apt-get update failed: is a Debian mirror reachable?" >&2; exit 1; }
    _APT_UPDATED=1
  fi
  "${runner[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { echo "make: apt-get install $* failed" >&2; exit 1; }
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
