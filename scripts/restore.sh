#!/usr/bin/env bash
# `make restore BACKUP=path.dump RESTORE_DB=name`: a custom-format dump restored into a NEW database
# <name> on the server of DATABASE_URL (never over an existing one: drop it yourself first, on purpose).
# Then point DATABASE_URL at it (the printed URL), or rename it in place of the old one.
set -euo pipefail
cd "$(dirname "$0")/.."

dump="${1:-}"
name="${2:-}"
if [[ -z "$dump" || -z "$name" ]]; then
    echo "usage: make restore BACKUP=backups/<file>.dump RESTORE_DB=<new database name>" >&2
    exit 2
fi
if [[ ! -f "$dump" ]]; then
    echo "restore: $dump does not exist." >&2
    exit 2
fi
if [[ ! "$name" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]]; then
    echo "restore: '$name' is not a plain database name (letters, digits, _)." >&2
    exit 2
fi
if [[ -z "${DATABASE_URL:-}" && -f .env ]]; then
    DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' .env | tail -n 1)"
fi
url="${DATABASE_URL:-}"
case "$url" in
    postgres://* | postgresql://* | pgsql://*) ;;
    *) echo "restore: DATABASE_URL must name the PostgreSQL server to restore onto." >&2; exit 2 ;;
esac
url="postgresql://${url#*://}"
# The same server, user and options; only the database name changes. The database is created from
# the server's maintenance database (RESTORE_MAINTENANCE_DB, default postgres): DATABASE_URL's own
# database may be the one that was lost.
with_db() {
    python3 -c '
import sys
from urllib.parse import urlsplit, urlunsplit
print(urlunsplit(urlsplit(sys.argv[1])._replace(path="/" + sys.argv[2])))
' "$url" "$1"
}
target="$(with_db "$name")"
admin="$(with_db "${RESTORE_MAINTENANCE_DB:-postgres}")"

exists="$(psql "$admin" -Atc "SELECT 1 FROM pg_database WHERE datname = '$name'")"
if [[ "$exists" == "1" ]]; then
    echo "restore: database $name already exists; choose a new name (restore never overwrites)." >&2
    exit 1
fi
psql "$admin" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\""
# One transaction: a restore that fails leaves an empty database, never a half-filled one.
if ! pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$dump"; then
    echo "restore: pg_restore failed; database $name is left empty (drop it and try again)." >&2
    exit 1
fi
psql "$target" -q -c "ANALYZE"
echo "restored $dump into $name"
