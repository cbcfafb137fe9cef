"""payment_apply_result, payment_check and the staff review against the simulator as a real server (nothing mocked)."""

import datetime as dt

import pytest
from django.utils import timezone

from payments_app import services
from payments_app.daraja import StkResult
from payments_app.models import PaymentAttempt, PaymentEvent
from sessions_app.exceptions import NotAllowed
from sessions_app.models import Session, SessionEvent
from sessions_app.services import sessions as session_services

from ..conftest import PAID_PHONE

pytestmark = pytest.mark.django_db

A = PaymentAttempt.Status
E = PaymentEvent.Kind


def _settle(sim, attempt, **kwargs):
    """Let the simulated customer answer, then ask Daraja as the poller would."""
    sim.transactions[attempt.checkout_request_id].created -= 10**6
    return services.payment_check(attempt=attempt, source="poll", **kwargs)


def test_success_confirms_the_session_once(simulator, approved_session, client_user):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    settled = _settle(simulator, attempt)
    assert settled.status == A.SUCCEEDED and settled.paid_amount == 3500
    approved_session.refresh_from_db()
    assert (approved_session.status, approved_session.payment_status) == ("confirmed", "paid")
    again = services.payment_apply_result(
        attempt=settled, result=StkResult(settled.checkout_request_id, "", 0, "ok"), source="poll"
    )
    assert again.status == A.SUCCEEDED
    assert SessionEvent.objects.filter(session=approved_session, action="confirm").count() == 1
    assert PaymentEvent.objects.filter(attempt=attempt, kind=E.SUCCEEDED).count() == 1


@pytest.mark.parametrize(
    ("digit", "code", "words"),
    [
        ("1", "1", "balance was not enough"),
        ("2", "1032", "You cancelled the request on your phone."),
        ("3", "1037", "could not be reached"),
        ("4", "2001", "PIN was wrong"),
        ("7", "1019", "expired"),
    ],
)
def test_failure_leaves_approved_and_failed_with_plain_words(
    simulator, approved_session, client_user, digit, code, words
):
    attempt = services.payment_initiate(session=approved_session, phone=f"071234567{digit}", actor=client_user)
    settled = _settle(simulator, attempt)
    assert settled.status == A.FAILED and settled.result_code == code and words in settled.message
    approved_session.refresh_from_db()
    assert approved_session.status == Session.Status.APPROVED
    assert approved_session.payment_status == Session.PaymentStatus.FAILED
    assert approved_session.mpesa_result_code == code and words in approved_session.mpesa_result_desc


def test_no_answer_by_the_deadline_is_not_left_processing_and_a_late_answer_still_counts(
    simulator, approved_session, client_user
):
    simulator.config.pending_seconds = 3600
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=10))
    assert services.payments_settle_stuck() == 1
    attempt.refresh_from_db()
    assert attempt.status == A.UNKNOWN and attempt.needs_review and "deadline" in attempt.review_reason
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.FAILED
    assert "did not hear back" in approved_session.mpesa_result_desc
    # M-Pesa answers late: the money is applied, not lost.
    settled = _settle(simulator, attempt)
    assert settled.status == A.SUCCEEDED and not settled.needs_review
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PAID


def test_paid_after_cancel_is_kept_and_flagged(simulator, approved_session, client_user):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    session_services.session_cancel(session=approved_session, actor=client_user, reason="Plans changed")
    settled = _settle(simulator, attempt)
    assert settled.status == A.SUCCEEDED and settled.paid_amount == 3500
    assert settled.needs_review and "refund" in settled.review_reason
    approved_session.refresh_from_db()
    assert approved_session.status == Session.Status.CANCELLED
    assert PaymentEvent.objects.filter(attempt=attempt, kind=E.FLAGGED).exists()


def test_second_payment_for_a_paid_session_is_flagged_as_duplicate(simulator, approved_session, client_user):
    simulator.config.pending_seconds = 3600
    first = services.payment_initiate(session=approved_session, phone="0712345679", actor=client_user)
    PaymentAttempt.objects.filter(pk=first.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=10))
    services.payments_settle_stuck()
    second = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert _settle(simulator, second).status == A.SUCCEEDED
    late = _settle(simulator, first)
    assert late.status == A.SUCCEEDED and late.needs_review and "Duplicate payment" in late.review_reason
    assert SessionEvent.objects.filter(session=approved_session, action="confirm").count() == 1


def test_status_checks_are_rate_limited(simulator, approved_session, client_user):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    simulator.config.pending_seconds = 3600
    for _ in range(5):
        services.payment_check(attempt=attempt, source="status", min_interval=30)
    assert simulator.requests_seen.count(("POST", "/mpesa/stkpushquery/v1/query")) == 1


def test_staff_mark_reviewed_is_logged(simulator, approved_session, client_user):
    from sessions_app.tests.factories import UserFactory

    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    session_services.session_cancel(session=approved_session, actor=client_user, reason="Plans changed")
    settled = _settle(simulator, attempt)
    staff = UserFactory(staff=True)
    with pytest.raises(NotAllowed):
        services.payment_mark_reviewed(attempt=settled, actor=client_user)
    done = services.payment_mark_reviewed(attempt=settled, actor=staff, source_ip="10.0.0.9")
    assert not done.needs_review and done.reviewed_by == staff
    event = PaymentEvent.objects.get(attempt=attempt, kind=E.REVIEWED)
    assert (event.actor, event.source, event.source_ip) == (staff, "admin", "10.0.0.9")


def test_no_phone_number_reaches_the_logs(simulator, approved_session, client_user, caplog):
    caplog.set_level("DEBUG")
    attempt = services.payment_initiate(session=approved_session, phone="0712345672", actor=client_user)
    _settle(simulator, attempt)
    assert caplog.records
    assert "712345672" not in caplog.text
