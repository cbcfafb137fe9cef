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
  # apt's own output goes to a log; on failure one line says what failed and apt's first complaint.
  local log; log="$(mktemp "${TMPDIR:-/tmp}/make-apt.XXXXXX")"
  if [ -z "${_APT_UPDATED:-}" ]; then
    # --error-on=any: a mirror that cannot be reached is an error, not a warning over empty lists.
    "${runner[@]}" apt-get update -qq --error-on=any >"$log" 2>&1 \
      || { echo "make: cannot install $* (Debian packages): apt-get update failed, is a Debian mirror reachable? ($(_apt_first_error "$log"); all of it in $log)" >&2; exit 1; }
    _APT_UPDATED=1
  fi
  "${runner[@]}" apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 \
    || { echo "make: apt-get install $* failed ($(_apt_first_error "$log"); all of it in $log)" >&2; exit 1; }
  rm -f "$log"
}

# apt's first error or warning line, shortened, for a one-line message.
_apt_first_error() {
  { grep -m1 -E '^(E|W|Err):' "$1" || tail -n1 "$1"; } 2>/dev/null | cut -c1-200
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
