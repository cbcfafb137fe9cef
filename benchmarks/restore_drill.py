#!/usr/bin/env python3
"""Time the restore drill (make backup, drop, make restore) on a database of 100,000 sessions.

    .venv/bin/python benchmarks/restore_drill.py [--sessions 100000] [--server postgres://postgres@127.0.0.1:5432]

Makes a scratch database (migrated, then 100,000 sessions with one event each, 50 therapists and
2,000 clients, bulk inserted), runs scripts/backup.sh, drops the database, runs scripts/restore.sh into
a new one, checks the sessions table is identical (count and md5 of every row) and prints each step's
time. Both scratch databases are dropped at the end. Needs requirements-dev.txt (factory_boy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT = "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM sessions_app_session t"


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def seed(count: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "booking_project.settings"
    import django

    django.setup()
    from django.utils import timezone

    from sessions_app.models import Session, SessionEvent, User
    from sessions_app.tests.factories import SessionTypeFactory

    types = [SessionTypeFactory(therapist__user__email=f"t{i}@drill.example") for i in range(50)]
    clients = User.objects.bulk_create([User(email=f"c{i}@drill.example", password="!") for i in range(2000)])
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    statuses = [
        Session.Status.PENDING_APPROVAL,
        Session.Status.APPROVED,
        Session.Status.CONFIRMED,
        Session.Status.COMPLETED,
    ]
    batch = 10_000
    for offset in range(0, count, batch):
        rows = []
        for i in range(offset, min(offset + batch, count)):
            kind = types[i % len(types)]
            begin = start + dt.timedelta(hours=i // len(types))
            rows.append(
                Session(
                    client=clients[i % len(clients)],
                    therapist_id=kind.therapist_id,
                    session_type=kind,
                    start=begin,
                    end=begin + dt.timedelta(minutes=60),
                    status=statuses[i % len(statuses)],
                    amount_kes=3000,
                    respond_by=begin - dt.timedelta(hours=24),
                    client_notes="Booked by the restore drill.",
                )
            )
        made = Session.objects.bulk_create(rows)
        SessionEvent.objects.bulk_create(
            [SessionEvent(session=s, action="requested", to_status=s.status) for s in made]
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    server = args.server.rstrip("/")
    suffix = uuid.uuid4().hex[:6]
    live, restored = f"drill_timing_live_{suffix}", f"drill_timing_restored_{suffix}"
    admin = f"{server}/postgres"
    dump = ROOT / "backups" / f"drill-{suffix}.dump"
    env = {**os.environ, "DATABASE_URL": f"{server}/{live}", "DJANGO_DEBUG": "1"}
    psql(admin, f'CREATE DATABASE "{live}"')
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        t0 = time.monotonic()
        os.environ.update(env)
        seed(args.sessions)
        seeded = time.monotonic() - t0
        before = psql(f"{server}/{live}", FINGERPRINT)
        size = psql(admin, f"SELECT pg_size_pretty(pg_database_size('{live}'))")

        t0 = time.monotonic()
        subprocess.run(["bash", "scripts/backup.sh", str(dump)], cwd=ROOT, env=env, check=True, capture_output=True)
        backup_s = time.monotonic() - t0
        psql(admin, f'DROP DATABASE "{live}" WITH (FORCE)')
        t0 = time.monotonic()
        subprocess.run(
            ["bash", "scripts/restore.sh", str(dump), restored], cwd=ROOT, env=env, check=True, capture_output=True
        )
        restore_s = time.monotonic() - t0
        after = psql(f"{server}/{restored}", FINGERPRINT)
        if after != before:
            print(f"MISMATCH: before {before}, after {after}")
            return 1
        print(f"sessions: {args.sessions:,} (+ {args.sessions:,} events), database {size}, seeded in {seeded:.1f} s")
        print(f"dump: {dump.stat().st_size / 1e6:.1f} MB custom format")
        print(
            f"make backup: {backup_s:.1f} s; make restore: {restore_s:.1f} s; drill total: {backup_s + restore_s:.1f} s"
        )
        print(f"sessions table identical after restore: {after}")
        return 0
    finally:
        for name in (live, restored):
            psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        dump.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
