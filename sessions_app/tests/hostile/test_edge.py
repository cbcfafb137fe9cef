"""Issue 20, point 1: the defects the production-like run found, one request each, and their kin.

Each door answers a 4xx in its usual shape: pages the 400 page, the API its JSON error shape
({"code", "message", "fields"}), the M-Pesa callback the JSON error it gives any body it refuses
(and Daraja's ``{"ResultCode": 0, ...}`` only for a body it stored).
"""

from __future__ import annotations

import base64
import json

import pytest
from django.apps import apps
from rest_framework.authtoken.models import Token

from ..factories import ClientFactory, SessionFactory

pytestmark = pytest.mark.django_db

SECRET = "cb-HOSTILE-5e2f"

STK_OK = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_HOSTILE0000001",
            "ResultCode": 1032,
            "ResultDesc": "Request cancelled by user",
        }
    }
}


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MPESA_CALLBACK_SECRET = SECRET
    settings.MPESA_CALLBACK_ALLOWED_IPS = []


def callback_url() -> str:
    return f"/api/mpesa/callback/{SECRET}/"


def stored_callbacks() -> int:
    return apps.get_model("payments_app", "MpesaCallback").objects.count()


def assert_api_error(response, *statuses):
    assert response.status_code in (statuses or range(400, 500)), (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    return body


def _with_raw(raw: str) -> bytes:
    """The good callback with ``raw`` (JSON text, not escaped again) in a field nobody reads."""
    return (json.dumps(STK_OK)[:-1] + ', "Extra": ' + raw + "}").encode()


# --- The callback: bodies Python's json accepts and PostgreSQL would not store ------------------------


@pytest.mark.parametrize(
    "body",
    [
        _with_raw("1e309"),  # becomes float('inf'): jsonb refuses it
        _with_raw("-1e309"),
        _with_raw('"\\ud800"'),  # lone surrogate: not encodable as UTF-8
        _with_raw('"ok \\udfff here"'),
        _with_raw('"\\u0000"'),  # NUL: jsonb refuses it
        _with_raw("NaN"),
        _with_raw("Infinity"),
        _with_raw("1" * 5000),  # an integer past Python's int-from-string limit
        _with_raw("1" * 30),  # past 64 bits
        json.dumps(STK_OK).replace('"ResultCode": 1032', '"ResultCode": 1032, "ResultCode": 0').encode(),
        b'{"Body": ' * 5000 + b"{}" + b"}" * 5000,  # deep nesting
        json.dumps(STK_OK).encode()[:-7],  # truncated
        b"\xff\xfe not utf-8",
        b"",
    ],
    ids=[
        "1e309",
        "-1e309",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "nul",
        "NaN",
        "Infinity",
        "huge-int",
        "int-past-64-bits",
        "duplicate-key",
        "deep-nesting",
        "truncated",
        "not-utf8",
        "empty",
    ],
)
def test_the_callback_refuses_what_it_could_not_store_with_a_4xx(client, body):
    response = client.post(callback_url(), body, content_type="application/json")
    assert_api_error(response, 400)
    assert stored_callbacks() == 0


def test_the_callback_still_acknowledges_a_body_it_stored(client):
    response = client.post(callback_url(), json.dumps(STK_OK), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["ResultCode"] == 0
    assert stored_callbacks() == 1


def test_the_callback_refuses_a_body_past_the_limit_with_413(client):
    big = dict(STK_OK, padding="x" * (70 * 1024))
    response = client.post(callback_url(), json.dumps(big), content_type="application/json")
    assert_api_error(response, 413)
    assert stored_callbacks() == 0


def test_the_callback_refuses_a_form_body(client):
    response = client.post(callback_url(), "Body=1", content_type="application/x-www-form-urlencoded")
    assert_api_error(response, 400, 415)
    assert stored_callbacks() == 0


# --- The API: paths, query strings, headers and JSON bodies ----------------------------------------


@pytest.fixture
def client_token(db):
    user = ClientFactory()
    return user, {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/mpesa/status/%00",
        "/api/mpesa/status/ws_CO_%00x/",
        "/api/mpesa/status/%ED%A0%80",  # the UTF-8 bytes of a surrogate: not valid UTF-8
        "/api/mpesa/status/%FF",
        "/api/sessions?status=%00",
        "/api/sessions?page=%00",
        "/api/sessions?page=" + "9" * 5000,
        "/api/therapists?q=%00",
        "/api/therapists/1/slots?from=%00&to=%00",
        "/api/therapists/1/slots?from=1e309",
        "/api/therapists?%00=1",
    ],
)
def test_the_api_answers_hostile_paths_and_queries_with_a_4xx(client, client_token, path):
    _, headers = client_token
    response = client.get(path, **headers)
    assert_api_error(response)


@pytest.mark.parametrize(
    "body",
    [
        b'{"session": 1e309, "phone": "0712345670"}',
        b'{"session": 1, "phone": "\\ud800"}',
        b'{"session": 1, "phone": "07123\\u000045670"}',
        b'{"session": ' + b"1" * 5000 + b', "phone": "0712345670"}',
        b'{"session": 1, "session": 2, "phone": "0712345670"}',
        b'{"session": 1, "phone": "0712345670", "x": ' + b"[" * 30000 + b"]" * 30000 + b"}",
        b'{"session": 1, "phone": "0712345670", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"session": 1, "phone": "07',
        b"\xff\xfe",
    ],
    ids=["1e309", "surrogate", "nul", "huge-int", "duplicate-key", "deep", "deeper-than-32", "truncated", "not-utf8"],
)
def test_the_api_answers_hostile_json_with_a_400(client, client_token, body):
    user, headers = client_token
    session = SessionFactory(approved=True, client=user)
    body = body.replace(b'"session": 1,', f'"session": {session.pk},'.encode())
    response = client.post("/api/mpesa/initiate", body, content_type="application/json", **headers)
    assert_api_error(response, 400)


def test_the_api_takes_an_integer_past_64_bits_as_no_such_session(client, client_token):
    _, headers = client_token
    body = b'{"session": 100000000000000000000000000000, "phone": "0712345670"}'
    response = client.post("/api/mpesa/initiate", body, content_type="application/json", **headers)
    assert_api_error(response, 404)


def test_the_api_names_the_field_holding_a_nul(client, client_token):
    user, headers = client_token
    session = SessionFactory(approved=True, client=user)
    body = json.dumps({"session": session.pk, "phone": "07123\x0045670"})
    response = client.post("/api/mpesa/initiate", body, content_type="application/json", **headers)
    assert assert_api_error(response, 400)["fields"] == {"phone": ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_AUTHORIZATION": "Token abc\x00def"},
        {"HTTP_AUTHORIZATION": "Token \udcff\udcfe"},
        {"HTTP_X_FORWARDED_FOR": "1.2.3.4\x00"},
        {"HTTP_IDEMPOTENCY_KEY": "k\x00"},
        {"HTTP_ACCEPT_LANGUAGE": "\x00"},
    ],
)
def test_the_api_answers_hostile_headers_with_a_4xx(client, header):
    response = client.get("/api/sessions", **header)
    assert_api_error(response)


