"""The restore drill: back up, drop, restore into a fresh database, and the app serves the same sessions.

`make backup` and `make restore` run scripts/backup.sh and scripts/restore.sh; this drives those same
scripts. The "live" database is a copy of the test database holding committed sessions; it is dumped,
dropped, restored under a new name, and the sessions API (run in a fresh process against each database,
at one fixed instant) must answer the same, row for row.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from sessions_app.models import Session
from sessions_app.tests.factories import ClientFactory, SessionFactory, SessionTypeFactory, future_slot

ROOT = Path(settings.BASE_DIR)

# The sessions API as the client sees it, page by page, in a process of its own on DATABASE_URL.
PROBE = """
import json, sys, datetime as dt
import time_machine
with time_machine.travel(dt.datetime(2030, 1, 2, 10, 0, tzinfo=dt.timezone.utc), tick=False):
    import django
    django.setup()
    from django.test import Client
    from sessions_app.models import User
    client = Client()
    client.force_login(User.objects.get(email=sys.argv[1]))
    rows, url = [], "/api/sessions"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        url = body["next"] and body["next"].replace("http://testserver", "")
    print(json.dumps(rows, sort_keys=True))
"""


def _url(name: str) -> str:
    base = urlsplit(os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/booking"))
    return urlunsplit(base._replace(scheme="postgresql", path=f"/{name}"))


def _psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def _served_sessions(database: str, email: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_", "CELERY_"))}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "booking_project.settings", "DJANGO_DEBUG": "1", "DATABASE_URL": _url(database)}
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE, email], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


FINGERPRINT = "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t"


def _fingerprint(database: str) -> str:
    return _psql(_url(database), FINGERPRINT.format(table=Session._meta.db_table))


def _script(name: str, *args: str, database: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _url(database)}
    return subprocess.run(
        ["bash", f"scripts/{name}", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def drill_names():
    suffix = uuid.uuid4().hex[:8]
    names = {"live": f"drill_live_{suffix}", "restored": f"drill_restored_{suffix}"}
    yield names
    for name in names.values():
        _psql(_url("postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow  # about 9 s: two Django processes, a pg_dump and a pg_restore
@pytest.mark.django_db(transaction=True)
def test_backup_drop_restore_serves_the_same_sessions(tmp_path, drill_names):
    session_type = SessionTypeFactory()
    client = ClientFactory(email="drill-client@example.com")
    start = future_slot(days=2)
    for i in range(25):
        traits = {"confirmed": True} if i % 3 == 0 else {"approved": True} if i % 3 == 1 else {}
        SessionFactory(client=client, session_type=session_type, start=start + dt.timedelta(days=i), **traits)
    test_db = connection.settings_dict["NAME"]
    connection.close()  # a template database may have no other connection
    live, restored = drill_names["live"], drill_names["restored"]
    _psql(_url("postgres"), f'CREATE DATABASE "{live}" TEMPLATE "{test_db}"')
    before_rows = _served_sessions(live, client.email)
    before_print = _fingerprint(live)
    assert len(before_rows) == 25 and before_print.startswith("25 ")

    dump = tmp_path / "live.dump"
    backup = _script("backup.sh", str(dump), database=live)
    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.strip() == str(dump) and dump.read_bytes()[:5] == b"PGDMP"  # custom format

    _psql(_url("postgres"), f'DROP DATABASE "{live}" WITH (FORCE)')
    restore = _script("restore.sh", str(dump), restored, database=live)  # the live one is gone: same server
    assert restore.returncode == 0, restore.stderr

    assert _fingerprint(restored) == before_print
    assert _served_sessions(restored, client.email) == before_rows


def test_restore_never_overwrites_an_existing_database(tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    result = _script("restore.sh", str(dump), "postgres", database="postgres")
    assert result.returncode == 1
    assert "already exists" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "usage: make restore"),
        (("/nonexistent.dump", "fresh_db"), "does not exist"),
        (("{dump}", "bad-name;"), "plain"),
    ],
)
def test_restore_refuses_bad_arguments(tmp_path, args, message):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    result = _script("restore.sh", *(a.format(dump=dump) for a in args), database="postgres")
    assert result.returncode == 2 and message in result.stderr


def test_backup_refuses_sqlite():
    env = {**os.environ, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"}
    result = subprocess.run(["bash", "scripts/backup.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "not PostgreSQL (sqlite)" in result.stderr
