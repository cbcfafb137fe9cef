"""The deployment kit in deploy/, run on loopback from those same files.

nginx (deploy/nginx/booking.conf, TLS with an openssl self-signed certificate) in front of two gunicorn
processes (deploy/gunicorn.conf.py, started by the ExecStart of deploy/systemd/booking-web@.service),
two Celery workers on their own queues and one beat (the ExecStart lines of the other units), the
Daraja simulator, a private Redis and the test database. scripts/booking_flow.py books and pays through
nginx; the session must end Confirmed / Paid with no error response, and the callback's secret must not
appear in any access log. Only strings named in booking.conf's header are changed. `make deploy-check`.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import re
import time

import pytest
import requests
from django.conf import settings

from sessions_app.models import Session, User
from sessions_app.tests.celery_workers import redis_url
from sessions_app.tests.two_factor import confirmed_authenticator

from .kit import BASE, DEPLOY, Kit


def _booking_flow():
    spec = importlib.util.spec_from_file_location("booking_flow", BASE / "scripts" / "booking_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_conf_is_gthread_sized_from_the_cores_and_drops_callback_lines(monkeypatch):
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    conf = _gunicorn_conf()
    assert conf.worker_class == "gthread" and conf.threads >= 2 and conf.accesslog is None
    assert 2 <= conf.workers <= 8 and conf.timeout < 75  # below nginx's proxy_read_timeout
    keep = conf._HideCallbackSecret()

    def line(path):
        return logging.LogRecord(
            "gunicorn.access", logging.INFO, "", 0, "%s", (f'127.0.0.1 "POST {path} HTTP/1.1" 200',), None
        )

    assert not keep.filter(line("/api/pay/cb/s3cret/")) and not keep.filter(line("/api/mpesa/callback/s3cret/"))
    assert keep.filter(line("/api/sessions/request"))


def test_payments_queue_routes_only_payment_tasks():
    from celery.app.routes import Router, prepare

    from booking_project.celery import app

    # Unset (the default, and every other test's workers): one queue for everything.
    assert settings.CELERY_PAYMENTS_QUEUE == "" and settings.CELERY_TASK_ROUTES == {}
    routes = {"payments_app.tasks.*": {"queue": "payments"}}  # what CELERY_PAYMENTS_QUEUE=payments makes
    router = Router(prepare(routes), app.amqp.queues, create_missing=True, app=app)
    assert router.route({}, "payments_app.tasks.process_callback")["queue"].name == "payments"
    assert router.route({}, "notifications_app.tasks.send_due_reminders")["queue"].name == app.conf.task_default_queue


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_kit_books_and_pays_through_nginx(tmp_path, monkeypatch):
    # db 12 is test_metrics's, 5.. test_limits', 7..10 test_scale_out's
    kit = Kit(tmp_path, cache_url=redis_url(14), broker_url=redis_url(15))
    started = time.monotonic()
    procs, log_dir, base_url, cert = kit.procs, kit.log_dir, kit.base_url, kit.cert
    try:
        kit.seed()
        kit.start_simulator()
        for i in range(2):
            kit.start_web(i)
        for queue in ("payments", "default"):
            kit.start_worker(queue)
        kit.start_beat()
        kit.start_nginx()
        kit.wait_ready()
        for queue in ("payments", "default"):
            kit.wait_worker(queue)

        # Plain http redirects to https; static files come from nginx itself.
        redirect = requests.get(f"http://127.0.0.1:{kit.http_port}/therapists/", allow_redirects=False, timeout=5)
        assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://"), redirect.headers
        static = requests.get(f"{base_url}/static/js/booking.js", timeout=5, verify=str(cert))
        assert static.status_code == 200 and "immutable" in static.headers.get("Cache-Control", "")

        access_log = log_dir / "booking.access.log"
        before = access_log.stat().st_size  # the readiness polls (a 499 while gunicorn starts) are not the flow's
        flow = _booking_flow()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # booking_flow runs here, in this process
        secret = confirmed_authenticator(User.objects.get(email="therapist1@example.com"))
        args = argparse.Namespace(
            base_url=base_url, client="client1@example.com", therapist="therapist1@example.com",
            therapist_name="Amina Odhiambo", password=flow.PASSWORD, phone="0712345670", wait=120,
            therapist_totp=secret,
        )  # fmt: skip
        assert flow.run(args) == 0
        procs.alive()
    finally:
        kit.stop_all()

    session = Session.objects.order_by("-created_at").first()
    assert (session.status, session.payment_status) == ("confirmed", "paid")

    access = access_log.read_bytes()[before:].decode()
    statuses = [int(m) for m in re.findall(r'" (\d{3}) ', access)]
    errors = [s for s in statuses if s >= 400 and s != 409]  # 409: a slot just taken, which the flow retries
    print(
        f"\nthe flow through nginx: {len(statuses)} requests, {len(errors)} errors, {time.monotonic() - started:.1f} s"
    )
    assert statuses and not errors, access
    # Both web processes served; the callback came in through nginx but is in no access log.
    for i in range(2):
        assert (log_dir / f"gunicorn{i}.access.log").read_text().strip(), f"web{i} served nothing"
    assert not any("/api/pay/cb/" in (log_dir / f"gunicorn{i}.access.log").read_text() for i in range(2))
    for log in log_dir.glob("*access.log"):
        assert kit.callback_secret not in log.read_text(), f"the callback secret is in {log.name}"
    # The payment tasks ran on the payments worker, none on the default one.
    received = re.compile(r"Task payments_app\.tasks\.\w+\[[^\]]+\] received")
    assert received.search(procs.log("worker-payments")), procs.log("worker-payments")[-3000:]
    assert not received.search(procs.log("worker-default")), procs.log("worker-default")[-3000:]
