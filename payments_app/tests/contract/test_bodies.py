"""Contract tests from third-party material (issue 22): recorded Daraja bodies, each naming its public source.

Every file in bodies/ holds one body (``body``, or ``body_text`` for one that is
not JSON), its ``source`` (a URL or package + path), its ``kind`` and what must
happen (``expect``):

- callback: posted to the real CallBackURL path; processing then asks "STK Query",
  which here answers what the callback says, through the client's own reply parser;
  the attempt must end as expected (or the post must be refused with 400);
- query: an STK Query reply fed to the client's parser (``daraja.parse_query_reply``);
- error: an error reply fed to the same parser (``daraja.reply_data``), OAuth ones as OAuth.
"""

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from payments_app import daraja
from payments_app.models import MpesaCallback, PaymentAttempt
from payments_app.tests.factories import PaymentAttemptFactory
from sessions_app.models import Session
from sessions_app.tests.factories import SessionFactory, SessionTypeFactory, UserFactory

BODIES = Path(__file__).parent / "bodies"
SPECS = {path.stem: json.loads(path.read_text()) for path in sorted(BODIES.glob("*.json"))}
SECRET = "contract-callback-secret-7d2e"


def _of(kind):
    return [pytest.param(spec, id=name) for name, spec in SPECS.items() if spec["kind"] == kind]


def _raw(spec) -> bytes:
    return spec["body_text"].encode() if "body_text" in spec else json.dumps(spec["body"]).encode()


def test_there_are_at_least_30_bodies_and_each_names_its_source():
    assert len(SPECS) >= 30
    for name, spec in SPECS.items():
        assert spec["kind"] in ("callback", "query", "error"), name
        assert len(spec.get("source", "")) > 10, f"{name} names no source"
        assert ("body" in spec) != ("body_text" in spec), name
        assert spec.get("expect"), name


class _QueryAnswersTheCallback:
    """STK Query that answers what the callback said, through the client's real reply parser."""

    def __init__(self, callback: dict):
        self.reply = {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successfully",
            "MerchantRequestID": callback["MerchantRequestID"],
            "CheckoutRequestID": callback["CheckoutRequestID"],
            "ResultCode": str(callback["ResultCode"]),
            "ResultDesc": callback["ResultDesc"],
        }

    def stk_query(self, *, checkout_request_id: str) -> daraja.StkResult:
        return daraja.parse_query_reply(200, json.dumps(self.reply), checkout_request_id=checkout_request_id)


@pytest.mark.django_db
@pytest.mark.parametrize("spec", _of("callback"))
def test_callback_bodies_posted_to_the_real_callback_url(
    spec, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MPESA_CALLBACK_SECRET = SECRET
    settings.DARAJA_CALLBACK_BASE_URL = "https://book.example.com"
    expect = spec["expect"]
    stk = spec["body"].get("Body", {}).get("stkCallback") if isinstance(spec["body"], dict) else None
    attempt = None
    if stk is not None:
        amount = expect.get("paid_amount", 1)
        session = SessionFactory(approved=True, session_type=SessionTypeFactory(price_kes=amount))
        attempt = PaymentAttemptFactory(
            session=session,
            processing=True,
            checkout_request_id=stk["CheckoutRequestID"],
            merchant_request_id=stk["MerchantRequestID"],
        )
        # Where a push through payment_initiate leaves the session: waiting on this checkout id.
        Session.objects.filter(pk=session.pk).update(
            payment_status=Session.PaymentStatus.PROCESSING,
            mpesa_checkout_request_id=stk["CheckoutRequestID"],
            mpesa_merchant_request_id=stk["MerchantRequestID"],
        )
        monkeypatch.setattr(daraja, "client", lambda: _QueryAnswersTheCallback(stk))
    UserFactory(staff=True, email="desk@example.com")

    path = urlsplit(daraja.callback_url()).path
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(path, data=_raw(spec), content_type="application/json")
    assert response.status_code == expect["http"], response.content
    if expect["http"] != 200:
        assert not MpesaCallback.objects.exists()
        if attempt is not None:
            attempt.refresh_from_db()
            assert attempt.status == PaymentAttempt.Status.PROCESSING
        return
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}

    stored = MpesaCallback.objects.get()
    assert stored.result_code == expect["result_code"] and stored.processed_at is not None
    attempt.refresh_from_db()
    assert attempt.status == expect["status"], (attempt.status, attempt.problem, attempt.review_reason)
    assert attempt.result_code == expect["result_code"]
    attempt.session.refresh_from_db()
    if expect["status"] == "succeeded":
        assert attempt.mpesa_receipt_number == expect["receipt"]
        assert attempt.paid_amount == expect["paid_amount"]
        assert attempt.payer_phone == expect["payer"]
        assert attempt.transaction_date is not None
        assert attempt.session.payment_status == Session.PaymentStatus.PAID
        assert attempt.session.mpesa_receipt_number == expect["receipt"] and not attempt.needs_review
    else:
        assert expect["message"] in attempt.message
        assert attempt.session.payment_status == Session.PaymentStatus.FAILED
        assert daraja.result_class(expect["result_code"]) == expect["class"]
        if expect["class"] == daraja.CONFIGURATION:
            assert attempt.problem_class == daraja.CONFIGURATION and attempt.needs_review
            assert attempt.problem_payload["ResultCode"] == expect["result_code"]
        from notifications_app.models import Notification

        alerts = Notification.objects.filter(kind=Notification.Kind.STAFF_PAYMENT_ALERT).count()
        assert alerts == (1 if expect["class"] == daraja.CONFIGURATION else 0)


@pytest.mark.parametrize("spec", _of("query"))
def test_query_replies_fed_to_the_client_s_parser(spec):
    expect = spec["expect"]
    asked = spec.get("asked") or spec["body"]["CheckoutRequestID"]
    if "raises" in expect:
        with pytest.raises(daraja.DarajaError) as exc:
            daraja.parse_query_reply(spec["http_status"], _raw(spec), checkout_request_id=asked)
        assert type(exc.value).__name__ == expect["raises"]
        assert exc.value.error_class == expect["class"]
        assert exc.value.raw == spec["body"]  # kept whole for staff
        return
    result = daraja.parse_query_reply(spec["http_status"], _raw(spec), checkout_request_id=asked)
    assert result.checkout_request_id == asked
    assert result.result_code == expect["result_code"] and isinstance(result.result_code, str)
    assert result.succeeded == expect["succeeded"]
    assert result.error_class == expect["class"]
    assert result.message  # plain words for every code


@pytest.mark.parametrize("spec", _of("error"))
def test_error_bodies_fed_to_the_client_s_parser(spec):
    expect = spec["expect"]
    with pytest.raises(daraja.DarajaError) as exc:
        daraja.reply_data(spec["http_status"], _raw(spec), oauth=spec.get("oauth", False))
    assert type(exc.value).__name__ == expect["raises"]
    assert exc.value.error_class == expect["class"]
    assert exc.value.transient == (expect["class"] == daraja.TRANSIENT)
    if "user_message" in expect:
        assert expect["user_message"] in exc.value.user_message
    if "body" in spec:
        assert exc.value.raw == spec["body"]
    else:
        assert exc.value.raw == {"text": spec["body_text"]}
