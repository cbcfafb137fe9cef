"""Real Celery worker processes for the tests that need them (end to end, worker-kill).

Shared by payments_app and notifications_app tests: start named ``celery worker``
subprocesses on one queue, SIGKILL one like a crash, and wait for an outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

CELERY = Path(sys.executable).with_name("celery")


def redis_url(db: int) -> str:
    """Database ``db`` on this run's own Redis (started by the root conftest, or ``TEST_REDIS_URL``)."""
    base = os.environ.get("TEST_REDIS_URL", "")
    return f"{base.rstrip('/')}/{db}" if base else ""


def redis_ready(url: str) -> None:
    """Fail with the reason unless ``url`` answers and (on a server not started by this run) no other
    client uses its database."""
    import redis

    if not url:
        pytest.fail(f"needs Redis: {os.environ.get('TEST_REDIS_MISSING', 'TEST_REDIS_URL is not set')}")
    conn = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        conn.ping()
        db = conn.connection_pool.connection_kwargs.get("db", 0)
        others = []
        if os.environ.get("TEST_REDIS_PRIVATE") != "1":
            me = str(conn.client_id())
            others = [c for c in conn.client_list() if int(c.get("db", -1)) == db and c["id"] != me]
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"needs Redis at {url}: {exc}")
    finally:
        conn.close()
    if others:
        pytest.fail(f"Redis database {url} is in use by {len(others)} other client(s); pick another TEST_REDIS_URL")


def wait_for(check, *, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool children: a crash, nothing acknowledged or cleaned up."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


class Workers:
    """``workers("a")`` starts worker "a" (prefork, one child) on ``queue``; ``stop_all()`` ends them all."""

    def __init__(self, *, env: dict[str, str], queue: str, log_dir: Path):
        self.env, self.queue, self.log_dir = env, queue, log_dir
        self.started: list[subprocess.Popen] = []

    def __call__(self, name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "booking_project",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "-Q",
                self.queue,
                "-n",
                f"{name}-{self.queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
