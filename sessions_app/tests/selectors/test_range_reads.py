"""Reads of a time range read that range: same queries with 5 or 50 past sessions, and a lower bound on start.

A filter of only ``start < end_of_range AND end > start_of_range`` makes the (therapist, start)
index read every session before the range: a busy therapist's whole history, on every week view
and in every booking (issue 21).
"""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app import selectors
from sessions_app.models import MAX_SESSION_LENGTH, Session

from ..factories import SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot
from ..querycount import assert_flat, queries_of

pytestmark = pytest.mark.django_db

LOWER_BOUND = re.compile(r'"sessions_app_session"\."start" >=? ')


@pytest.fixture
def stype():
    return SessionTypeFactory(therapist=TherapistProfileFactory(buffer_minutes=10))


def _history(stype):
    made = []

    def add(n):
        for _ in range(n):
            i = len(made)
            start = timezone.now() - dt.timedelta(days=2 + i // 8, hours=i % 8)
            made.append(SessionFactory(session_type=stype, start=start, status=Session.Status.COMPLETED))

    return add


def _session_queries(sqls):
    return [q for q in sqls if 'FROM "sessions_app_session"' in q]


def test_week_view_is_flat_and_bounded(client, stype):
    client.force_login(stype.therapist.user)
    this_week = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=1, hour=9))

    def page():
        response = client.get(reverse("sessions:dashboard_week"), {"week": this_week.start.date().isoformat()})
        assert response.status_code == 200
        page.response = response

    sqls = assert_flat(_history(stype), page)
    assert any(LOWER_BOUND.search(q) for q in _session_queries(sqls))
    assert this_week.client.full_name in page.response.content.decode()


def test_week_sessions_keep_a_session_that_began_before_the_week(stype):
    therapist = stype.therapist
    monday = future_slot(days=14).date()
    monday -= dt.timedelta(days=monday.weekday())
    week_start = selectors.day_window(day=monday, tz=therapist.tz)[0]
    # Started before the week (by less than the longest a session can be), ends inside it.
    overlapping = SessionFactory(
        session_type=stype,
        confirmed=True,
        start=week_start - dt.timedelta(minutes=30),
        end=week_start + dt.timedelta(minutes=30),
    )
    assert dt.timedelta(minutes=60) <= MAX_SESSION_LENGTH
    assert [s.pk for s in selectors.therapist_week_sessions(therapist=therapist, week_start=monday)] == [overlapping.pk]


def test_free_slots_are_flat_and_bounded(stype):
    now = timezone.now()

    def run():
        run.slots = selectors.free_slots(
            therapist=stype.therapist,
            session_type=stype,
            window_start=now,
            window_end=now + dt.timedelta(days=7),
        )

    sqls = assert_flat(_history(stype), run)
    assert all(LOWER_BOUND.search(q) for q in _session_queries(sqls))
    assert run.slots


def test_free_slots_still_see_a_session_overlapping_the_window_start(stype):
    therapist = stype.therapist
    start = future_slot(days=3, hour=10)
    SessionFactory(
        session_type=stype, confirmed=True, start=start - dt.timedelta(hours=1), end=start + dt.timedelta(hours=1)
    )
    slots = selectors.free_slots(
        therapist=therapist, session_type=stype, window_start=start, window_end=start + dt.timedelta(hours=4)
    )
    # Busy until 11:00 plus the 10-minute buffer: nothing at 10:00, 10:30 or 11:00.
    assert slots and min(slots) >= start + dt.timedelta(hours=1, minutes=10)


def test_reminders_job_is_flat_with_history(stype):
    from notifications_app import services as notification_services

    SessionFactory(session_type=stype, confirmed=True, start=timezone.now() + dt.timedelta(hours=12))
    counts = []

    def run():
        counts.append(notification_services.reminders_queue_due())

    # History only: 5 then 50 past completed sessions change nothing in what the job runs.
    add = _history(stype)
    add(5)
    first = queries_of(run)
    add(45)
    again = queries_of(run)
    assert counts == [1, 0]
    # The second run finds the reminder already queued: it runs only the two window queries.
    assert len(again) == 2 and all('"start" >' in q for q in again)
    assert len(first) > len(again)


def test_dashboard_is_flat_with_history_and_its_counts_skip_closed_sessions(client, stype):
    client.force_login(stype.therapist.user)
    SessionFactory(session_type=stype, start=future_slot(days=2, hour=9))  # one pending request

    def page():
        response = client.get(reverse("sessions:dashboard"))
        assert response.status_code == 200
        page.response = response

    sqls = assert_flat(_history(stype), page)
    counts = page.response.context["counts"]
    assert counts["pending"] == 1 and counts["attention"] == 0
    aggregate = next(q for q in sqls if "COUNT(" in q and 'FROM "sessions_app_session"' in q)
    where = aggregate.split('FROM "sessions_app_session"', 1)[1]  # after the COUNT(...) FILTERs
    assert "pending_approval" in where and "completed" in where  # the WHERE names the statuses counted
