"""payment_initiate (push, reuse, refusals) against the simulator as a real server (nothing mocked)."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from payments_app import services
from payments_app.models import PaymentAttempt, PaymentEvent
from sessions_app.exceptions import IllegalTransition, NotAllowed, RateLimited, ValidationFailed
from sessions_app.models import Session, SessionEvent
from sessions_app.tests.factories import ClientFactory, SessionFactory

from ..conftest import CANCEL_PHONE, PAID_PHONE
from ..factories import PaymentAttemptFactory
from .test_settle import _settle

pytestmark = pytest.mark.django_db

A = PaymentAttempt.Status
E = PaymentEvent.Kind


def test_initiate_sends_one_discreet_push_and_marks_processing(simulator, approved_session, client_user):
    attempt = services.payment_initiate(
        session=approved_session, phone="+254 712-345-670", actor=client_user, source="api", source_ip="10.1.2.3"
    )
    assert attempt.status == A.PROCESSING and not attempt.reused
    assert attempt.phone == "254712345670" and attempt.amount == 3500
    assert attempt.account_reference == approved_session.reference
    assert attempt.checkout_request_id.startswith("ws_CO_")
    (txn,) = simulator.transactions.values()
    sent = " ".join(str(v) for v in txn.request.values()).lower()
    assert "therap" not in sent and approved_session.therapist.user.full_name.lower() not in sent
    assert txn.request["TransactionDesc"] == "Booking" and txn.request["AccountReference"] == approved_session.reference
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PROCESSING
    assert approved_session.mpesa_checkout_request_id == attempt.checkout_request_id
    event = SessionEvent.objects.get(session=approved_session, action="payment_processing")
    assert (event.actor, event.source, event.source_ip) == (client_user, "api", "10.1.2.3")
    kinds = list(PaymentEvent.objects.filter(attempt=attempt).values_list("kind", "actor", "source_ip"))
    assert kinds == [(E.INITIATED, client_user.pk, "10.1.2.3"), (E.PUSH_SENT, client_user.pk, "10.1.2.3")]


def test_invalid_phone_is_a_field_error_and_nothing_happens(simulator, approved_session, client_user):
    with pytest.raises(ValidationFailed) as exc:
        services.payment_initiate(session=approved_session, phone="0812 345", actor=client_user)
    assert exc.value.field == "phone"
    assert "07XX XXX XXX" in exc.value.message
    assert not PaymentAttempt.objects.exists() and not simulator.transactions


def test_only_the_sessions_client_may_pay(simulator, approved_session):
    with pytest.raises(NotAllowed):
        services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=ClientFactory())
    assert not simulator.transactions


def test_paying_before_approval_is_an_illegal_transition(simulator, client_user):
    pending = SessionFactory(client=client_user)
    with pytest.raises(IllegalTransition) as exc:
        services.payment_initiate(session=pending, phone=PAID_PHONE, actor=client_user)
    assert exc.value.http_status == 409 and "approved" in exc.value.message
    assert not PaymentAttempt.objects.exists() and not simulator.transactions


def test_paid_session_cannot_be_paid_again(simulator, client_user):
    paid = SessionFactory(client=client_user, confirmed=True)
    with pytest.raises(IllegalTransition):
        services.payment_initiate(session=paid, phone=PAID_PHONE, actor=client_user)


def test_while_processing_the_same_attempt_comes_back_and_no_second_push(simulator, approved_session, client_user):
    first = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    again = services.payment_initiate(session=approved_session, phone="0799999999", actor=client_user)
    assert again.pk == first.pk and again.reused
    assert len(simulator.transactions) == 1
    assert PaymentAttempt.objects.count() == 1


def test_daraja_error_leaves_the_payment_failed_with_a_reason_not_processing(
    simulator, approved_session, client_user, settings
):
    settings.DARAJA_PASSKEY = "not-the-passkey"
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert attempt.status == A.FAILED
    assert attempt.result_code == "500.001.1001" and attempt.result_desc == "Wrong credentials"
    assert attempt.message.startswith("M-Pesa refused the payment request")
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PENDING
    assert PaymentEvent.objects.filter(attempt=attempt, kind=E.PUSH_FAILED).exists()
    settings.DARAJA_PASSKEY = simulator.config.passkey
    retry = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert retry.status == A.PROCESSING and retry.pk != attempt.pk


def test_unreachable_daraja_fails_the_attempt(approved_session, client_user, settings):
    settings.DARAJA_BASE_URL = "http://127.0.0.1:9"
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert attempt.status == A.FAILED and attempt.result_code == "connection"
    assert "try again" in attempt.message.lower()


def test_pushes_per_session_are_rate_limited(simulator, approved_session, client_user, settings):
    settings.MPESA_STK_PUSHES_PER_SESSION = 2
    for _ in range(2):
        attempt = services.payment_initiate(session=approved_session, phone=CANCEL_PHONE, actor=client_user)
        assert _settle(simulator, attempt).status == A.FAILED
    with pytest.raises(RateLimited) as exc:
        services.payment_initiate(session=approved_session, phone=CANCEL_PHONE, actor=client_user)
    assert exc.value.http_status == 429
    assert PaymentAttempt.objects.count() == 2


def test_a_push_that_crashed_half_way_is_given_up_and_flagged(simulator, approved_session, client_user):
    stale = PaymentAttemptFactory(
        session=approved_session,
        phone="254712345670",
        amount=3500,
        account_reference=approved_session.reference,
        initiated_at=timezone.now() - dt.timedelta(minutes=5),
    )
    fresh = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    stale.refresh_from_db()
    assert stale.status == A.FAILED and stale.needs_review
    assert fresh.pk != stale.pk and fresh.status == A.PROCESSING


@pytest.mark.django_db(transaction=True)
def test_double_click_from_two_connections_sends_one_push(simulator, approved_session, client_user):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def pay():
        try:
            barrier.wait()
            results.append(services.payment_initiate(session=approved_session.pk, phone=PAID_PHONE, actor=client_user))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len({a.pk for a in results}) == 1
    assert len(simulator.transactions) == 1


def test_payment_events_are_append_only(simulator, approved_session, client_user):
    services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    event = PaymentEvent.objects.first()
    event.message = "rewritten"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    assert PaymentEvent.objects.get(pk=event.pk).message != "rewritten"
