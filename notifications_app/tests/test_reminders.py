"""Reminders 24 hours and 1 hour before: only for confirmed sessions, each once."""

import datetime as dt

import pytest
from django.utils import timezone

from notifications_app import services, tasks
from notifications_app.models import Notification
from sessions_app import services as sessions
from sessions_app.models import Session
from sessions_app.tests.factories import SessionFactory

from .helpers import absolute, local, take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind


def starting_in(delta, session_type, **kwargs):
    start = (timezone.now() + delta).replace(second=0, microsecond=0)
    kwargs.setdefault("confirmed", True)
    kwargs.setdefault("payment_verified_at", timezone.now() - dt.timedelta(days=3))
    return SessionFactory(session_type=session_type, start=start, **kwargs)


def run_beat(on_commit):
    return on_commit(tasks.send_due_reminders.apply).get()


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


def test_a_session_gets_both_reminders_over_time(on_commit, session_type):
    session = starting_in(dt.timedelta(hours=23, minutes=30), session_type)
    now = timezone.now()

    assert on_commit(services.reminders_queue_due, now=now) == 1
    assert on_commit(services.reminders_queue_due, now=now + dt.timedelta(hours=10)) == 0
    assert on_commit(services.reminders_queue_due, now=session.start - dt.timedelta(minutes=58)) == 1
    assert on_commit(services.reminders_queue_due, now=session.start - dt.timedelta(minutes=10)) == 0

    assert sorted(Notification.objects.values_list("kind", flat=True)) == sorted([K.REMINDER_24H, K.REMINDER_1H])


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
    notification = Notification.objects.create(session=session, recipient=client_user, kind=K.REMINDER_24H)
    on_commit(sessions.session_cancel, session=session, actor=client_user, reason="Travelling.")
    take_outbox()

    assert tasks.send_notification.apply(args=[notification.pk]).get() == "skipped"

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SKIPPED
    assert take_outbox() == []