# --- Pages: paths, query strings and form fields ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/therapists/?q=%00", None),
        ("get", "/therapists/%00/", None),
        ("get", "/password-reset/%00/%00/", None),
        ("get", "/login/?next=/%00", None),
        ("post", "/login/", {"username": "a@example.com\x00", "password": "x\x00"}),
        ("post", "/signup/", {"email": "a\x00@example.com", "full_name": "\x00", "password1": "x", "phone": "07\x00"}),
        ("post", "/password-reset/", {"email": "a\x00@example.com"}),
        ("post", "/login/", '{"username": "a@example.com", "password": "x"}'),  # JSON to a form page
    ],
)
def test_pages_refuse_hostile_input_with_the_400_page(client, method, path, data):
    if isinstance(data, str):
        response = client.post(path, data, content_type="application/json")
    else:
        response = getattr(client, method)(path, data) if data is not None else getattr(client, method)(path)
    assert response.status_code == 400, response.status_code
    assert b"Bad Request" in response.content


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/therapists/?page=" + "9" * 5000, None),
        ("/therapists/99999999999999999999999999/", None),
        ("/login/", b"username=%ED%A0%80%40example.com&password=%FF"),  # not UTF-8: decoded with U+FFFD
        ("/login/", b"username=a%40example.com&password="),
        ("/login/", b"username=a%40example.com&password=x&" * 2000),  # more than 1000 fields
        ("/login/", b"x" * (70 * 1024)),  # past DATA_UPLOAD_MAX_MEMORY_SIZE
    ],
)
def test_pages_never_answer_odd_but_harmless_input_with_a_5xx(client, path, body):
    if body is None:
        response = client.get(path)
    else:
        response = client.post(path, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500, response.status_code


# --- anymail's webhooks: the provider's view is anymail's code, the edge is ours ------------------------


@pytest.fixture
def webhook_auth(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret-pass"}
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"hook:secret-pass").decode()}


