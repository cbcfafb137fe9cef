"""POST /api/mpesa/initiate and GET /api/mpesa/status/<checkout_request_id>."""

import pytest
from rest_framework.test import APIClient

from payments_app.models import PaymentAttempt
from sessions_app.models import Session
from sessions_app.tests.factories import ClientFactory, SessionFactory, TherapistProfileFactory

from .conftest import CANCEL_PHONE, PAID_PHONE

pytestmark = pytest.mark.django_db

INITIATE = "/api/mpesa/initiate"


def status_url(checkout_id):
    return f"/api/mpesa/status/{checkout_id}"


def test_initiate_returns_201_with_the_attempt_then_200_while_waiting(api, simulator, approved_session):
    response = api.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "processing" and body["final"] is False
    assert body["checkout_request_id"].startswith("ws_CO_")
    assert body["amount"] == 3500 and body["reference"] == approved_session.reference
    assert body["phone"] == "2547******70"
    assert (body["session_status"], body["payment_status"]) == ("approved", "processing")
    assert body["payment_status_label"] == "Processing"
    again = api.post(f"{INITIATE}/", {"session": approved_session.pk, "phone": PAID_PHONE}, format="json")
    assert again.status_code == 200 and again.json()["checkout_request_id"] == body["checkout_request_id"]
    assert len(simulator.transactions) == 1


def test_someone_elses_session_is_404(simulator, approved_session):
    other = APIClient()
    other.force_authenticate(ClientFactory())
    response = other.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json")
    assert response.status_code == 404 and set(response.json()) == {"code", "message", "fields"}
    therapist = APIClient()
    therapist.force_authenticate(approved_session.therapist.user)
    assert (
        therapist.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json").status_code
        == 404
    )
    assert not PaymentAttempt.objects.exists()


def test_anonymous_is_refused(simulator, approved_session):
    response = APIClient().post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json")
    assert response.status_code in (401, 403)
    assert not PaymentAttempt.objects.exists()


def test_paying_before_approval_is_409(api, simulator, client_user):
    pending = SessionFactory(client=client_user)
    response = api.post(INITIATE, {"session": pending.pk, "phone": PAID_PHONE}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "approved" in response.json()["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"session": "abc", "phone": PAID_PHONE}, "session"),
        ({"phone": PAID_PHONE}, "session"),
        ({"session": 1}, "phone"),
        ({"session": 1, "phone": ["0712"]}, "phone"),
        ({"session": 1, "phone": "0" * 40}, "phone"),
    ],
)
def test_malformed_input_is_400_naming_the_field(api, simulator, payload, field):
    response = api.post(INITIATE, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_bad_phone_is_400_on_the_phone_field(api, simulator, approved_session):
    response = api.post(INITIATE, {"session": approved_session.pk, "phone": "12345"}, format="json")
    assert response.status_code == 400
    assert "Kenyan mobile number" in response.json()["fields"]["phone"][0]


def test_client_cannot_set_amount_or_status(api, simulator, approved_session):
    response = api.post(
        INITIATE,
        {"session": approved_session.pk, "phone": PAID_PHONE, "amount": 1, "status": "succeeded"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["amount"] == 3500 and response.json()["status"] == "processing"
    assert simulator.transactions[response.json()["checkout_request_id"]].amount == 3500


def test_too_many_pushes_is_429(api, simulator, approved_session, settings):
    settings.MPESA_STK_PUSHES_PER_SESSION = 1
    first = api.post(INITIATE, {"session": approved_session.pk, "phone": CANCEL_PHONE}, format="json").json()
    simulator.transactions[first["checkout_request_id"]].created -= 10**6
    assert api.get(status_url(first["checkout_request_id"])).json()["status"] == "failed"
    response = api.post(INITIATE, {"session": approved_session.pk, "phone": CANCEL_PHONE}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"


def test_daraja_refusal_comes_back_as_a_failed_attempt(api, simulator, approved_session, settings):
    settings.DARAJA_PASSKEY = "wrong"
    response = api.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed" and body["final"] is True and body["checkout_request_id"] is None
    assert body["message"].startswith("M-Pesa refused")
    assert body["payment_status"] == "pending"


def test_status_asks_daraja_while_processing_and_reports_paid(api, simulator, approved_session):
    checkout = api.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json").json()[
        "checkout_request_id"
    ]
    simulator.config.pending_seconds = 3600
    waiting = api.get(status_url(checkout))
    assert waiting.status_code == 200 and waiting.json()["status"] == "processing"
    simulator.config.pending_seconds = 0
    from django.core.cache import cache

    cache.clear()  # past the per-attempt query interval
    body = api.get(f"{status_url(checkout)}/").json()
    assert body["status"] == "succeeded" and body["final"] is True
    assert (body["session_status"], body["payment_status"]) == ("confirmed", "paid")
    assert body["message"] == "Paid."


def test_status_is_rate_limited_towards_daraja(api, simulator, approved_session):
    checkout = api.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json").json()[
        "checkout_request_id"
    ]
    simulator.config.pending_seconds = 3600
    for _ in range(6):
        assert api.get(status_url(checkout)).status_code == 200
    assert simulator.requests_seen.count(("POST", "/mpesa/stkpushquery/v1/query")) == 1


def test_status_of_someone_elses_payment_is_404(api, simulator, approved_session):
    checkout = api.post(INITIATE, {"session": approved_session.pk, "phone": PAID_PHONE}, format="json").json()[
        "checkout_request_id"
    ]
    other = APIClient()
    other.force_authenticate(ClientFactory())
    assert other.get(status_url(checkout)).status_code == 404
    therapist = APIClient()
    therapist.force_authenticate(approved_session.therapist.user)
    assert therapist.get(status_url(checkout)).status_code == 404
    assert api.get(status_url("ws_CO_nope")).status_code == 404
    assert APIClient().get(status_url(checkout)).status_code in (401, 403)


def test_schema_documents_the_payment_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/mpesa/initiate", "/api/mpesa/status/{checkout_request_id}", "/api/mpesa/callback/{secret}/"):
        assert path in text
    assert "/api/pay/cb/" not in text
    assert "Attempt" in text and "Error" in text


def test_session_is_unchanged_by_a_failed_initiate(api, simulator):
    therapist = TherapistProfileFactory()
    session = SessionFactory(session_type__therapist=therapist, client=api.handler._force_user, approved=True)
    api.post(INITIATE, {"session": session.pk, "phone": "nope"}, format="json")
    session.refresh_from_db()
    assert session.payment_status == Session.PaymentStatus.PENDING
