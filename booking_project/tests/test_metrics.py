"""GET /metrics: Prometheus text for a staff session or the METRICS_TOKEN, computed from the database
(and the broker's queue lengths) at scrape time."""

from __future__ import annotations

import re

import pytest

from booking_project import metrics
from notifications_app.models import Notification
from notifications_app.tests.factories import NotificationFactory
from payments_app.models import MpesaCallback, PaymentAttempt
from payments_app.tests.factories import MpesaCallbackFactory, PaymentAttemptFactory
from sessions_app.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-0123456789"
SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\d+(\.\d+)?)$')


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client, **headers):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        out[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return out


def test_anonymous_and_a_wrong_token_are_refused(client, settings):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403  # no token: none accepted


def test_a_client_session_is_refused_a_staff_session_is_served(client):
    client.force_login(UserFactory())
    assert client.get("/metrics").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_payments_by_outcome_callbacks_and_retries_are_counted(client):
    PaymentAttemptFactory(status=PaymentAttempt.Status.SUCCEEDED)
    PaymentAttemptFactory(status=PaymentAttempt.Status.SUCCEEDED)
    PaymentAttemptFactory(status=PaymentAttempt.Status.FAILED)
    MpesaCallbackFactory()  # unprocessed; its attempt is processing
    MpesaCallbackFactory(outcome=MpesaCallback.Outcome.PAID, process_tries=3)
    NotificationFactory(status=Notification.Status.SENT, attempts=4)
    NotificationFactory(status=Notification.Status.QUEUED, attempts=1)

    response = scrape(client)
    assert response.status_code == 200
    got = samples(response.content.decode())
    assert got['booking_payment_attempts{status="succeeded"}'] == 2
    assert got['booking_payment_attempts{status="failed"}'] == 1
    assert got['booking_payment_attempts{status="processing"}'] == 2
    assert got['booking_payment_attempts{status="review"}'] == 0
    assert got["booking_mpesa_callbacks_received_total"] == 2
    assert got['booking_mpesa_callbacks{outcome="unprocessed"}'] == 1
    assert got['booking_mpesa_callbacks{outcome="paid"}'] == 1
    assert got['booking_task_retries_total{task="notifications_app.tasks.send_notification"}'] == 3
    assert got['booking_task_retries_total{task="payments_app.tasks.process_callback"}'] == 2
    assert got['booking_notifications{status="sent"}'] == 1 and got['booking_notifications{status="queued"}'] == 1
    assert not any(name.startswith("booking_celery_queue_length") for name in got)  # no broker configured


def test_every_metric_has_help_and_type(client):
    text = scrape(client).content.decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    for name in names:
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text


def test_no_personal_data_is_in_the_output(client):
    NotificationFactory(status=Notification.Status.SENT)
    PaymentAttemptFactory(status=PaymentAttempt.Status.SUCCEEDED)
    text = scrape(client).content.decode()
    assert "2547" not in text and "@" not in text


def test_queue_depths_come_from_the_brokers_redis(client, settings):
    import redis

    from sessions_app.tests.celery_workers import redis_ready, redis_url

    url = redis_url(12)  # this run's own Redis server (db 12: no other test uses it)
    redis_ready(url)
    conn = redis.Redis.from_url(url)
    conn.delete("celery")
    conn.rpush("celery", "m1", "m2", "m3")
    settings.CELERY_BROKER_URL = url
    try:
        got = samples(scrape(client).content.decode())
    finally:
        conn.delete("celery")
        conn.close()
    assert got['booking_celery_queue_length{queue="celery"}'] == 3
    assert got["booking_celery_queue_length_error"] == 0


def test_a_broker_that_is_away_is_reported_not_a_500(client, settings, monkeypatch):
    def away(url):
        raise ConnectionError("refused")

    monkeypatch.setattr(metrics, "queue_lengths", away)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = scrape(client)
    assert response.status_code == 200
    assert samples(response.content.decode())["booking_celery_queue_length_error"] == 1


def test_post_is_refused(client):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
