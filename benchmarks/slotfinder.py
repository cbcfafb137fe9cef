"""The slot finder for a busy therapist against django-appointment's, on the same schedule in the same run.

Ours: ``sessions_app.selectors.free_slots`` over the 60-day window, in this process.
Peer: ``appointment.services.get_available_slots_for_staff`` per day, as its own view
calls it, in benchmarks/.peer-venv (its own Django project and PostgreSQL database,
booking_peer), run as a subprocess that prints JSON. Both must find the same slots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.selectors import free_slots

from .seed import NAIROBI, WINDOW_DAYS, Seeded

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peer-venv"
PEER_PY = PEER_VENV / "bin" / "python"
PEER_REQUIREMENTS = HERE / "peer" / "requirements.txt"
PEER_DB = "booking_peer"
OUR_REPEATS = 25
PEER_REPEATS = 5
QUERY_WINDOWS = (7, 30, 60)


def ensure_peer_venv() -> list[str]:
    """Create benchmarks/.peer-venv with the pinned peer if needed; returns the commands it ran."""
    ran = []
    stamp = PEER_VENV / ".installed"
    wanted = PEER_REQUIREMENTS.read_text()
    if stamp.exists() and stamp.read_text() == wanted and PEER_PY.exists():
        return ran
    if not PEER_PY.exists():
        cmd = ["python3", "-m", "venv", str(PEER_VENV)]
        subprocess.run(cmd, check=True)
        ran.append(" ".join(cmd))
    cmd = [str(PEER_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(PEER_REQUIREMENTS)]
    subprocess.run(cmd, check=True)
    ran.append(" ".join(cmd))
    stamp.write_text(wanted)
    return ran


def ensure_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')


def _local_keys(slots: list[dt.datetime]) -> list[str]:
    return sorted(s.astimezone(NAIROBI).strftime("%Y-%m-%dT%H:%M") for s in slots)


def ours(seeded: Seeded, now: dt.datetime) -> dict:
    therapist, session_type = seeded.busy, seeded.busy_type
    start = seeded.window_start

    def window(days: int) -> list[dt.datetime]:
        return free_slots(
            therapist=therapist,
            session_type=session_type,
            window_start=start,
            window_end=start + dt.timedelta(days=days),
            now=now,
        )

    window(WINDOW_DAYS)  # warm-up
    times = []
    for _ in range(OUR_REPEATS):
        began = time.perf_counter()
        slots = window(WINDOW_DAYS)
        times.append(time.perf_counter() - began)
    queries_by_days = {}
    for days in QUERY_WINDOWS:
        with CaptureQueriesContext(connection) as ctx:
            window(days)
        queries_by_days[str(days)] = len(ctx.captured_queries)
    keys = _local_keys(slots)
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "queries": queries_by_days[str(WINDOW_DAYS)],
        "queries_by_days": queries_by_days,
        "slots": len(keys),
        "slots_sha1": hashlib.sha1("\n".join(keys).encode()).hexdigest(),
        "existing_sessions": len(seeded.busy_schedule),
    }


def peer_spec(seeded: Seeded) -> dict:
    return {
        "window_start": seeded.window_start.date().isoformat(),
        "days": WINDOW_DAYS,
        "weekly": [[d, "09:00", "17:00"] for d in range(6)],
        "slot_minutes": 30,
        "busy_minutes": seeded.busy_short.duration_minutes,
        "service_minutes": seeded.busy_type.duration_minutes,
        "busy": [
            [
                s.astimezone(NAIROBI).date().isoformat(),
                s.astimezone(NAIROBI).strftime("%H:%M"),
                e.astimezone(NAIROBI).strftime("%H:%M"),
            ]
            for s, e in seeded.busy_schedule
        ],
        "repeats": PEER_REPEATS,
        "query_windows": list(QUERY_WINDOWS),
    }


def peer(seeded: Seeded) -> tuple[dict, str]:
    ensure_database(PEER_DB)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(peer_spec(seeded), fh)
        spec_path = fh.name
    cmd = [str(PEER_PY), str(HERE / "peer" / "peer_bench.py"), spec_path]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "PEER_DB_NAME": PEER_DB}, check=False
        )
    finally:
        os.unlink(spec_path)
    if done.returncode != 0:
        raise RuntimeError(f"the peer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line), " ".join([cmd[0], cmd[1], "<schedule.json>"])
