#!/usr/bin/env bash
# Check that `make test` sets itself up on a fresh Debian 12 machine that has only python3, make,
# git and ca-certificates: it must install PostgreSQL, redis-server, chromium and python3-venv from
# Debian's packages, start PostgreSQL, let the test role in over 127.0.0.1, rebuild a half-made
# .venv, and fail early with one clear line when it cannot install what it lacks.
#
#   sudo bash scripts/fresh_debian_check.sh [REPO]     # REPO: a git checkout, default this one
#
# It builds a Debian 12 (bookworm, minbase) root with debootstrap once, caches it under
# $FRESH_CACHE (default /var/tmp/fresh-debian12), copies it for each run, clones REPO's committed
# HEAD into it (uncommitted changes are not part of the check) and runs, inside a chroot:
#   1. `make test` as an unprivileged user without sudo: must fail with one "make: ..." line;
#   2. `make test` as root with apt's mirrors unreachable: must fail with one "make: ..." line;
#   3. `python3 -m venv .venv` (fails half-way: no python3-venv yet), then the full `make test`;
#   4. PostgreSQL stopped, then `make services`: must start it again.
# The chroot shares the host's network, where PostgreSQL may already listen on 5432, so the run
# uses TEST_DATABASE_URL on port $FRESH_PG_PORT (default 5433): no server answers there, and
# `make test` has to install, configure and start one itself. Redis needs no port: each test run
# starts its own redis-server on a free port (conftest.py), so only the binary must be installed.
# Every process started in the chroot is stopped and everything mounted is unmounted on exit.
# Logs: $FRESH_CACHE/logs/. FRESH_KEEP=1 keeps the run's root for a look afterwards.
# Needs root, debootstrap (installed with apt-get when missing) and a reachable Debian mirror
# ($DEBIAN_MIRROR, default http://deb.debian.org/debian) and PyPI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "${1:-$here/..}" && git rev-parse --show-toplevel)"
CACHE="${FRESH_CACHE:-/var/tmp/fresh-debian12}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
PG_PORT="${FRESH_PG_PORT:-5433}"
BASE="$CACHE/base"   # pristine debootstrap output, reused between runs
RUN="$CACHE/run"     # this run's copy
LOGS="$CACHE/logs"
SRC=/srv/booking     # where the clone lives inside the chroot
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/booking"

die() { echo "fresh_debian_check: $*" >&2; exit 1; }
t0=$SECONDS
phase_start=$SECONDS
phase() {  # phase NAME: report how long the previous phase took, start the next
  [ -n "${phase_name:-}" ] && echo "== $phase_name: $((SECONDS - phase_start)) s" | tee -a "$LOGS/phases.txt"
  phase_name="$1"; phase_start=$SECONDS
  [ -n "$1" ] && echo "== $(date -u +%H:%M:%S) $1"
  return 0
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts): sudo bash $0"
[ -r /etc/debian_version ] || die "needs a Debian host (debootstrap from Debian's packages)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then
  die "something already answers on 127.0.0.1:$PG_PORT; pick a free port with FRESH_PG_PORT=..."
fi
head="$(git -C "$REPO" rev-parse HEAD)"
[ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] \
  || echo "fresh_debian_check: $REPO has uncommitted changes; checking its HEAD ${head:0:12} without them." >&2
mkdir -p "$CACHE" "$LOGS"
: >"$LOGS/phases.txt"

