#!/usr/bin/env bash
# What `make test` needs besides Python: PostgreSQL up on 127.0.0.1:5432 (or TEST_DATABASE_URL's
# port) with the test role able to log in over TCP, the redis-server binary (each test run
# starts its own Redis on a free port) and wrk (the benchmark test). Installs from Debian's
# packages when missing, starts PostgreSQL when it is down, and fails early with one line saying
# what is missing when it cannot.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"
URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/booking}"

# The parts of the URL (postgres://user[:password]@host[:port]/name).
rest="${URL#*://}"; creds="${rest%@*}"; hostpart="${rest#*@}"
PGUSER_="${creds%%:*}"; PGHOST_="${hostpart%%[:/]*}"; PGDB_="${hostpart##*/}"
PGPORT_="$(echo "$hostpart" | sed -n 's/^[^:/]*:\([0-9]*\).*/\1/p')"; PGPORT_="${PGPORT_:-5432}"
local_default=false
[ "$creds" = "postgres" ] && { [ "$PGHOST_" = "127.0.0.1" ] || [ "$PGHOST_" = "localhost" ]; } && local_default=true

# --- PostgreSQL ---
if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  $local_default || { echo "make: psql and pg_isready are missing: install postgresql-client." >&2; exit 1; }
  apt_install postgresql
fi
if ! pg_isready -h "$PGHOST_" -p "$PGPORT_" -q; then
  $local_default || { echo "make: PostgreSQL at $PGHOST_:$PGPORT_ (TEST_DATABASE_URL) is not answering." >&2; exit 1; }
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  # The cluster on the URL's port: Debian's main (made on 5432 unless that port was taken), else
  # one made here for that port, so a TEST_DATABASE_URL on another port gets a server there.
  cluster="$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" -v p="$PGPORT_" '$1 == v && $3 == p { print $2; exit }')"
  if [ -z "$cluster" ]; then
    cluster=main; [ -d "/etc/postgresql/$version/main" ] && cluster="port$PGPORT_"
    as_root pg_createcluster -p "$PGPORT_" "$version" "$cluster" >/dev/null
  fi
  echo "Starting PostgreSQL $version/$cluster on port $PGPORT_..."
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
  for _ in $(seq 1 30); do pg_isready -h "$PGHOST_" -p "$PGPORT_" -q && break; sleep 1; done
  pg_isready -h "$PGHOST_" -p "$PGPORT_" -q || { echo "make: PostgreSQL $version/$cluster would not start on port $PGPORT_ (see /var/log/postgresql)." >&2; exit 1; }
fi
can_login() { PGCONNECT_TIMEOUT=5 psql "$URL" -tAc 'SELECT 1' >/dev/null 2>&1 || PGCONNECT_TIMEOUT=5 psql "${URL%/*}/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; }
if ! can_login; then
  $local_default || { echo "make: cannot log in with TEST_DATABASE_URL ($PGUSER_@$PGHOST_:$PGPORT_)." >&2; exit 1; }
  # Debian's pg_hba.conf asks for a password over TCP; the tests log in as postgres without one.
  # Let that one role in from the loopback address only, ahead of the other rules.
  hba="$(as_root runuser -u postgres -- psql -p "$PGPORT_" -tAc 'SHOW hba_file' 2>/dev/null || true)"
  [ -n "$hba" ] || { echo "make: cannot reach PostgreSQL as its admin to let postgres@127.0.0.1 in; set TEST_DATABASE_URL." >&2; exit 1; }
  echo "Letting the test role postgres log in from 127.0.0.1 without a password ($hba)..."
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  as_root runuser -u postgres -- psql -p "$PGPORT_" -tAc 'SELECT pg_reload_conf()' >/dev/null
  sleep 1
  can_login || { echo "make: postgres@127.0.0.1 still cannot log in; check $hba." >&2; exit 1; }
fi
PGCONNECT_TIMEOUT=5 psql "${URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='$PGDB_'" | grep -q 1 \
  || PGCONNECT_TIMEOUT=5 psql "${URL%/*}/postgres" -qc "CREATE DATABASE \"$PGDB_\"" >/dev/null

# --- Redis: the tests start their own server from this binary ---
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
command -v redis-server >/dev/null 2>&1 || { echo "make: redis-server is missing." >&2; exit 1; }

# --- wrk: benchmarks/tests/test_bench.py drives it, so the test runs rather than skips ---
command -v wrk >/dev/null 2>&1 || apt_install wrk
