"""Issue 8, item 4: who may reach what, for every URL of the project.

Every URL pattern (found by walking the resolver) is either classified below,
with the checks its class calls for, or skipped with the reason why; a new URL
that is neither fails ``test_every_url_is_classified``. The checks:

- anonymous people are sent to log in (pages: 302 to the login page; API: 401);
- a client cannot read or change another client's session (404);
- a therapist cannot act on another therapist's session or rows (404), and a
  client is turned away from the therapist's pages (403);
- only staff reach the admin (everyone else is sent to the admin's login);
- and in each refused case nothing changed in the database.

A therapist's private notes, visible to that therapist alone, are proved in
views/dashboard/test_session.py (test_another_therapist_cannot_read_or_touch_notes,
test_notes_are_for_the_sessions_therapist_alone, test_the_client_never_sees_the_notes,
test_staff_admin_does_not_show_note_bodies); the note URLs are in this matrix too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token

from sessions_app.models import (
    IntakeQuestion,
    Session,
    SessionEvent,
    SessionType,
    TherapistNote,
    TimeOff,
    WeeklyAvailability,
)

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, TimeOffFactory

pytestmark = pytest.mark.django_db

# --- What is not checked here, and why --------------------------------------------------------

SKIPPED_PREFIXES = {
    "admin/": "the Django admin: test_only_staff_reach_the_admin below checks every registered model",
    "anymail/": "email providers' webhooks: anymail checks its own shared secret (ANYMAIL WEBHOOK_SECRET), no user",
}
SKIPPED = {
    "api/schema/": "the public OpenAPI schema",
    "api/docs/": "the public API documentation page",
    "api/mpesa/callback/<str:secret>/": "Daraja's callback: the secret in the path is its key (404 otherwise)",
    "api/mpesa/callback/<str:secret>": "Daraja's callback (no trailing slash): the path secret is its key",
    "api/pay/cb/<str:secret>/": "Daraja's callback (neutral path): the path secret is its key",
    "healthz": "the health probe for monitors: reveals reachability only",
    "healthz/live": "the liveness probe: says only that the process answers",
    "healthz/ready": "the readiness probe for monitors: reveals reachability only",
    "metrics": "Prometheus counters: METRICS_TOKEN or a staff session (booking_project/tests/test_metrics.py)",
    "": "public: the home page",
    "signup/": "public: sign up",
    "login/": "public: log in",
    "logout/": "public: log out",
    "password-reset/": "public: ask for a reset link",
    "password-reset/sent/": "public: reset link sent",
    "password-reset/<uidb64>/<token>/": "public: the signed token is the key",
    "password-reset/done/": "public: reset done",
    "privacy/": "public: privacy notice",
    "terms/": "public: terms of use",
    "account-deleted/": "public: the page after an account is deleted (says only that)",
    "login/code/": "the second step of signing in: only for the session that gave the password (else to login/)",
    "account/verify/<str:token>/": "public: the signed, expiring token is the key (email verification)",
    "therapists/": "public: the directory",
    "therapists/<int:pk>/": "public: a therapist's page",
    "api/auth/token": "public: exchanges a password for a token",
    "api/therapists": "public: the directory",
    "api/therapists/<int:id>": "public: a therapist",
    "api/therapists/<int:id>/slots": "public: free times",
}

# --- What is checked --------------------------------------------------------------------------

PAGE, API = "page", "api"
# Who owns the object in the URL: None (no object: the user's own data), the client's session, a therapist's row.
NONE, CLIENT_SESSION, THERAPIST_SESSION, THERAPIST_ROW = "none", "client-session", "therapist-session", "therapist-row"


@dataclass(frozen=True)
class Route:
    kind: str  # PAGE or API
    methods: tuple[str, ...]
    owner: str = NONE
    pk: str = ""  # which fixture object fills <pk>/<id>: session, hours, time_off, session_type
    therapist_only: bool = False  # a page a client is turned away from (403)


CLASSIFIED: dict[str, Route] = {
    # Client pages
    "profile/": Route(PAGE, ("get", "post")),
    "profile/password/": Route(PAGE, ("get", "post")),
    "profile/data/": Route(PAGE, ("get",)),
    "profile/data/download/": Route(PAGE, ("get",)),
    "profile/data/correct/": Route(PAGE, ("get", "post")),
    "profile/delete/": Route(PAGE, ("get", "post")),
    "account/two-factor/": Route(PAGE, ("get", "post")),
    "account/two-factor/setup/": Route(PAGE, ("get", "post")),
    "account/verify/resend/": Route(PAGE, ("post",)),
    "book/": Route(PAGE, ("get", "post")),
    "book/time/": Route(PAGE, ("get", "post")),
    "book/details/": Route(PAGE, ("get", "post")),
    "book/review/": Route(PAGE, ("get", "post")),
    "book/questions/": Route(PAGE, ("get", "post")),
    "consent/": Route(PAGE, ("get", "post")),
    "my/sessions/": Route(PAGE, ("get",)),
    "book/sent/<int:pk>/": Route(PAGE, ("get",), CLIENT_SESSION, "session"),
    "my/sessions/<int:pk>/": Route(PAGE, ("get",), CLIENT_SESSION, "session"),
    "my/sessions/<int:pk>/cancel/": Route(PAGE, ("get", "post"), CLIENT_SESSION, "session"),
    "pay/<int:pk>/": Route(PAGE, ("get", "post"), CLIENT_SESSION, "session"),
    # Therapist pages
    "dashboard/": Route(PAGE, ("get",), therapist_only=True),
    "dashboard/sessions/": Route(PAGE, ("get",), therapist_only=True),
    "dashboard/week/": Route(PAGE, ("get",), therapist_only=True),
    "dashboard/availability/": Route(PAGE, ("get",), therapist_only=True),
    "dashboard/availability/hours/": Route(PAGE, ("post",), therapist_only=True),
    "dashboard/availability/time-off/": Route(PAGE, ("post",), therapist_only=True),
    "dashboard/settings/": Route(PAGE, ("get", "post"), therapist_only=True),
    "dashboard/session-types/": Route(PAGE, ("get", "post"), therapist_only=True),
    "dashboard/sessions/<int:pk>/": Route(PAGE, ("get",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/approve/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/decline/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/cancel/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/start/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/complete/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/no-show/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/link/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/notes/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/notes/<int:note_pk>/": Route(PAGE, ("post",), THERAPIST_SESSION, "session", True),
    "dashboard/sessions/<int:pk>/notes/<int:note_pk>/delete/": Route(
        PAGE, ("post",), THERAPIST_SESSION, "session", True
    ),
    "dashboard/availability/hours/<int:pk>/remove/": Route(PAGE, ("post",), THERAPIST_ROW, "hours", True),
    "dashboard/availability/time-off/<int:pk>/remove/": Route(PAGE, ("post",), THERAPIST_ROW, "time_off", True),
    "dashboard/session-types/<int:pk>/": Route(PAGE, ("get", "post"), THERAPIST_ROW, "session_type", True),
    "dashboard/session-types/<int:pk>/active/": Route(PAGE, ("post",), THERAPIST_ROW, "session_type", True),
    "dashboard/session-types/<int:pk>/intake/": Route(PAGE, ("get", "post"), THERAPIST_ROW, "session_type", True),
    "dashboard/session-types/<int:pk>/intake/<int:question_pk>/": Route(
        PAGE, ("get", "post"), THERAPIST_ROW, "session_type", True
    ),
    "dashboard/session-types/<int:pk>/intake/<int:question_pk>/delete/": Route(
        PAGE, ("post",), THERAPIST_ROW, "session_type", True
    ),
    "dashboard/session-types/<int:pk>/intake/<int:question_pk>/move/": Route(
        PAGE, ("post",), THERAPIST_ROW, "session_type", True
    ),
    # API
    "api/sessions": Route(API, ("get", "post")),
    "api/sessions/request": Route(API, ("post",)),
    "api/sessions/<int:id>": Route(API, ("get",), CLIENT_SESSION, "session"),
    "api/sessions/<int:id>/cancel": Route(API, ("post",), CLIENT_SESSION, "session"),
    "api/sessions/<int:id>/approve": Route(API, ("put",), THERAPIST_SESSION, "session"),
    "api/sessions/<int:id>/decline": Route(API, ("put",), THERAPIST_SESSION, "session"),
    # The session is named in the body (initiate) or by its payment's checkout id (status).
    "api/mpesa/initiate": Route(API, ("post",), CLIENT_SESSION, "session"),
    "api/mpesa/initiate/": Route(API, ("post",), CLIENT_SESSION, "session"),
    "api/mpesa/status/<str:checkout_request_id>": Route(API, ("get",), CLIENT_SESSION, "session"),
    "api/mpesa/status/<str:checkout_request_id>/": Route(API, ("get",), CLIENT_SESSION, "session"),
}

PAGE_BODY = {
    "reason": "Changed my mind",
    "body": "Overwritten note",
    "meeting_link": "https://meet.example.com/abc-defg-hij",
    "phone": "0712345670",
    "name": "Renamed",
    "duration_minutes": "30",
    "price_kes": "1",
    "mode": "online",
    "weekday": "0",
    "start_time": "06:00",
    "end_time": "07:00",
}


def walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


ALL_ROUTES = sorted(set(walk(get_resolver().url_patterns)))


def is_skipped(route: str) -> bool:
    return route in SKIPPED or any(route.startswith(prefix) for prefix in SKIPPED_PREFIXES)


def routes(**wanted) -> list[str]:
    return [r for r, spec in CLASSIFIED.items() if all(getattr(spec, k) in v for k, v in wanted.items())]


def test_every_url_is_classified():
    unclassified = [r for r in ALL_ROUTES if r not in CLASSIFIED and not is_skipped(r)]
    assert unclassified == [], (
        "New URLs: add each to CLASSIFIED (with its checks) or SKIPPED (with the reason) in test_authz_matrix.py"
    )
    stale = sorted(set(CLASSIFIED) - set(ALL_ROUTES)) + sorted(set(SKIPPED) - set(ALL_ROUTES))
    assert stale == [], "These classified URLs no longer exist"
    assert not set(CLASSIFIED) & set(SKIPPED)


# --- The world: two clients, two therapists, one session and everything hanging off it ---------


@pytest.fixture
def world():
    therapist_a, therapist_b = TherapistProfileFactory(), TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist_a)
    SessionTypeFactory(therapist=therapist_b)
    client_a, client_b = ClientFactory(), ClientFactory()
    session = SessionFactory(
        approved=True, client=client_a, session_type=session_type, client_notes="Client's own words"
    )
    note = TherapistNote.objects.create(session=session, therapist=therapist_a, body="Private to therapist A")
    attempt_model = apps.get_model("payments_app", "PaymentAttempt")
    attempt = attempt_model.objects.create(
        session=session,
        initiated_by=client_a,
        phone="254712345670",
        amount=session.amount_kes,
        account_reference=session.reference[:12],
        checkout_request_id="ws_CO_MATRIX000000001",
        status="processing",
    )
    return {
        "therapist_a": therapist_a,
        "therapist_b": therapist_b,
        "client_a": client_a,
        "client_b": client_b,
        "session": session,
        "note": note,
        "question": IntakeQuestion.objects.create(session_type=session_type, kind="short_text", text="Q?", position=1),
        "attempt": attempt,
        "session_type": session_type,
        "hours": WeeklyAvailability.objects.filter(therapist=therapist_a).first(),
        "time_off": TimeOffFactory(therapist=therapist_a),
    }


def url_for(route: str, world) -> str:
    spec = CLASSIFIED[route]
    values = {
        "pk": world[spec.pk].pk if spec.pk else None,
        "id": world[spec.pk].pk if spec.pk else None,
        "note_pk": world["note"].pk,
        "question_pk": world["question"].pk,
        "checkout_request_id": world["attempt"].checkout_request_id,
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def call(client, route: str, method: str, world, *, as_user=None):
    """One request the way its kind is used: pages with a form body, the API with JSON (and a token)."""
    url = url_for(route, world)
    spec = CLASSIFIED[route]
    if spec.kind == PAGE:
        if as_user is not None:
            client.force_login(as_user)
        return client.get(url) if method == "get" else client.post(url, PAGE_BODY)
    headers = {}
    if as_user is not None:
        headers["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=as_user)[0].key}"
    body = {"session": world["session"].pk, "phone": "0712345670", "reason": "Changed my mind"}
    if method == "get":
        return client.get(url, **headers)
    return getattr(client, method)(url, body, content_type="application/json", **headers)


def snapshot() -> dict:
    """Everything a refused request might have changed."""
    attempt_model = apps.get_model("payments_app", "PaymentAttempt")
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Session,
            SessionEvent,
            TherapistNote,
            WeeklyAvailability,
            TimeOff,
            SessionType,
            attempt_model,
        )
    }


def unchanged(before: dict) -> bool:
    after = snapshot()
    # A token made for the caller by call() itself is not a change the endpoint made.
    return {k: v for k, v in before.items() if k != "Token"} == {k: v for k, v in after.items() if k != "Token"}


def cases(**wanted):
    return [(r, m) for r in routes(**wanted) for m in CLASSIFIED[r].methods]


# --- Anonymous people ---------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method"), cases(kind=[PAGE]))
def test_anonymous_is_sent_to_log_in_on_every_page(client, world, route, method):
    before = snapshot()
    response = call(client, route, method, world)
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse("sessions:login") + "?next=")
    assert unchanged(before)


@pytest.mark.parametrize(("route", "method"), cases(kind=[API]))
def test_anonymous_gets_401_on_every_api_endpoint(client, world, route, method):
    before = snapshot()
    response = call(client, route, method, world)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_authenticated"
    assert unchanged(before)


# --- Another client ---------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method"), cases(owner=[CLIENT_SESSION, THERAPIST_SESSION], kind=[API]))
def test_another_client_gets_404_on_every_api_endpoint_for_the_session(client, world, route, method):
    before = snapshot()
    response = call(client, route, method, world, as_user=world["client_b"])
    assert response.status_code == 404, response.content
    assert "Client's own words" not in response.content.decode()
    assert unchanged(before)


@pytest.mark.parametrize(("route", "method"), cases(owner=[CLIENT_SESSION], kind=[PAGE]))
def test_another_client_gets_404_on_every_page_for_the_session(client, world, route, method):
    before = snapshot()
    response = call(client, route, method, world, as_user=world["client_b"])
    assert response.status_code == 404, response.status_code
    assert unchanged(before)


@pytest.mark.parametrize(("route", "method"), cases(therapist_only=[True]))
def test_a_client_is_turned_away_from_every_therapist_page(client, world, route, method):
    """Even for their own session: the dashboard is the therapist's (403 with a page saying so)."""
    before = snapshot()
    response = call(client, route, method, world, as_user=world["client_a"])
    assert response.status_code == 403, response.status_code
    assert "Private to therapist A" not in response.content.decode()
    assert unchanged(before)