# --- clean-up: stop what runs in the chroot, unmount, drop the run's copy ---
in_chroot_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$RUN" ] && echo "${p#/proc/}"
  done
  return 0
}
cleanup() {
  set +e
  if [ -d "$RUN/proc/self" ] && [ -x "$RUN/usr/bin/pg_lsclusters" ]; then
    chroot "$RUN" pg_lsclusters -h 2>/dev/null | while read -r ver name _ status _; do
      [ "$status" = online ] && chroot "$RUN" pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" stop -m fast
    done
  fi
  pids="$(in_chroot_pids)"
  if [ -n "$pids" ]; then
    echo "fresh_debian_check: stopping what still runs in the chroot: $(echo $pids)"
    kill $pids 2>/dev/null; sleep 3
    pids="$(in_chroot_pids)"; [ -n "$pids" ] && kill -9 $pids 2>/dev/null && sleep 1
  fi
  for m in dev/pts dev sys proc; do
    mountpoint -q "$RUN/$m" && { umount -R "$RUN/$m" || umount -R -l "$RUN/$m"; }
  done
  if [ -z "${FRESH_KEEP:-}" ] && [ -d "$RUN" ] && ! grep -q " $RUN/" /proc/mounts; then rm -rf "$RUN"; fi
  [ -n "${phase_name:-}" ] && phase ""
  echo "fresh_debian_check: total $((SECONDS - t0)) s; logs in $LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the cached Debian 12 root ---
if [ ! -e "$BASE/.complete" ]; then
  phase "debootstrap bookworm (minbase + python3 make git ca-certificates) into $BASE"
  command -v debootstrap >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  } || die "cannot install debootstrap with apt-get"
  rm -rf "$BASE"
  debootstrap --variant=minbase --include=python3,make,git,ca-certificates \
    bookworm "$BASE" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 || die "debootstrap failed: see $LOGS/debootstrap.log"
  # What a fresh install's apt sources look like: the release, its updates and security.
  cat >"$BASE/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
  rm -rf "$BASE/var/lib/apt/lists/"* "$BASE/var/cache/apt/archives/"*.deb
  touch "$BASE/.complete"
fi

phase "copy the root, add the host's CA certificates and pip configuration, clone the repo"
[ -d "$RUN" ] && { grep -q " $RUN/" /proc/mounts && die "$RUN still has mounts; unmount them first"; rm -rf "$RUN"; }
cp -a "$BASE" "$RUN"
cp -L /etc/resolv.conf "$RUN/etc/resolv.conf"
# This host may reach PyPI through a proxy with its own certificate authority, and point pip at the
# system bundle: the chroot gets the same, or pip could not download anything.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp -a /usr/local/share/ca-certificates/. "$RUN/usr/local/share/ca-certificates/"
  chroot "$RUN" update-ca-certificates >/dev/null 2>&1
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$RUN/etc/pip.conf"
[ -d /etc/xdg/pip ] && mkdir -p "$RUN/etc/xdg" && cp -a /etc/xdg/pip "$RUN/etc/xdg/"
git clone -q "$REPO" "$RUN$SRC"
git -C "$RUN$SRC" checkout -q "$head"
chroot "$RUN" git config --global --add safe.directory "$SRC"
mount -t proc proc "$RUN/proc"
mount --rbind /sys "$RUN/sys" && mount --make-rslave "$RUN/sys"
mount --rbind /dev "$RUN/dev" && mount --make-rslave "$RUN/dev"

# A root shell on the fresh machine: nothing from this host's environment except pip's settings
# (a wheel directory on this host's disk is left out: the chroot downloads from PyPI).
envs=(HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
      "TEST_DATABASE_URL=$DB_URL")
while IFS='=' read -r k v; do
  case "$k" in PIP_FIND_LINKS|PIP_NO_INDEX) ;; PIP_*) envs+=("$k=$v") ;; esac
done < <(env)
in_chroot() { chroot "$RUN" /usr/bin/env -i "${envs[@]}" bash -c "cd $SRC && $1"; }

# What the fresh machine lacks: everything `make test` must install itself.
for tool in psql pg_isready pg_ctlcluster redis-server chromium chromedriver wrk; do
  in_chroot "! command -v $tool >/dev/null" || die "the fresh root already has $tool"
done
in_chroot "! python3 -c 'import ensurepip' 2>/dev/null" || die "the fresh root already has python3-venv"

# expect_one_line NAME RE CMD...: CMD must fail, and what it writes to stderr be one line matching RE
# (besides make's own "make: *** [Makefile:NN: target] Error 1").
expect_one_line() {
  local name="$1" re="$2" rc=0 lines; shift 2
  "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" || rc=$?
  [ "$rc" -ne 0 ] || die "$name: it succeeded; it should have failed (see $LOGS/$name.out)"
  lines="$(grep -v '^make: \*\*\* ' "$LOGS/$name.err" | grep -c . || true)"
  grep -Eq "$re" "$LOGS/$name.err" && [ "$lines" -eq 1 ] \
    || { cat "$LOGS/$name.out" "$LOGS/$name.err" >&2; die "$name: expected one line matching /$re/ on stderr, got $lines (above)"; }
  echo "   ok ($name, exit $rc): $(grep -E "$re" "$LOGS/$name.err")"
}

