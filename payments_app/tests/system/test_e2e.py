"""The whole flow over HTTP: request, approve, pay, Confirmed.

Real pieces only: Django's live server, the Daraja simulator as an HTTP server
posting its callback back to the live server, and a real Celery worker process
on Redis that processes the callback and polls STK Query.
"""

import ctypes
import os
import signal
import subprocess
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection

from booking_project.celery import app as celery_app
from payments_app.daraja.simulator import DarajaSimulator, SimConfig
from payments_app.models import MpesaCallback, PaymentAttempt
from sessions_app.models import Session, SessionEvent
from sessions_app.tests.celery_workers import CELERY, redis_ready, redis_url, wait_for
from sessions_app.tests.factories import PASSWORD, ClientFactory, SessionTypeFactory
from sessions_app.tests.two_factor import code_for, confirmed_authenticator

from ..conftest import SECRET

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = redis_url(1)  # this run's own Redis server


def _own_group_dying_with_us():
    """In the child before exec: its own process group, and SIGTERM if this test process dies uncleanly."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (AttributeError, OSError):
        pass


def _reset_connections():
    """Forget the producer pool so the next send uses the current broker_url (as Celery does after a fork).

    The old pool is dropped, not closed: another test may have left a consumer channel in it, and
    closing that blocks on a read that never returns.
    """
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def live_simulator(settings, wide_live_server):
    sim = DarajaSimulator(SimConfig(callback_delay=0.5, pending_seconds=0.3), port=0).start()
    settings.DARAJA_BASE_URL = sim.url
    settings.DARAJA_CALLBACK_BASE_URL = wide_live_server
    settings.MPESA_CALLBACK_SECRET = SECRET
    yield sim
    sim.stop()


@pytest.fixture
def worker(live_simulator, wide_live_server, tmp_path):
    """A Celery worker process on Redis, and this process (the live server) sending to it."""
    redis_ready(REDIS_URL)
    queue = f"payments-e2e-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "payments_app.tests.worker_settings",
        "WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "WORKER_BROKER_URL": REDIS_URL,
        "WORKER_QUEUE": queue,
        "WORKER_DARAJA_BASE_URL": live_simulator.url,
        "WORKER_CALLBACK_BASE_URL": wide_live_server,
        "WORKER_CALLBACK_SECRET": SECRET,
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "booking_project",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_group_dying_with_us,  # noqa: PLW1509 - no threads run Python before exec
        )
    saved = {k: celery_app.conf[k] for k in ("broker_url", "task_always_eager", "task_default_queue")}
    celery_app.conf.update(broker_url=REDIS_URL, task_always_eager=False, task_default_queue=queue)
    _reset_connections()  # the next send connects to REDIS_URL
    try:
        wait_for(lambda: b"ready." in log_path.read_bytes() or proc.poll() is not None, timeout=30, what="worker")
        assert proc.poll() is None, log_path.read_text()
        yield log_path
    finally:
        celery_app.conf.update(saved)
        _reset_connections()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_request_approve_pay_confirmed_over_http(wide_live_server, live_simulator, worker):
    session_type = SessionTypeFactory(price_kes=2500)
    therapist = session_type.therapist
    client = ClientFactory()
    base = wide_live_server

    secret = confirmed_authenticator(therapist.user)  # a therapist's token needs the second step's code

    def token(email, **code):
        login = {"email": email, "password": PASSWORD, **code}
        response = requests.post(f"{base}/api/auth/token", json=login, timeout=10)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Token {response.json()['token']}"}

    as_client, as_therapist = token(client.email), token(therapist.user.email, code=code_for(secret))

    slots = requests.get(
        f"{base}/api/therapists/{therapist.pk}/slots", params={"session_type": session_type.pk}, timeout=10
    ).json()["slots"]
    requested = requests.post(
        f"{base}/api/sessions/request",
        json={"therapist": therapist.pk, "session_type": session_type.pk, "start": slots[0], "notes": ""},
        headers=as_client,
        timeout=10,
    )
    assert requested.status_code == 201, requested.text
    session_id = requested.json()["id"]
    assert (requested.json()["status"], requested.json()["payment_status"]) == ("pending_approval", "pending")

    approved = requests.put(f"{base}/api/sessions/{session_id}/approve", headers=as_therapist, timeout=10)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text

    paying = requests.post(
        f"{base}/api/mpesa/initiate", json={"session": session_id, "phone": "0712345670"}, headers=as_client, timeout=20
    )
    assert paying.status_code == 201, paying.text
    assert paying.json()["status"] == "processing"
    checkout = paying.json()["checkout_request_id"]

    # Only the worker settles it here: GET /api/sessions/{id} never asks Daraja.
    def confirmed():
        body = requests.get(f"{base}/api/sessions/{session_id}", headers=as_client, timeout=10).json()
        return body if body["status"] == "confirmed" else None

    final = wait_for(confirmed, timeout=20, what="the worker to confirm the session")
    assert final["payment_status"] == "paid"
    attempt = wait_for(
        lambda: PaymentAttempt.objects.filter(checkout_request_id=checkout, mpesa_receipt_number__isnull=False).first(),
        timeout=10,
        what="the receipt",
    )
    status = requests.get(f"{base}/api/mpesa/status/{checkout}", headers=as_client, timeout=10).json()
    assert status["status"] == "succeeded" and status["mpesa_receipt_number"] == attempt.mpesa_receipt_number
    assert status["mpesa_receipt_number"] == live_simulator.transactions[checkout].receipt

    session = Session.objects.get(pk=session_id)
    assert session.mpesa_receipt_number == attempt.mpesa_receipt_number and session.mpesa_amount == 2500
    confirm = SessionEvent.objects.get(session=session, action="confirm")
    assert confirm.source in ("daraja:callback", "daraja:poll")
    assert MpesaCallback.objects.filter(checkout_request_id=checkout, processed_at__isnull=False).exists()
    log = worker.read_text()
    assert "payments_app.tasks.process_callback" in log and "succeeded" in log
