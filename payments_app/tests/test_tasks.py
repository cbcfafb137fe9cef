"""Polling and sweeper tasks: thin, idempotent, and never leaving a payment Processing."""

import datetime as dt

import pytest
from django.utils import timezone

from payments_app import services, tasks
from payments_app.models import PaymentAttempt
from sessions_app.models import Session

from .conftest import PAID_PHONE

pytestmark = pytest.mark.django_db

A = PaymentAttempt.Status


@pytest.fixture
def attempt(simulator, approved_session, client_user):
    simulator.config.pending_seconds = 3600
    return services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)


@pytest.fixture
def not_eager(monkeypatch):
    """Run as under a real broker: capture what would be queued instead of sending it."""
    queued = []
    monkeypatch.setitem(tasks.poll_payment.app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        tasks.poll_payment, "apply_async", lambda args=None, countdown=None, **kw: queued.append((args, countdown))
    )
    return queued


def test_push_schedules_the_first_poll_about_twenty_seconds_later(
    simulator, approved_session, client_user, not_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert not_eager == [([attempt.pk], 20.0)]


def test_eager_mode_schedules_no_poll(
    simulator, approved_session, client_user, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(tasks.poll_payment, "apply_async", lambda *a, **k: calls.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert calls == []


def test_poll_asks_again_later_while_pending(attempt, not_eager, settings):
    assert tasks.poll_payment(attempt.pk) == A.PROCESSING
    ((args, countdown),) = not_eager
    assert args == [attempt.pk] and countdown == settings.MPESA_POLL_INTERVAL_SECONDS


def test_poll_settles_a_final_answer_and_stops(attempt, simulator, not_eager):
    simulator.config.pending_seconds = 0
    assert tasks.poll_payment(attempt.pk) == A.SUCCEEDED
    assert not_eager == []
    assert Session.objects.get(pk=attempt.session_id).payment_status == Session.PaymentStatus.PAID
    assert tasks.poll_payment(attempt.pk) == A.SUCCEEDED  # safe to run twice


def test_poll_gives_up_at_the_deadline(attempt, not_eager):
    PaymentAttempt.objects.filter(pk=attempt.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=4))
    assert tasks.poll_payment(attempt.pk) == A.UNKNOWN
    assert not_eager == []
    assert Session.objects.get(pk=attempt.session_id).payment_status == Session.PaymentStatus.FAILED


def test_poll_keeps_going_when_daraja_is_unreachable(attempt, not_eager, settings):
    settings.DARAJA_BASE_URL = "http://127.0.0.1:9"
    assert tasks.poll_payment(attempt.pk) == A.PROCESSING
    assert len(not_eager) == 1


def test_poll_for_a_missing_attempt_does_nothing():
    assert tasks.poll_payment(999_999) == "missing"


def test_stuck_sweeper_settles_with_daraja_when_it_has_answered(attempt, simulator):
    PaymentAttempt.objects.filter(pk=attempt.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=4))
    simulator.config.pending_seconds = 0
    assert tasks.sweep_stuck_payments() == 1
    attempt.refresh_from_db()
    assert attempt.status == A.SUCCEEDED and not attempt.needs_review
    assert tasks.sweep_stuck_payments() == 0


def test_stuck_sweeper_leaves_recent_attempts_alone(attempt):
    assert tasks.sweep_stuck_payments() == 0
    attempt.refresh_from_db()
    assert attempt.status == A.PROCESSING
