"""Issue 22: no reply from Daraja, however odd, raises out of a service; each is recorded, classified and shown.

Against the simulator as a real server; where Daraja's reply must be odd, the
simulator's handler for that endpoint is replaced by one that answers the odd body.
"""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications_app.models import Notification
from payments_app import services
from payments_app.daraja import simulator as sim_module
from payments_app.models import PaymentAttempt, PaymentEvent
from payments_app.services import settle
from sessions_app.models import Session
from sessions_app.tests.factories import UserFactory

from ..conftest import PAID_PHONE

pytestmark = pytest.mark.django_db

A = PaymentAttempt.Status
E = PaymentEvent.Kind
P = PaymentAttempt.Problem


def _query_answers(sim, body, status=200):
    """From now on STK Query answers ``body`` (after the real checks of token and credentials)."""
    real = sim.stk_query

    def odd(headers, request_body):
        status_code, reply = real(headers, request_body)
        if status_code != 200:
            return status_code, reply
        return status, body(reply) if callable(body) else body

    sim.stk_query = odd


def _answered(sim, attempt):
    sim.transactions[attempt.checkout_request_id].created -= 10**6


def _past_deadline(attempt):
    PaymentAttempt.objects.filter(pk=attempt.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=10))


def test_a_reply_about_another_checkout_is_recorded_and_never_raises(simulator, approved_session, client_user, api):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    _answered(simulator, attempt)
    _query_answers(simulator, lambda reply: {**reply, "CheckoutRequestID": "ws_CO_SOMEONE_ELSE"})

    checked = services.payment_check(attempt=attempt, source="poll")
    assert checked.status == A.PROCESSING  # nothing in the reply was used
    assert checked.problem_class == P.TRANSIENT and "another checkout" in checked.problem
    assert checked.problem_payload["CheckoutRequestID"] == "ws_CO_SOMEONE_ELSE"
    assert checked.problem_payload["ResultCode"] == "0"
    assert PaymentEvent.objects.filter(attempt=attempt, kind=E.ANOMALY).exists()

    status = api.get(reverse("payments:api_status", args=[attempt.checkout_request_id]))
    assert status.status_code == 200 and status.json()["status"] == A.PROCESSING
    from django.test import Client

    browser = Client()
    browser.force_login(client_user)
    assert browser.get(reverse("payments:pay", args=[approved_session.pk])).status_code == 200

    # By the deadline it needs attention, and the client is not left waiting.
    _past_deadline(attempt)
    assert services.payments_settle_stuck() == 1
    attempt.refresh_from_db()
    assert attempt.status == A.REVIEW and attempt.needs_review and attempt.review_reason.startswith("Needs attention")
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.FAILED
    assert PaymentEvent.objects.filter(attempt=attempt, kind=E.NEEDS_ATTENTION).count() == 1
    assert services.payments_settle_stuck() == 0  # not asked again


def test_a_late_valid_answer_still_settles_an_attempt_that_needs_attention(simulator, approved_session, client_user):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    _answered(simulator, attempt)
    _query_answers(simulator, lambda reply: {k: v for k, v in reply.items() if k != "ResultCode"})
    services.payment_check(attempt=attempt, source="poll")
    _past_deadline(attempt)
    services.payments_settle_stuck()
    attempt.refresh_from_db()
    assert attempt.status == A.REVIEW and "ResultCode" in attempt.problem
    from payments_app.daraja import StkResult

    settled = services.payment_apply_result(
        attempt=attempt, result=StkResult(attempt.checkout_request_id, "", 0, "ok"), source="admin"
    )
    assert settled.status == A.SUCCEEDED and not settled.needs_review


@pytest.mark.parametrize(
    "reply",
    [
        {"text": "not json at all"},
        [],
        {"ResponseCode": "0", "ResultCode": None, "CheckoutRequestID": None},
        {"ResponseCode": "0", "ResultCode": "", "ResultDesc": None},
        {"ResponseCode": "0", "ResultCode": True},
        {"ResponseCode": "0", "ResultCode": 1.5},
        {"ResponseCode": "0", "ResultCode": {"nested": 1}},
    ],
    ids=["text", "array", "nulls", "empty", "bool", "fraction", "object"],
)
def test_odd_query_shapes_are_recorded_not_raised(simulator, approved_session, client_user, reply, monkeypatch):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    _answered(simulator, attempt)
    if reply == {"text": "not json at all"}:
        monkeypatch.setattr(
            sim_module._Handler, "_reply", lambda self, status, body: _raw_reply(self, status, b"not json at all")
        )
    else:
        _query_answers(simulator, reply)
    checked = services.payment_check(attempt=attempt, source="poll")
    assert checked.status == A.PROCESSING
    assert checked.problem_class == P.TRANSIENT and checked.problem_payload is not None


