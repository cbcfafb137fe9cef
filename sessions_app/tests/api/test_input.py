"""Bad bodies on every write endpoint: always a 4xx with a clear JSON message, never a 500, nothing changed."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import Session, SessionEvent

from ..factories import ClientFactory, SessionFactory, future_slot

pytestmark = pytest.mark.django_db

OVERSIZED = json.dumps({"reason": "x" * (64 * 1024), "notes": "y"}).encode()

BAD_BODIES = [
    pytest.param(b'{"reason": "unterminated', "application/json", 400, "parse_error", id="malformed"),
    pytest.param(b"", "application/json", 400, "invalid", id="empty"),
    pytest.param(b"[1, 2, 3]", "application/json", 400, "invalid", id="array"),
    pytest.param(b'"just a string"', "application/json", 400, "invalid", id="string"),
    pytest.param(b"42", "application/json", 400, "invalid", id="number"),
    pytest.param(b"null", "application/json", 400, "invalid", id="null"),
    pytest.param(b'{"reason": NaN}', "application/json", 400, "parse_error", id="nan"),
    pytest.param(b"\xff\xfe{not utf-8}", "application/json", 400, "parse_error", id="not-utf8"),
    pytest.param(b"[" * 50000 + b"]" * 50000, "application/json", 413, "request_too_large", id="deep-and-big"),
    pytest.param(b"[" * 30000 + b"]" * 30000, "application/json", 400, "parse_error", id="deeply-nested"),
    pytest.param(OVERSIZED, "application/json", 413, "request_too_large", id="over-64kb"),
    pytest.param(b"reason=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type", id="form"),
    pytest.param(b"hello", "text/plain", 415, "unsupported_media_type", id="text"),
]


@pytest.fixture
def world():
    """One pending session, its client and its therapist, each with a token."""
    session = SessionFactory()
    return {
        "session": session,
        "client": _token_client(session.client),
        "therapist": _token_client(session.therapist.user),
        "anyone": APIClient(),
    }


def _token_client(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api


def _endpoints(world):
    pk = world["session"].pk
    return [
        ("anyone", "post", "/api/auth/token"),
        ("client", "post", "/api/sessions/request"),
        ("client", "post", "/api/sessions"),
        ("therapist", "put", f"/api/sessions/{pk}/decline"),
        ("client", "post", f"/api/sessions/{pk}/cancel"),
    ]


def _snapshot():
    return (
        list(Session.objects.order_by("pk").values_list("pk", "status", "payment_status", "amount_kes")),
        SessionEvent.objects.count(),
    )


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), BAD_BODIES)
def test_bad_bodies_on_every_write_endpoint(world, raw, content_type, status, code):
    before = _snapshot()
    for who, method, url in _endpoints(world):
        response = getattr(world[who], method)(url, data=raw, content_type=content_type)
        assert response.status_code == status, (url, response.content[:300])
        body = response.json()
        assert body["code"] == code, (url, body)
        assert body["message"] and isinstance(body["fields"], dict)
    assert _snapshot() == before


def test_oversized_body_says_what_the_limit_is(world):
    response = world["client"].post("/api/sessions/request", data=OVERSIZED, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["message"] == "The request body is too large (the limit is 64 KB)."


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"reason": "unterminated', 400),
        (b"[1]", 400),
        (OVERSIZED, 413),
        (b"hello", 415),
    ],
)
def test_approve_reads_its_body_too(world, raw, status):
    """Approve takes no fields, but a broken body is still refused before anything changes."""
    session = world["session"]
    content_type = "text/plain" if status == 415 else "application/json"
    response = world["therapist"].put(f"/api/sessions/{session.pk}/approve", data=raw, content_type=content_type)
    assert response.status_code == status
    session.refresh_from_db()
    assert session.status == Session.Status.PENDING_APPROVAL


def test_approve_with_no_body_at_all(world):
    session = world["session"]
    assert world["therapist"].put(f"/api/sessions/{session.pk}/approve").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"therapist": "1"}, "therapist", "Incorrect type. Expected pk value, received str."),
        ({"therapist": True}, "therapist", "Incorrect type. Expected pk value, received bool."),
        ({"therapist": 1.5}, "therapist", "Incorrect type. Expected pk value, received float."),
        ({"therapist": 10**30}, "therapist", "does not exist"),
        ({"therapist": -1}, "therapist", "does not exist"),
        ({"session_type": {"id": 1}}, "session_type", "Incorrect type. Expected pk value, received dict."),
        ({"start": 1767225600}, "start", "Enter an ISO 8601 date-time"),
        ({"start": None}, "start", "This field may not be null."),
        ({"start": "9999-12-31T23:59:59+00:00"}, "start", "Enter a date between 2000 and 2999."),
        ({"notes": 7}, "notes", "Must be a string."),
        ({"notes": "nul\x00byte"}, "notes", "Null characters are not allowed."),
        ({"notes": "half \ud800 surrogate"}, "notes", "Surrogate characters are not allowed"),
    ],
)
def test_wrongly_typed_booking_fields_are_named(world, change, field, message):
    session_type = world["session"].session_type
    body = {
        "therapist": session_type.therapist_id,
        "session_type": session_type.pk,
        "start": future_slot(days=6).isoformat(),
        "notes": "",
        **change,
    }
    before = _snapshot()
    # json.dumps escapes a lone surrogate (as a real client would send it).
    response = world["client"].post("/api/sessions/request", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["fields"][field][0], response.json()
    assert response.json()["message"].startswith(f"{field}: ")
    assert _snapshot() == before


@pytest.mark.parametrize("missing", ["therapist", "session_type", "start"])
def test_missing_booking_fields_are_named(world, missing):
    session_type = world["session"].session_type
    body = {"therapist": session_type.therapist_id, "session_type": session_type.pk, "start": future_slot().isoformat()}
    del body[missing]
    response = world["client"].post("/api/sessions/request", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {missing: ["This field is required."]}


def test_notes_are_optional(world):
    session_type = world["session"].session_type
    body = {
        "therapist": session_type.therapist_id,
        "session_type": session_type.pk,
        "start": future_slot(days=6).isoformat(),
    }
    assert world["client"].post("/api/sessions/request", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        "/api/sessions?status=%00",
        "/api/sessions?from=2030-01-01%00",
        "/api/therapists?specialty=%00",
        "/api/therapists?min_price=99999999999999999999999",
        "/api/therapists?page=99999999999999999999999",
        "/api/therapists/1/slots?session_type=99999999999999999999999",
    ],
)
def test_odd_query_strings_are_4xx(world, url):
    response = world["client"].get(url)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert set(response.json()) == {"code", "message", "fields"}


def test_another_clients_token_cannot_touch_the_session(world):
    stranger = _token_client(ClientFactory())
    pk = world["session"].pk
    assert stranger.post(f"/api/sessions/{pk}/cancel", {"reason": "x"}, format="json").status_code == 404
    assert stranger.put(f"/api/sessions/{pk}/decline", {"reason": "x"}, format="json").status_code == 404
    assert stranger.put(f"/api/sessions/{pk}/approve", format="json").status_code == 404


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/therapists?page=0", "page"),
        ("/api/therapists?page=last", "page"),
        ("/api/sessions?page=", "page"),
        ("/api/sessions?to=", "to"),
        ("/api/therapists?min_price=", "min_price"),
        ("/api/therapists/1/slots?session_type=", "session_type"),
    ],
)
def test_empty_or_odd_values_are_bad_values_not_missing_ones(world, url, field):
    response = world["client"].get(url)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_unknown_api_paths_are_json_404s_and_pages_stay_html(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "There is no such API endpoint.", "fields": {}}
    assert client.get("/api/sessions/not-a-number/cancel").json()["code"] == "not_found"
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_an_unexpected_crash_is_still_the_json_error_shape(monkeypatch):
    """Nothing should 500, but if something does, an API client still gets JSON (and no traceback)."""
    from sessions_app import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "therapists_directory", broken)
    response = APIClient(raise_request_exception=False).get("/api/therapists")
    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "Something went wrong on our side. Please try again.",
        "fields": {},
    }


def test_someone_elses_session_is_404_even_with_a_broken_body(world):
    stranger = _token_client(ClientFactory())
    pk = world["session"].pk
    response = stranger.post(f"/api/sessions/{pk}/cancel", data=b"{broken", content_type="application/json")
    assert response.status_code == 404
