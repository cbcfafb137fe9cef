"""Sending: retried with backoff on transient errors, logged, and never twice."""

import smtplib
import threading

import pytest
from django.db import connection

from notifications_app import services, tasks
from notifications_app.models import Notification
from sessions_app import services as sessions
from sessions_app.tests.factories import SessionFactory

from .backends import FlakyBackend, SlowBackend
from .helpers import request_session, take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "notifications_app.tests.backends.FlakyBackend"
    FlakyBackend.calls = 0
    FlakyBackend.failures_left = 0
    FlakyBackend.error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    yield FlakyBackend
    FlakyBackend.failures_left = 0


def queued(kind=K.CLIENT_REQUEST_RECEIVED, **session_kwargs):
    session = SessionFactory(**session_kwargs)
    return Notification.objects.create(session=session, recipient=session.client, kind=kind)


def test_a_backend_that_fails_twice_then_succeeds_is_retried_and_logged(
    on_commit, flaky, client_user, therapist, session_type, caplog
):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()
    flaky.calls, flaky.failures_left = 0, 2

    on_commit(sessions.session_decline, session=session, actor=therapist.user, reason="Fully booked that week.")

    [message] = take_outbox()
    assert message.to == [client_user.email]
    notification = Notification.objects.get(kind=K.CLIENT_DECLINED)
    assert notification.status == Notification.Status.SENT
    assert notification.attempts == 3
    assert "SMTPServerDisconnected" in notification.last_error
    assert notification.sent_at is not None
    assert flaky.calls == 3
    assert sum("will retry" in r.getMessage() for r in caplog.records) == 2


def test_retries_back_off_exponentially_within_the_visibility_timeout():
    countdowns = [tasks.retry_countdown(n) for n in range(tasks.MAX_RETRIES)]
    bases = [30, 60, 120, 240, 480]
    for countdown, base in zip(countdowns, bases, strict=True):
        assert base <= countdown <= base * 1.1 + 1
    assert tasks.retry_countdown(20) <= tasks.RETRY_BACKOFF_MAX * 1.1 + 1 < 3600


def test_after_the_last_retry_the_email_is_marked_failed(flaky):
    notification = queued()
    flaky.failures_left = 100

    tasks.send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == tasks.MAX_RETRIES + 1
    assert "SMTPServerDisconnected" in notification.last_error
    assert take_outbox() == []


def test_a_permanent_refusal_is_not_retried(flaky):
    notification = queued()
    flaky.failures_left = 1
    flaky.error = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"No such user")})

    tasks.send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == 1
    assert flaky.calls == 1


def test_a_task_run_twice_sends_once():
    notification = queued()

    first = tasks.send_notification.apply(args=[notification.pk]).get()
    second = tasks.send_notification.apply(args=[notification.pk]).get()

    assert (first, second) == ("sent", "sent")
    assert len(take_outbox()) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_queueing_the_same_change_twice_logs_and_sends_once(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    again = on_commit(services.notifications_queue_for_session_change, session_id=session.pk, action="request")

    assert again == []
    assert take_outbox() == []
    assert Notification.objects.count() == 2


def test_a_missing_notification_is_not_an_error():
    assert tasks.send_notification.apply(args=[987654]).get() == "missing"


def test_a_lost_task_message_is_queued_again(on_commit):
    notification = queued()
    Notification.objects.filter(pk=notification.pk).update(updated_at=notification.created_at.replace(year=2020))
    fresh = queued()

    assert on_commit(services.notifications_requeue_stale) == 1

    notification.refresh_from_db()
    fresh.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert fresh.status == Notification.Status.QUEUED
    assert len(take_outbox()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_one_email(settings):
    """Two threads, each its own database connection, run the send at the same moment."""
    settings.EMAIL_BACKEND = "notifications_app.tests.backends.SlowBackend"
    SlowBackend.calls = 0
    notification = queued()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=5)
            results.append(services.notification_send(notification_id=notification.pk).status)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert results == ["sent", "sent"]
    assert SlowBackend.calls == 1
    assert len(take_outbox()) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1