# --- 2. fails early, with one line, when it cannot install ---
phase "fail early: make test as a user without sudo; make test as root with the Debian mirror unreachable"
chroot "$RUN" useradd --no-create-home --shell /bin/bash fresh
expect_one_line no-sudo "^make: missing .*: run 'sudo apt-get install" \
  chroot "$RUN" /usr/bin/env -i "${envs[@]}" runuser -u fresh -- bash -c "cd $SRC && make test"
# apt reads APT_CONFIG besides apt.conf.d: a proxy nobody listens on makes every mirror unreachable.
echo 'Acquire::http::Proxy "http://127.0.0.1:9/"; Acquire::https::Proxy "http://127.0.0.1:9/";' \
  >"$RUN/tmp/apt-offline.conf"
expect_one_line no-mirror '^make: .*(mirror|apt-get)' in_chroot "APT_CONFIG=/tmp/apt-offline.conf make test"
in_chroot "[ ! -e .venv ] && ! command -v psql >/dev/null" || die "the failed runs left things behind"

# --- 3. a half-made .venv, then the full make test ---
phase "half-made .venv: python3 -m venv .venv without python3-venv"
in_chroot "python3 -m venv .venv" >"$LOGS/venv-half.log" 2>&1 && die "python3 -m venv worked without python3-venv?"
in_chroot "[ -d .venv ] && [ ! -e .venv/bin/pip ]" || die "python3 -m venv did not leave a half-made .venv"
echo "   .venv left without pip: $(grep -m1 -i 'ensurepip' "$LOGS/venv-half.log" || echo '(see venv-half.log)')"

phase "make test (TEST_DATABASE_URL=$DB_URL)"
set +e
in_chroot "make test" 2>&1 | while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done \
  | tee "$LOGS/make-test.log" | grep -E --line-buffered \
  ' (Installing|Starting|Letting|make: |chromium:|\.venv/bin/pytest)| passed| failed| error'
st=("${PIPESTATUS[@]}"); set -e; rc="${st[0]}"
[ "$rc" -eq 0 ] || die "make test failed in the fresh root (exit $rc): see $LOGS/make-test.log"
grep -q 'rebuilding it' "$LOGS/make-test.log" || die "make test did not say it rebuilt the half-made .venv"

phase "what make test set up"
in_chroot 'for t in psql pg_isready redis-server chromium chromedriver wrk; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done'
in_chroot "pg_lsclusters; grep -l '^host all postgres 127.0.0.1/32 trust' /etc/postgresql/*/*/pg_hba.conf" \
  | tee "$LOGS/clusters.txt"
in_chroot "psql '$DB_URL' -tAc 'select current_user, inet_server_port()'"

# --- 4. PostgreSQL down: make services starts it ---
phase "PostgreSQL stopped: make services starts it"
in_chroot "pg_lsclusters -h | awk '\$3 == $PG_PORT { print \$1, \$2 }' | while read v c; do pg_ctlcluster --skip-systemctl-redirect \$v \$c stop; done"
in_chroot "! pg_isready -q -h 127.0.0.1 -p $PG_PORT" || die "PostgreSQL did not stop"
in_chroot "make services" >"$LOGS/restart.log" 2>&1 || { cat "$LOGS/restart.log" >&2; die "make services could not restart PostgreSQL"; }
grep -q '^Starting PostgreSQL' "$LOGS/restart.log" && in_chroot "pg_isready -q -h 127.0.0.1 -p $PG_PORT" \
  || die "make services did not start PostgreSQL (see $LOGS/restart.log)"
echo "   ok: $(grep '^Starting PostgreSQL' "$LOGS/restart.log")"

phase ""
echo "fresh_debian_check: PASS: make test passed in a fresh Debian 12 root; its pytest runs: $(grep -E '=+ .*(passed|failed).* in [0-9.]+s|^[0-9:]+ [0-9]+ passed' "$LOGS/make-test.log" | sed -E 's/^[0-9:]+ //; s/=+ ?//g; s/ \(.*//' | paste -sd';' -)"
