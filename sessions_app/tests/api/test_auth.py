"""POST /api/auth/token, token and session authentication, CSRF, and the API docs pages."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.middleware.csrf import _get_new_csrf_string
from rest_framework.test import APIClient

from sessions_app.models import Session

from ..factories import PASSWORD, ClientFactory, SessionTypeFactory, future_slot

pytestmark = pytest.mark.django_db

URL = "/api/auth/token"


def _post(client, body, **extra):
    return client.post(URL, body, format="json", **extra)


def test_token_for_good_credentials_authenticates_later_calls():
    user = ClientFactory(email="amina@example.com")
    client = APIClient()
    response = _post(client, {"email": "Amina@Example.com", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    assert re.fullmatch(r"[0-9a-f]{40}", token)
    # The same token comes back on a second login.
    assert _post(client, {"email": user.email, "password": PASSWORD}).json()["token"] == token

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listing = client.get("/api/sessions")
    assert listing.status_code == 200
    assert listing.json()["count"] == 0


def test_wrong_password_is_a_clear_400():
    ClientFactory(email="amina@example.com")
    response = _post(APIClient(), {"email": "amina@example.com", "password": "not-the-password"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_credentials"
    assert "do not match" in body["message"]
    assert body["fields"] == {"non_field_errors": [body["message"]]}


def test_inactive_account_gets_no_token():
    ClientFactory(email="gone@example.com", is_active=False)
    response = _post(APIClient(), {"email": "gone@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "a@example.com"}, {"password"}),
        ({"password": "x"}, {"email"}),
        ({"email": "not-an-email", "password": "x"}, {"email"}),
        ({"email": 42, "password": "x"}, {"email"}),
        ({"email": "a@example.com", "password": 12345}, {"password"}),
        ({"email": ["a@example.com"], "password": {"p": 1}}, {"email", "password"}),
    ],
)
def test_missing_and_wrongly_typed_fields_are_named(body, fields):
    response = _post(APIClient(), body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == fields


def test_account_locks_after_five_failures_even_for_the_right_password():
    ClientFactory(email="amina@example.com")
    client = APIClient()
    for _ in range(5):
        assert _post(client, {"email": "amina@example.com", "password": "wrong-wrong"}).status_code == 400
    response = _post(client, {"email": "amina@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert "Too many attempts" in response.json()["message"]
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_one_address_is_limited_across_accounts():
    client = APIClient()
    for n in range(20):
        _post(client, {"email": f"probe{n}@example.com", "password": "guess-guess"})
    ClientFactory(email="real@example.com")
    response = _post(client, {"email": "real@example.com", "password": PASSWORD})
    assert response.status_code == 429
    # Another address is not affected.
    other = _post(APIClient(REMOTE_ADDR="10.0.0.9"), {"email": "real@example.com", "password": PASSWORD})
    assert other.status_code == 200


def test_good_login_clears_the_account_counter():
    ClientFactory(email="amina@example.com")
    client = APIClient()
    for _ in range(4):
        _post(client, {"email": "amina@example.com", "password": "wrong-wrong"})
    assert _post(client, {"email": "amina@example.com", "password": PASSWORD}).status_code == 200
    for _ in range(4):
        _post(client, {"email": "amina@example.com", "password": "wrong-wrong"})
    assert _post(client, {"email": "amina@example.com", "password": PASSWORD}).status_code == 200


def test_anonymous_calls_get_401_with_the_scheme():
    response = APIClient().get("/api/sessions")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "fields": {},
    }


def test_a_bad_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/sessions")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def _booking_body():
    session_type = SessionTypeFactory()
    return {
        "therapist": session_type.therapist_id,
        "session_type": session_type.pk,
        "start": future_slot().isoformat(),
        "notes": "",
    }


def test_session_authenticated_writes_need_the_csrf_token():
    user = ClientFactory()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    body = _booking_body()

    refused = client.post("/api/sessions/request", body, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    assert not Session.objects.exists()

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post("/api/sessions/request", body, format="json", HTTP_X_CSRFTOKEN=secret)
    assert accepted.status_code == 201
    # Reads need no token.
    assert client.get("/api/sessions").status_code == 200


def test_token_authenticated_writes_need_no_csrf_token():
    user = ClientFactory()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)  # a browser session too: the token still wins, no CSRF needed
    token = _post(APIClient(), {"email": user.email, "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/sessions/request", _booking_body(), format="json").status_code == 201


def test_schema_lists_every_endpoint_with_error_responses(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/auth/token",
        "/api/therapists",
        "/api/therapists/{id}",
        "/api/therapists/{id}/slots",
        "/api/sessions",
        "/api/sessions/request",
        "/api/sessions/{id}",
        "/api/sessions/{id}/approve",
        "/api/sessions/{id}/decline",
        "/api/sessions/{id}/cancel",
    ):
        assert path in paths, path
    write = paths["/api/sessions/request"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "429"} <= set(write["responses"])
    assert write["responses"]["409"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"code", "message", "fields"}
    assert paths["/api/sessions"]["post"]["deprecated"] is True


def test_docs_page_loads_its_assets_locally_without_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert source.startswith("/"), source  # served by us: no CDN, no other host
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source  # shipped, so collectstatic serves it
    assert "cdn" not in html.lower()
    assert "<script>" not in html  # every script has a src (the CSP forbids inline script)
    assert "script-src 'self'" in response["Content-Security-Policy"]

    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