# --- Another therapist ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "method"), cases(owner=[CLIENT_SESSION, THERAPIST_SESSION, THERAPIST_ROW], kind=[PAGE, API])
)
def test_another_therapist_gets_404_on_everything_of_another_therapist(client, world, route, method):
    before = snapshot()
    response = call(client, route, method, world, as_user=world["therapist_b"].user)
    assert response.status_code == 404, response.status_code
    body = response.content.decode()
    assert "Private to therapist A" not in body and "Client's own words" not in body
    assert unchanged(before)


# --- The owners get in: the 404s above come from the checks, not from broken URLs --------------


@pytest.mark.parametrize(("route", "method"), [(r, m) for r, m in cases(owner=[CLIENT_SESSION]) if m == "get"])
def test_the_sessions_client_gets_in(client, world, route, method, settings):
    settings.MPESA_STATUS_QUERY_INTERVAL_SECONDS = 3600  # the status endpoint answers from the database
    from django.core.cache import cache

    cache.set(f"mpesa:query:{world['attempt'].pk}", 1, 3600)
    response = call(client, route, method, world, as_user=world["client_a"])
    assert response.status_code == 200, response.status_code


@pytest.mark.parametrize(
    ("route", "method"),
    [(r, m) for r, m in cases(owner=[THERAPIST_SESSION, THERAPIST_ROW], kind=[PAGE]) if m == "get"]
    + [("api/sessions/<int:id>", "get")],
)
def test_the_sessions_therapist_gets_in(client, world, route, method):
    response = call(client, route, method, world, as_user=world["therapist_a"].user)
    assert response.status_code == 200, response.status_code