@pytest.mark.parametrize(
    "body",
    [b'[{"event": "delivered", "timestamp": 1e309}]', b'[{"email": "\\ud800"}]', b"[", b"\xff", b"[1]", b'{"a": 1}'],
)
def test_a_webhook_body_anymail_cannot_read_is_a_400(client, webhook_auth, body):
    response = client.post("/anymail/sendgrid/tracking/", body, content_type="application/json", **webhook_auth)
    assert_api_error(response, 400)


def test_the_webhook_of_a_provider_not_configured_here_is_a_404(client, webhook_auth):
    body = b'{"signature": {}, "event-data": {"event": "delivered"}}'
    response = client.post("/anymail/mailgun/tracking/", body, content_type="application/json", **webhook_auth)
    assert_api_error(response, 404)


def test_a_good_webhook_body_is_still_taken(client, webhook_auth):
    body = json.dumps([{"event": "delivered", "email": "a@example.com", "timestamp": 1700000000, "sg_event_id": "x"}])
    response = client.post("/anymail/sendgrid/tracking/", body, content_type="application/json", **webhook_auth)
    assert response.status_code == 200


def test_a_bug_in_our_own_tracking_receiver_stays_a_500_so_the_provider_retries(client, webhook_auth, monkeypatch):
    """Only what anymail's view cannot read is the provider's fault (400, not retried); an error raised in our
    receiver or service must not be reported as the provider's bad request, or the delivery event is lost."""
    from notifications_app import services as notification_services

    def broken(**kwargs):
        raise ValueError("a bug of ours")

    monkeypatch.setattr(notification_services, "notification_apply_tracking", broken)
    client.raise_request_exception = False
    body = json.dumps([{"event": "delivered", "email": "a@example.com", "timestamp": 1700000000, "sg_event_id": "x"}])
    response = client.post("/anymail/sendgrid/tracking/", body, content_type="application/json", **webhook_auth)
    assert response.status_code == 500


def test_a_multipart_webhook_from_a_signed_in_browser_keeps_its_body_for_the_provider(client):
    """Found by the URL fuzzer: the hostile-input check parsed the multipart form, and anymail then
    could not read the raw body (500)."""
    from sessions_app.tests.factories import ClientFactory

    client.force_login(ClientFactory())
    response = client.post("/anymail/postmark/inbound/", {"a": "b"})
    assert response.status_code < 500


def test_a_next_that_is_not_a_path_falls_back_instead_of_a_500(client):
    """Found by the URL fuzzer: ``next=<text>:<text>`` was taken for a URL name and reversed (500)."""
    response = client.post("/login/code/?next=%C4%96%C4%97:x", {"code": "1"})
    assert response.status_code < 500