def _raw_reply(handler, status, data):
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def test_the_sweep_skips_an_attempt_it_cannot_settle_and_goes_on(simulator, approved_session, client_user, monkeypatch):
    from sessions_app.tests.factories import SessionFactory, SessionTypeFactory

    first = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    other_session = SessionFactory(approved=True, client=client_user, session_type=SessionTypeFactory(price_kes=100))
    second = services.payment_initiate(session=other_session, phone="0712345678", actor=client_user)
    for attempt in (first, second):
        _answered(simulator, attempt)
        _past_deadline(attempt)
    PaymentAttempt.objects.filter(pk=first.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=20))
    real = settle.payment_check

    def broken_for_first(*, attempt, **kwargs):
        if attempt.pk == first.pk:
            raise RuntimeError("boom")
        return real(attempt=attempt, **kwargs)

    monkeypatch.setattr(settle, "payment_check", broken_for_first)
    assert services.payments_settle_stuck() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status == A.SUCCEEDED
    assert first.status == A.PROCESSING and first.needs_review and "sweep could not settle" in first.review_reason


def test_a_configuration_error_stops_asking_and_alerts_staff_once_an_hour(
    simulator, approved_session, client_user, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    staff = UserFactory(staff=True, email="desk@example.com")
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    simulator.revoke_tokens()
    settings.DARAJA_CONSUMER_SECRET = "rotated-but-not-updated"
    cache.clear()  # the cached token: the next call asks for a new one with the wrong secret

    with django_capture_on_commit_callbacks(execute=True):
        checked = services.payment_check(attempt=attempt, source="poll")
    assert checked.status == A.REVIEW and checked.problem_class == P.CONFIGURATION
    assert checked.problem.startswith("400.008.01")
    assert checked.problem_payload["errorCode"] == "400.008.01"
    assert checked.needs_review
    alerts = Notification.objects.filter(kind=Notification.Kind.STAFF_PAYMENT_ALERT)
    assert [n.recipient for n in alerts] == [staff]
    assert [m.to for m in mail.outbox if "need attention" in m.subject] == [["desk@example.com"]]

    # A second push within the hour fails the same way, and no second email goes out.
    with django_capture_on_commit_callbacks(execute=True):
        other = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert other.status == A.FAILED and other.problem_class == P.CONFIGURATION
    assert "our side" in other.message
    assert alerts.count() == 1


def test_a_lettered_result_code_is_a_configuration_failure(
    simulator, approved_session, client_user, django_capture_on_commit_callbacks
):
    UserFactory(staff=True, email="desk@example.com")
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    _answered(simulator, attempt)
    _query_answers(
        simulator, lambda reply: {**reply, "ResultCode": "SFC_IC0003", "ResultDesc": "Operator does not exist"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        settled = services.payment_check(attempt=attempt, source="poll")
    assert settled.status == A.FAILED and settled.result_code == "SFC_IC0003"
    assert settled.problem_class == P.CONFIGURATION and settled.needs_review
    assert "our side" in settled.message
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.FAILED
    assert Notification.objects.filter(kind=Notification.Kind.STAFF_PAYMENT_ALERT).count() == 1


def test_the_admin_shows_the_raw_reply_and_warns_about_set_up_problems(simulator, approved_session, client_user):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    _answered(simulator, attempt)
    _query_answers(simulator, lambda reply: {**reply, "ResultCode": "2028", "ResultDesc": "not permitted"})
    services.payment_check(attempt=attempt, source="poll")
    from django.test import Client

    staff = UserFactory(staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(staff)
    listing = browser.get(reverse("admin:payments_app_paymentattempt_changelist"))
    assert listing.status_code == 200 and "refused our set-up" in listing.content.decode()
    page = browser.get(reverse("admin:payments_app_paymentattempt_change", args=[attempt.pk]))
    assert page.status_code == 200
    assert "not permitted" in page.content.decode() and "Daraja&#x27;s raw reply" in page.content.decode()
