import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError

from sessions_app.logging import RedactPersonalData, scrub

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"


def test_healthz_503_when_database_down(client, monkeypatch):
    from sessions_app.views import health

    def broken():
        raise DatabaseError("down")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: DatabaseError"


def test_healthz_checks_real_broker_and_worker_absent(client, settings):
    from sessions_app.tests.celery_workers import redis_ready, redis_url

    settings.CELERY_BROKER_URL = redis_url(4)  # this run's own Redis server: no other worker listens there
    redis_ready(settings.CELERY_BROKER_URL)
    settings.HEALTHZ_CHECK_WORKER = True
    from booking_project.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = None
        # Drop the Redis connections this opened: a later fork must not inherit them.
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None
    body = response.json()
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["worker"].startswith("error")  # no worker runs in this test
    assert response.status_code == 503


def test_security_headers(client):
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "booking_project.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 60 + "-production-grade-secret-0123456789",
        "DJANGO_ALLOWED_HOSTS": "book.example.com",
        "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
        # With DEBUG off booking_project/checks.py refuses a memory cache, eager tasks, console email, http callback.
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
        "EMAIL_HOST": "smtp.example.net",
        "DARAJA_CALLBACK_BASE_URL": "https://book.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr and "ERRORS" not in result.stderr


def test_dev_secret_key_refused_when_debug_off():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "booking_project.settings",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    }
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "booking.E001" in result.stderr


def test_log_filter_masks_phones_and_secrets(settings):
    settings.MPESA_CALLBACK_SECRET = "s3cret-path-token"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "paid by %s via /cb/%s", ("+254712345678", "s3cret-path-token"), None
    )
    RedactPersonalData().filter(record)
    text = record.getMessage()
    assert "712345678" not in text and "s3cret" not in text
    assert scrub("call 0712 345678 or 0712345678", []).count("[phone") >= 1