def test_lists_show_only_ones_own_sessions(client, world):
    other = SessionFactory(client=world["client_b"], session_type=SessionTypeFactory(therapist=world["therapist_b"]))
    for user, mine, theirs in (
        (world["client_a"], world["session"], other),
        (world["therapist_a"].user, world["session"], other),
        (world["client_b"], other, world["session"]),
        (world["therapist_b"].user, other, world["session"]),
    ):
        token = Token.objects.get_or_create(user=user)[0].key
        ids = [s["id"] for s in client.get("/api/sessions", HTTP_AUTHORIZATION=f"Token {token}").json()["results"]]
        assert ids == [mine.pk], user
        client.force_login(user)
        page = "/dashboard/sessions/" if user.is_therapist else "/my/sessions/"
        html = client.get(page + ("?show=all" if user.is_therapist else "")).content.decode()
        assert f"{page}{mine.pk}/" in html and f"{page}{theirs.pk}/" not in html


# --- The admin --------------------------------------------------------------------------------


def admin_urls(world) -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
    urls.append(reverse("admin:sessions_app_session_change", args=[world["session"].pk]))
    urls.append(reverse("admin:sessions_app_user_change", args=[world["client_a"].pk]))
    return urls


def test_only_staff_reach_the_admin(client, world):
    from ..factories import UserFactory

    urls = admin_urls(world)
    assert len(urls) > 5
    for who in (None, world["client_a"], world["therapist_a"].user):
        client.logout()
        if who is not None:
            client.force_login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, (who, url)
            assert response["Location"].startswith(reverse("admin:login")), (who, url)
    client.force_login(UserFactory(staff=True))
    for url in urls:
        assert client.get(url).status_code == 200, url
