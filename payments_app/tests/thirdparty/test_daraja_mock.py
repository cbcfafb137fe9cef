"""The project's Daraja client against a Daraja mock nobody here wrote: daraja-mock 1.0.5 from PyPI (issue 22).

The mock's Flask app is served on a free loopback port and put behind
DARAJA_BASE_URL. Where the mock and Daraja differ, the protocol reference
(docs/design.md#what-we-rely-on-in-daraja) decides, and the test says so:

- OAuth (section 1): the mock issues a token without checking the Basic credentials
  (Daraja answers 400.008.01 / 400 without them). Nothing to fix on our side: we send them.
- STK Push (section 2): the mock accepts any body, unvalidated (no Password, Timestamp,
  CallBackURL or Amount checks). Our simulator keeps that strictness; against the mock
  the push is simply accepted, as it should be for our valid body.
- STK Query (section 4): every reply carries a fresh random CheckoutRequestID and
  MerchantRequestID, not the ones asked about. That is the mock's fault: Daraja's reply
  is about the CheckoutRequestID in the request. Our side: such a reply is never used;
  it is recorded on the attempt with its raw body, and by the deadline the attempt
  needs attention (PaymentAttempt.Status.REVIEW) instead of raising (the 500 of issue 22).
- Its ResultDesc for 1001 is "The initiator information is invalid." (section 5: 1001 is
  "unable to lock subscriber"): never reaches us, since no query reply is used.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from daraja_mock import DarajaMock
from django.urls import reverse
from django.utils import timezone
from werkzeug.serving import make_server

from payments_app import daraja, services
from payments_app.models import PaymentAttempt, PaymentEvent

from ..conftest import PAID_PHONE, SECRET

pytestmark = pytest.mark.thirdparty

A = PaymentAttempt.Status


@pytest.fixture
def mock(settings):
    """daraja-mock's app on a free port (port 0), behind DARAJA_BASE_URL; stopped after the test."""
    mock = DarajaMock(consumer_key=settings.DARAJA_CONSUMER_KEY, consumer_secret=settings.DARAJA_CONSUMER_SECRET)
    server = make_server("127.0.0.1", 0, mock.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.DARAJA_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    settings.DARAJA_CALLBACK_BASE_URL = "https://book.example.com"
    settings.MPESA_CALLBACK_SECRET = SECRET
    yield mock
    server.shutdown()
    thread.join(5)


def test_token_and_push_work_against_the_mock(mock):
    gateway = daraja.client()
    token = gateway.get_token()
    assert token.startswith("mock_token_")
    accepted = gateway.stk_push(phone="254708374149", amount=10, reference="BK000123")
    assert accepted.response_code == "0" and accepted.checkout_request_id.startswith("ws_CO_")
    push = [entry for entry in mock.request_log() if entry["path"] == daraja.STK_PUSH_PATH][0]
    body = push["body"]
    # What we sent is what Daraja wants (section 2), even though the mock checks none of it.
    assert body["Password"] == daraja.password(body["BusinessShortCode"], gateway.passkey, body["Timestamp"])
    assert body["CallBackURL"] == daraja.callback_url() and not daraja.callback_url_problem(body["CallBackURL"])
    assert body["TransactionType"] == "CustomerPayBillOnline" and body["Amount"] == 10


@pytest.mark.parametrize("code", [0, 1032])
def test_the_mock_s_query_reply_is_about_another_checkout_and_is_not_used(mock, code):
    mock.set_stk_result(code)
    gateway = daraja.client()
    accepted = gateway.stk_push(phone="254708374149", amount=10, reference="BK000123")
    with pytest.raises(daraja.DarajaUnexpectedReply) as exc:
        gateway.stk_query(checkout_request_id=accepted.checkout_request_id)
    assert exc.value.error_class == daraja.TRANSIENT
    assert exc.value.raw["ResultCode"] == str(code)
    assert exc.value.raw["CheckoutRequestID"] != accepted.checkout_request_id


@pytest.mark.django_db
def test_a_payment_against_the_mock_never_raises_and_needs_attention_by_the_deadline(
    mock, approved_session, client_user, api
):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    assert attempt.status == A.PROCESSING

    status = api.get(reverse("payments:api_status", args=[attempt.checkout_request_id]))
    assert status.status_code == 200 and status.json()["status"] == A.PROCESSING
    attempt.refresh_from_db()
    assert attempt.problem_class == PaymentAttempt.Problem.TRANSIENT
    assert "another checkout" in attempt.problem and attempt.problem_payload["ResultCode"] == "0"

    PaymentAttempt.objects.filter(pk=attempt.pk).update(initiated_at=timezone.now() - dt.timedelta(minutes=10))
    assert services.payments_settle_stuck() == 1
    attempt.refresh_from_db()
    assert attempt.status == A.REVIEW and attempt.needs_review
    assert PaymentEvent.objects.filter(attempt=attempt, kind=PaymentEvent.Kind.ANOMALY).count() >= 2
    approved_session.refresh_from_db()
    assert approved_session.payment_status != "paid"  # a reply about someone else's push paid nothing
