"""Issue 20, point 2: every URL pattern of the project, with each method it accepts, as anonymous, a
client, a therapist and staff, fed hostile input (strategies.py) in its path parameters, query string,
headers and body, never answers a 5xx.

The URL patterns are found by walking the resolver (as test_authz_matrix.py does; its CLASSIFIED table,
when importable, says which methods each of our URLs takes; otherwise the view class says, or GET and
POST). Each Hypothesis example walks every pattern once; failures are collected over the whole walk
and reported together (no shrinking: a walk is hundreds of requests).
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import zlib

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, UserFactory
from . import strategies as hostile

pytestmark = pytest.mark.django_db

SECRET = "cb-FUZZ-31d7"
WEBHOOK_AUTH = "fuzz:webhook-pass"
ROLES = ["anonymous", "client", "therapist", "staff"]
FORM_FIELDS = (
    "username", "password", "email", "full_name", "phone", "password1", "password2", "old_password",
    "new_password1", "new_password2", "time_zone", "therapist", "session_type", "start", "date", "slot",
    "notes", "reason", "body", "meeting_link", "name", "duration_minutes", "price_kes", "mode", "weekday",
    "start_time", "end_time", "next", "action", "_selected_action", "index",
)  # fmt: skip
JSON_FIELDS = ("session", "phone", "therapist", "session_type", "start", "notes", "reason", "email", "password")
SCALE = float(os.environ.get("TEST_FUZZ_EXAMPLES_SCALE", "1"))
WALK = hsettings(
    # Each example walks every URL, twice in the ordinary run; the clock sweep (TEST_FUZZ_EXAMPLES_SCALE=0.1)
    # walks a seventh of them once at each of its seven instants (see _routes_now).
    max_examples=max(1, round(2 * SCALE)),
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _classified() -> dict:
    """The authorization matrix's table of our URLs and their methods, wherever that file lives now."""
    for name in (
        "sessions_app.tests.system.test_authz_matrix",
        "sessions_app.tests.test_authz_matrix",
        "sessions_app.tests.api.test_authz_matrix",
    ):
        try:
            return {route: spec.methods for route, spec in importlib.import_module(name).CLASSIFIED.items()}
        except (ImportError, AttributeError):
            continue
    return {}


def _methods(route: str, callback, classified: dict) -> tuple[str, ...]:
    if route in classified:
        return tuple(classified[route])
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is not None:
        found = tuple(m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m))
        if found:
            return found
    return ("get", "post")


ROUTES = sorted(
    {route: _methods(route, callback, _classified()) for route, callback in _walk(get_resolver().url_patterns)}.items()
)
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<(\w+)>([^)]*)\)")


@pytest.fixture
def world(settings):
    settings.MPESA_CALLBACK_SECRET = SECRET
    settings.MPESA_CALLBACK_ALLOWED_IPS = []
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_AUTH}
    therapist = TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist)
    client_user = ClientFactory()
    session = SessionFactory(approved=True, client=client_user, session_type=session_type)
    staff = UserFactory(staff=True)
    users = {"client": client_user, "therapist": therapist.user, "staff": staff}
    return {
        "users": users,
        "tokens": {role: Token.objects.create(user=user).key for role, user in users.items()},
        "ids": [session.pk, therapist.pk, session_type.pk, client_user.pk],
    }


def _path(route: str, draw, world) -> str:
    def converter(match):
        kind, name = match.group(1) or "str", match.group(2)
        if kind == "int":
            return str(draw(st.one_of(st.sampled_from(world["ids"]), hostile.hostile_int)))
        if name == "secret" and draw(st.booleans()):
            return SECRET
        return hostile.encode(draw(hostile.hostile_text)) or "x"

    def group(match):
        choices = match.group(2)
        if "|" in choices:
            return choices.lstrip("(").split("|")[0]
        return hostile.encode(draw(hostile.hostile_text)) or "x"

    path = CONVERTER.sub(converter, route)
    path = REGEX_GROUP.sub(group, path)
    path = re.sub(r"\([^)]*\)\?", "", path).replace("^", "").replace("$", "")
    return "/" + path


def _request(http, route: str, method: str, role: str, world, draw):
    path = _path(route, draw, world)
    if draw(st.booleans()):
        path += "?" + draw(hostile.query_string())
    extra = {}
    if role != "anonymous":
        extra["HTTP_AUTHORIZATION"] = f"Token {world['tokens'][role]}"
    if route.startswith("anymail/") and draw(st.booleans()):
        extra["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(WEBHOOK_AUTH.encode()).decode()
    extra.update(draw(hostile.headers()))
    api = route.startswith(("api/", "anymail/"))
    if method == "get":
        return http.generic("GET", path, **extra), path
    if draw(st.integers(0, 3)) == 0:
        content_type = draw(st.sampled_from(hostile.CONTENT_TYPES))
    else:
        content_type = "application/json" if api else "application/x-www-form-urlencoded"
    if content_type.startswith("application/json"):
        body = draw(hostile.json_body(JSON_FIELDS))
    else:
        body = draw(hostile.form_body(FORM_FIELDS))
    return http.generic(method.upper(), path, data=body, content_type=content_type, **extra), path


def _routes_now() -> list:
    """Every route; in the clock sweep a seventh of them, which seventh chosen by the pinned instant."""
    if SCALE >= 1:
        return ROUTES
    offset = zlib.crc32(timezone.now().strftime("%Y%m%d%H%M").encode()) % 7
    return ROUTES[offset::7]


@pytest.mark.parametrize("role", ROLES)
def test_no_url_answers_hostile_input_with_a_5xx(role, world):
    http = Client(raise_request_exception=False)
    user = world["users"].get(role)
    routes = _routes_now()
    failures: list[str] = []
    requests = [0]
    statuses: dict[int, int] = {}

    @given(data=st.data())
    @WALK
    def walk(data):
        for route, methods in routes:
            for method in methods:
                if user is not None and not http.cookies.get(django_settings.SESSION_COOKIE_NAME, None):
                    http.force_login(user)  # again, after logout/ or a password change
                elif user is not None and not http.cookies[django_settings.SESSION_COOKIE_NAME].value:
                    http.force_login(user)
                try:
                    response, path = _request(http, route, method, role, world, data.draw)
                except Exception as exc:  # noqa: BLE001 - reported with the rest, after the walk
                    failures.append(f"{method.upper()} ({route}) raised {exc!r:.200}")
                    continue
                requests[0] += 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {path[:160]!r} ({route}) -> {response.status_code}")

    walk()
    print(f"{role}: {len(failures)} 5xx over {requests[0]} requests; statuses {sorted(statuses.items())}")
    assert requests[0] >= len(routes)
    assert failures == [], f"{len(failures)} 5xx over {requests[0]} requests:\n" + "\n".join(failures[:30])
