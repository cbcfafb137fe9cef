import datetime as dt

import pytest
from django.utils import timezone

from sessions_app import services
from sessions_app.exceptions import IllegalTransition, NotAllowed
from sessions_app.models import Session

from ..factories import (
    SessionFactory,
    UserFactory,
    future_slot,
)
from .test_sessions import request  # the one booking helper of the session service tests

pytestmark = pytest.mark.django_db
S = Session.Status
P = Session.PaymentStatus


def test_full_happy_path(client_user, session_type):
    therapist_user = session_type.therapist.user
    session = request(client_user, session_type, start=future_slot(days=2))
    services.session_approve(session=session, actor=therapist_user)
    services.session_payment_processing(
        session=session,
        actor=client_user,
        phone="254708374149",
        checkout_request_id="ws_CO_1",
        merchant_request_id="m1",
    )
    confirmed = services.session_mark_paid(
        session=session, receipt_number="NLJ7RT61SV", amount=3000, phone="254708374149", checkout_request_id="ws_CO_1"
    )
    assert confirmed is not None
    session.refresh_from_db()
    assert (session.status, session.payment_status, session.mpesa_receipt_number) == (S.CONFIRMED, P.PAID, "NLJ7RT61SV")
    # A duplicate confirmation changes nothing.
    assert (
        services.session_mark_paid(
            session=session,
            receipt_number="NLJ7RT61SV",
            amount=3000,
            phone="254708374149",
            checkout_request_id="ws_CO_1",
        )
        is None
    )
    Session.objects.filter(pk=session.pk).update(start=timezone.now() - dt.timedelta(minutes=5))
    services.session_start(session=session, actor=therapist_user)
    services.session_complete(session=session, actor=therapist_user)
    session.refresh_from_db()
    assert session.status == S.COMPLETED
    assert list(session.events.values_list("action", flat=True)) == [
        "request",
        "approve",
        "payment_processing",
        "confirm",
        "start",
        "complete",
    ]


def test_payment_failure_leaves_approved_and_allows_retry(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, approved=True)
    services.session_payment_processing(
        session=session, actor=client_user, phone="254708374149", checkout_request_id="a", merchant_request_id="m"
    )
    # A failure for another (stale) checkout id changes nothing.
    assert (
        services.session_payment_failed(session=session, checkout_request_id="zzz", result_code="1032", result_desc="x")
        is None
    )
    services.session_payment_failed(
        session=session, checkout_request_id="a", result_code="1032", result_desc="Request cancelled by user"
    )
    session.refresh_from_db()
    assert (session.status, session.payment_status, session.mpesa_result_code) == (S.APPROVED, P.FAILED, "1032")
    services.session_payment_processing(
        session=session, actor=client_user, phone="254708374149", checkout_request_id="b", merchant_request_id="m"
    )
    session.refresh_from_db()
    assert (session.payment_status, session.payment_attempts) == (P.PROCESSING, 2)


def test_paid_after_expiry_raises_so_money_is_kept(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, status=S.EXPIRED)
    with pytest.raises(IllegalTransition):
        services.session_mark_paid(session=session, receipt_number="R1", amount=1, phone="", checkout_request_id="x")


def test_cannot_pay_before_approval(client_user, session_type):
    session = request(client_user, session_type)
    with pytest.raises(IllegalTransition):
        services.session_payment_processing(
            session=session, actor=client_user, phone="254708374149", checkout_request_id="a", merchant_request_id="m"
        )


def test_refund_recorded_by_staff_only(session_type):
    session = SessionFactory(session_type=session_type, confirmed=True, status=S.CANCELLED, refund_due=True)
    with pytest.raises(NotAllowed):
        services.session_mark_refunded(session=session, actor=session.client)
    services.session_mark_refunded(session=session, actor=UserFactory(staff=True))
    session.refresh_from_db()
    assert (session.payment_status, session.refund_due) == (P.REFUNDED, False)


# --- The payment rows of the one table ----------------------------------------------------


def test_mark_paid_is_the_confirm_move_and_refuses_a_payment_never_started(session_type):
    session = SessionFactory(session_type=session_type, approved=True)
    with pytest.raises(IllegalTransition, match="Payment cannot go from Pending to Paid"):
        services.session_mark_paid(session=session, receipt_number="R1", amount=1, phone="", checkout_request_id="x")
    assert session.events.count() == 0
    assert services.MOVES["confirm"].payment_target == P.PAID


def test_a_late_payment_confirms_a_failed_attempts_session(session_type):
    session = SessionFactory(session_type=session_type, approved=True, payment_status=P.FAILED)
    assert services.session_mark_paid(
        session=session, receipt_number="R9", amount=session.amount_kes, phone="", checkout_request_id="c"
    )
    session.refresh_from_db()
    assert (session.status, session.payment_status) == (S.CONFIRMED, P.PAID)
    event = session.events.get()
    assert (event.action, event.from_payment_status, event.to_payment_status) == ("confirm", P.FAILED, P.PAID)


def test_only_the_client_starts_a_payment(session_type):
    session = SessionFactory(session_type=session_type, approved=True)
    for other in (session.therapist.user, UserFactory(staff=True)):
        with pytest.raises(NotAllowed):
            services.session_payment_processing(
                session=session, actor=other, phone="254708374149", checkout_request_id="a", merchant_request_id="m"
            )
    session.refresh_from_db()
    assert (session.payment_status, session.events.count()) == (P.PENDING, 0)


def test_a_receipt_is_recorded_once_and_only_for_its_payment(session_type):
    session = SessionFactory(
        session_type=session_type, confirmed=True, mpesa_checkout_request_id="c1", mpesa_receipt_number=""
    )
    assert services.session_record_receipt(session=session, checkout_request_id="other", receipt_number="R1") is False
    assert services.session_record_receipt(session=session, checkout_request_id="c1", receipt_number="R1") is True
    assert services.session_record_receipt(session=session, checkout_request_id="c1", receipt_number="R2") is False
    session.refresh_from_db()
    assert session.mpesa_receipt_number == "R1"
    assert list(session.events.values_list("action", flat=True)) == ["receipt"]


def test_a_refund_needs_a_paid_session(session_type, staff_user):
    session = SessionFactory(session_type=session_type, approved=True)
    with pytest.raises(IllegalTransition):
        services.session_mark_refunded(session=session, actor=staff_user)
