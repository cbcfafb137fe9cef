"""One beat, even by mistake (issue 19, part 3).

Two beats firing the same run send it once (the run lock of booking_project.beat), and every periodic
job named in the beat schedule is safe to run twice anyway.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from celery.beat import ScheduleEntry, Scheduler
from django.core.cache import cache
from django.utils import timezone

from booking_project import beat
from booking_project.celery import app
from notifications_app.models import Notification
from notifications_app.tests.factories import NotificationFactory
from notifications_app.tests.helpers import starting_in
from sessions_app.models import Session
from sessions_app.tests.factories import SessionFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sent(monkeypatch):
    """What the schedulers publish, instead of sending to a broker: (scheduler, entry name)."""
    published = []

    def fake_apply_async(self, entry, producer=None, advance=True, **kwargs):
        published.append((id(self), entry.name))
        return None

    monkeypatch.setattr(Scheduler, "apply_async", fake_apply_async)
    return published


def two_beats():
    return [beat.SingleBeatScheduler(app, lazy=True) for _ in range(2)]


def entry(name: str) -> ScheduleEntry:
    conf = app.conf.beat_schedule[name]
    return ScheduleEntry(name=name, task=conf["task"], schedule=conf["schedule"], app=app)


def test_the_app_uses_the_single_beat_scheduler():
    assert app.conf.beat_scheduler == "booking_project.beat:SingleBeatScheduler"


@pytest.mark.parametrize("name", sorted(app.conf.beat_schedule))
def test_two_beats_firing_the_same_run_send_it_once(sent, name):
    first, second = two_beats()
    first.apply_entry(entry(name))
    second.apply_entry(entry(name))
    second.apply_entry(entry(name))
    assert [n for _, n in sent] == [name]
    assert sent[0][0] == id(first)


def test_the_next_period_runs_again_in_whichever_beat_fires_first(sent):
    first, second = two_beats()
    minute = entry("expire-stale-sessions")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first.apply_entry(minute)
        clock.shift(dt.timedelta(seconds=30))
        second.apply_entry(minute)  # same period: skipped
        clock.shift(dt.timedelta(seconds=35))  # 65 s after the first run: the lock (54 s) is gone
        second.apply_entry(minute)
        first.apply_entry(minute)  # 5 s later in the other beat: skipped
    assert [who for who, _ in sent] == [id(first), id(second)]


def test_lock_lengths_are_a_little_shorter_than_each_period():
    lengths = {name: beat.lock_seconds(entry(name)) for name in app.conf.beat_schedule}
    assert lengths == {
        "expire-stale-sessions": 54.0,
        "sweep-stuck-payments": 54.0,
        "sweep-unprocessed-callbacks": 54.0,
        "send-session-reminders": 270.0,  # crontab */5
        "requeue-stale-notifications": 540.0,  # crontab */10
        "apply-retention": 54.0,  # crontab nightly: 60 s is always safe for a crontab
    }


def test_a_cache_that_is_away_sends_rather_than_skips(sent, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis away")

    monkeypatch.setattr(beat, "claim_run", broken)
    first, second = two_beats()
    first.apply_entry(entry("expire-stale-sessions"))
    second.apply_entry(entry("expire-stale-sessions"))
    assert len(sent) == 2  # each job is safe twice; not sending would stop expiry and the sweepers


# --- every periodic job is safe to run twice -------------------------------------------------------


def _expire_world(session_type):
    SessionFactory(session_type=session_type, respond_by=timezone.now() - dt.timedelta(minutes=1))


def _reminder_world(session_type):
    starting_in(dt.timedelta(hours=23, minutes=30), session_type)


def _stale_notification_world(session_type):
    notification = NotificationFactory()
    Notification.objects.filter(pk=notification.pk).update(updated_at=notification.created_at.replace(year=2020))


def _retention_world(session_type):
    from payments_app.tests.factories import MpesaCallbackFactory

    MpesaCallbackFactory(received_at=timezone.now() - dt.timedelta(days=400))


RETENTION_NONE = {
    "callbacks_redacted": 0,
    "attempt_payloads_redacted": 0,
    "notifications_anonymised": 0,
    "audit_deleted": 0,
    "requests_anonymised": 0,
    "dry_run": False,
}


def _nothing(session_type):
    """The payment sweepers' due worlds need the Daraja simulator; payments_app/tests/test_tasks.py runs
    them twice with one (test_stuck_sweeper_settles_with_daraja_when_it_has_answered, the callback
    sweeper tests). Here: twice over an empty world."""


WORLDS = {
    "sessions_app.tasks.expire_stale_sessions": (_expire_world, 1),
    "payments_app.tasks.sweep_stuck_payments": (_nothing, 0),
    "payments_app.tasks.sweep_unprocessed_callbacks": (_nothing, 0),
    "notifications_app.tasks.send_due_reminders": (_reminder_world, 1),
    "notifications_app.tasks.requeue_stale_notifications": (_stale_notification_world, 1),
    "sessions_app.tasks.apply_retention": (_retention_world, RETENTION_NONE | {"callbacks_redacted": 1}),
}
# What a second run returns when it has nothing left to do (0 unless said here).
NOTHING_LEFT = {"sessions_app.tasks.apply_retention": RETENTION_NONE}


def test_every_beat_task_is_covered_here():
    assert {conf["task"] for conf in app.conf.beat_schedule.values()} == set(WORLDS)


def _state():
    return (
        sorted(Session.objects.values_list("pk", "status")),
        sorted(Notification.objects.values_list("pk", "kind", "status")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("task_name", sorted(WORLDS))
def test_each_periodic_job_run_twice_changes_nothing_the_second_time(
    task_name, session_type, django_capture_on_commit_callbacks
):
    make_world, first_result = WORLDS[task_name]
    make_world(session_type)
    task = app.tasks[task_name]
    with django_capture_on_commit_callbacks(execute=True):
        assert task.apply().get() == first_result
    after_first = _state()
    with django_capture_on_commit_callbacks(execute=True):
        assert task.apply().get() == NOTHING_LEFT.get(task_name, 0)
    assert _state() == after_first
