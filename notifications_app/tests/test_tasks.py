"""The tasks: sending retried with backoff on transient errors, logged, never twice; the reminder beat."""

import datetime as dt
import smtplib

import pytest
from django.utils import timezone

from notifications_app import services, tasks
from notifications_app.models import Notification
from sessions_app import services as sessions
from sessions_app.models import Session

from .backends import FlakyBackend
from .factories import NotificationFactory
from .helpers import absolute, local, request_session, starting_in, take_outbox

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


def run_beat(on_commit):
    return on_commit(tasks.send_due_reminders.apply).get()


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
    notification = NotificationFactory()
    flaky.failures_left = 100

    tasks.send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == tasks.MAX_RETRIES + 1
    assert "SMTPServerDisconnected" in notification.last_error
    assert take_outbox() == []


def test_a_permanent_refusal_is_not_retried(flaky):
    notification = NotificationFactory()
    flaky.failures_left = 1
    flaky.error = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"No such user")})

    tasks.send_notification.apply(args=[notification.pk])

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == 1
    assert flaky.calls == 1


def test_a_task_run_twice_sends_once():
    notification = NotificationFactory()

    first = tasks.send_notification.apply(args=[notification.pk]).get()
    second = tasks.send_notification.apply(args=[notification.pk]).get()

    assert (first, second) == ("sent", "sent")
    assert len(take_outbox()) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_a_missing_notification_is_not_an_error():
    assert tasks.send_notification.apply(args=[987654]).get() == "missing"


def test_the_24_hour_reminder_goes_once(on_commit, session_type, client_user):
    session = starting_in(dt.timedelta(hours=23, minutes=58), session_type, client=client_user)

    assert run_beat(on_commit) == 1
    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Reminder: booking {session.reference} in 24 hours"
    start = local(session.start, "Europe/London")
    assert f"{start:%H:%M}–" in message.body and "Europe/London time" in message.body
    assert absolute("sessions:session_detail", session.pk) in message.body

    assert run_beat(on_commit) == 0
    assert take_outbox() == []
    assert Notification.objects.get().kind == K.REMINDER_24H


def test_the_1_hour_reminder_goes_once_with_the_meeting_link(on_commit, session_type, client_user):
    session = starting_in(
        dt.timedelta(minutes=57), session_type, client=client_user, meeting_link="https://meet.example/room"
    )

    assert run_beat(on_commit) == 1
    assert run_beat(on_commit) == 0

    [message] = take_outbox()
    assert message.subject == f"Reminder: booking {session.reference} starts in 1 hour"
    assert "https://meet.example/room" in message.body
    assert list(Notification.objects.values_list("kind", flat=True)) == [K.REMINDER_1H]


@pytest.mark.parametrize(
    "status",
    [
        Session.Status.PENDING_APPROVAL,
        Session.Status.APPROVED,
        Session.Status.CANCELLED,
        Session.Status.EXPIRED,
        Session.Status.DECLINED,
    ],
)
def test_only_confirmed_sessions_are_reminded(on_commit, session_type, status):
    starting_in(
        dt.timedelta(hours=20),
        session_type,
        confirmed=False,
        status=status,
        payment_status=Session.PaymentStatus.PENDING,
    )
    starting_in(
        dt.timedelta(minutes=50),
        session_type,
        confirmed=False,
        status=status,
        payment_status=Session.PaymentStatus.PENDING,
    )

    assert run_beat(on_commit) == 0
    assert take_outbox() == []


def test_sessions_outside_the_windows_are_not_reminded(on_commit, session_type):
    starting_in(dt.timedelta(hours=30), session_type)
    starting_in(-dt.timedelta(minutes=5), session_type)

    assert run_beat(on_commit) == 0


def test_a_session_paid_inside_the_24_hour_window_skips_that_reminder(on_commit, session_type):
    """The confirmation email it just got carries the time; the 1-hour reminder still goes."""
    session = starting_in(
        dt.timedelta(hours=10), session_type, payment_verified_at=timezone.now() - dt.timedelta(minutes=5)
    )

    assert run_beat(on_commit) == 0
    assert on_commit(services.reminders_queue_due, now=session.start - dt.timedelta(minutes=30)) == 1
    assert list(Notification.objects.values_list("kind", flat=True)) == [K.REMINDER_1H]


def test_a_reminder_for_a_session_cancelled_meanwhile_is_skipped(session_type, client_user, on_commit):
    session = starting_in(dt.timedelta(hours=20), session_type, client=client_user)
    notification = NotificationFactory(session=session, recipient=client_user, kind=K.REMINDER_24H)
    on_commit(sessions.session_cancel, session=session, actor=client_user, reason="Travelling.")
    take_outbox()

    assert tasks.send_notification.apply(args=[notification.pk]).get() == "skipped"

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SKIPPED
    assert take_outbox() == []
