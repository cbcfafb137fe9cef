#!/usr/bin/env bash
# `make backup [BACKUP=path.dump]`: pg_dump of DATABASE_URL in custom format (compressed; pg_restore
# can restore it whole or table by table). Prints the file written. Reads DATABASE_URL from the
# environment or, like the settings, from .env.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${DATABASE_URL:-}" && -f .env ]]; then
    DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' .env | tail -n 1)"
fi
url="${DATABASE_URL:-}"
case "$url" in
    postgres://* | postgresql://* | pgsql://*) ;;
    "") echo "backup: DATABASE_URL is not set (set it to the PostgreSQL database to back up)." >&2; exit 2 ;;
    *) echo "backup: DATABASE_URL is not PostgreSQL (${url%%:*}); make backup dumps PostgreSQL only." >&2; exit 2 ;;
esac
url="postgresql://${url#*://}"   # libpq spells it postgresql:// (django-environ also takes pgsql://)

out="${1:-backups/booking-$(date -u +%Y%m%dT%H%M%SZ).dump}"
mkdir -p "$(dirname "$out")"
tmp="$out.partial"
# A dump that failed half-way never takes the final name.
pg_dump --format=custom --no-owner --no-privileges --file="$tmp" "$url"
mv "$tmp" "$out"
echo "$out"
