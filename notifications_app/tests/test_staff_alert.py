"""The staff alert about an M-Pesa set-up problem (issue 22): every active staff member, at most once an hour."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from notifications_app import services
from notifications_app.models import Notification
from sessions_app.tests.factories import SessionFactory, UserFactory

from .helpers import take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind


def _alert(on_commit, session):
    return on_commit(services.notifications_staff_payment_alert, session_id=session.pk)


def test_every_active_staff_member_with_an_email_gets_one(on_commit):
    desk = UserFactory(staff=True, email="desk@example.com")
    UserFactory(staff=True, email="")
    UserFactory(staff=True, is_active=False, email="gone@example.com")
    UserFactory(email="client@example.com")
    session = SessionFactory(approved=True)
    queued = _alert(on_commit, session)
    assert [n.recipient for n in queued] == [desk]
    [message] = take_outbox()
    assert message.to == ["desk@example.com"]
    assert session.reference in message.subject and "need attention" in message.subject
    assert "Retrying will not help" in message.body and "problem_class=configuration" in message.body


def test_at_most_once_an_hour_across_bookings(on_commit):
    UserFactory(staff=True, email="desk@example.com")
    first, second, third = SessionFactory(approved=True), SessionFactory(approved=True), SessionFactory(approved=True)
    assert len(_alert(on_commit, first)) == 1
    assert _alert(on_commit, second) == []  # another booking, same hour: held back
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61), tick=False):
        assert len(_alert(on_commit, third)) == 1
    assert Notification.objects.filter(kind=K.STAFF_PAYMENT_ALERT).count() == 2
    assert len(take_outbox()) == 2


def test_held_back_even_when_the_cache_was_flushed(on_commit):
    from django.core.cache import cache

    UserFactory(staff=True, email="desk@example.com")
    _alert(on_commit, SessionFactory(approved=True))
    cache.clear()
    assert _alert(on_commit, SessionFactory(approved=True)) == []
