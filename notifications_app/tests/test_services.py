"""The services: queueing once, re-queueing lost messages, sending once under a race, the reminders due."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from notifications_app import services, tasks
from notifications_app.models import Notification
from sessions_app.exceptions import NotAllowed

from .backends import SlowBackend
from .factories import NotificationFactory
from .helpers import request_session, starting_in, take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind


def test_queueing_the_same_change_twice_logs_and_sends_once(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    again = on_commit(services.notifications_queue_for_session_change, session_id=session.pk, action="request")

    assert again == []
    assert take_outbox() == []
    assert Notification.objects.count() == 2


def test_a_lost_task_message_is_queued_again(on_commit):
    notification = NotificationFactory()
    Notification.objects.filter(pk=notification.pk).update(updated_at=notification.created_at.replace(year=2020))
    fresh = NotificationFactory()

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
    notification = NotificationFactory()
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


def test_a_session_gets_both_reminders_over_time(on_commit, session_type):
    session = starting_in(dt.timedelta(hours=23, minutes=30), session_type)
    now = timezone.now()

    assert on_commit(services.reminders_queue_due, now=now) == 1
    assert on_commit(services.reminders_queue_due, now=now + dt.timedelta(hours=10)) == 0
    assert on_commit(services.reminders_queue_due, now=session.start - dt.timedelta(minutes=58)) == 1
    assert on_commit(services.reminders_queue_due, now=session.start - dt.timedelta(minutes=10)) == 0

    assert sorted(Notification.objects.values_list("kind", flat=True)) == sorted([K.REMINDER_24H, K.REMINDER_1H])


def test_the_provider_message_id_is_logged_on_send(sent_notification):
    assert sent_notification.status == Notification.Status.SENT
    assert sent_notification.provider_message_id != ""


def test_smtp_and_console_sends_log_their_own_message_id():
    notification = NotificationFactory()

    tasks.send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    [message] = take_outbox()
    assert notification.provider_message_id == message.extra_headers["Message-ID"]
    assert notification.provider_message_id.endswith("@127.0.0.1>")


def test_only_staff_resend_an_email(client_user):
    notification = NotificationFactory(status=Notification.Status.FAILED)

    with pytest.raises(NotAllowed, match="Only staff can resend emails."):
        services.notification_resend(notification=notification, actor=client_user)

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
