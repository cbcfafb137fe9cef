"""Fuzz the served OpenAPI schema with schemathesis, in-process against the Django WSGI app.

Every operation is called with generated valid and invalid data, once with a
client's token and once with a therapist's, and every response must be a
non-5xx, with a status, content type, headers and body the schema describes.
Invalid data must be refused with a 4xx. Three in four generated ids are
pointed at real rows (and some booking times at real free slots) so the
fuzzer reaches past "not found" into the state machine.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sessions_app import selectors
from sessions_app.models import Session

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application()).exclude(
    # Daraja's webhook: fuzzed with hypothesis by payments_app's own tests.
    path_regex=r"^/api/mpesa/callback/",
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    # 20 examples an operation; fewer at each instant of the clock sweep (conftest.py), which reruns these.
    max_examples=max(3, round(20 * float(os.environ.get("TEST_FUZZ_EXAMPLES_SCALE", "1")))),
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible, the run time stable
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


@pytest.fixture
def _keep_test_connection():
    """The WSGI handler closes the database connection after each request; the test's transaction needs it open.

    (Django's own test client disconnects the same receivers.)
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings, _keep_test_connection):
    settings.BOOKING_REQUESTS_PER_DAY = 10_000  # the fuzzer books far more than a person may
    therapist = TherapistProfileFactory()
    session_type = SessionTypeFactory(therapist=therapist)
    other_type = SessionTypeFactory(therapist=therapist, duration_minutes=30, price_kes=1500)
    client = ClientFactory()
    sessions = [
        SessionFactory(client=client, session_type=session_type, start=future_slot(days=2)),
        SessionFactory(client=client, session_type=session_type, start=future_slot(days=3), approved=True),
        SessionFactory(client=client, session_type=session_type, start=future_slot(days=4), confirmed=True),
        SessionFactory(
            client=client, session_type=other_type, start=future_slot(days=5), status=Session.Status.DECLINED
        ),
        SessionFactory(session_type=SessionTypeFactory(), start=future_slot(days=2)),  # nobody's here
    ]
    now = timezone.now()
    slots = selectors.free_slots(
        therapist=therapist,
        session_type=session_type,
        window_start=now + dt.timedelta(days=6),
        window_end=now + dt.timedelta(days=20),
    )
    return {
        "tokens": {
            "client": Token.objects.create(user=client).key,
            "therapist": Token.objects.create(user=therapist.user).key,
        },
        "therapist_ids": [therapist.pk, sessions[-1].therapist_id],
        "type_ids": [session_type.pk, other_type.pk],
        "session_ids": [s.pk for s in sessions],
        "slots": [slot.isoformat() for slot in slots],
    }


def _as_int(value) -> int | None:
    """Generated ids come as ints, or as strings of digits when schemathesis serialises them for the URL."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _aim(case, world) -> None:
    """Point three in four generated ids at real rows, and half the booking times at real free slots."""
    ident = _as_int((case.path_parameters or {}).get("id"))
    if ident is not None and ident % 4:
        pool = world["therapist_ids"] if case.path.startswith("/api/therapists") else world["session_ids"]
        case.path_parameters["id"] = pool[ident % len(pool)]
    session_type = _as_int((case.query or {}).get("session_type"))
    if session_type is not None and session_type % 4:
        case.query["session_type"] = world["type_ids"][session_type % 2]
    body = case.body
    if isinstance(body, dict):
        # Only JSON integers: a string id in a body is a type error the API must keep refusing.
        therapist = body.get("therapist")
        if isinstance(therapist, int) and not isinstance(therapist, bool) and therapist % 4:
            body["therapist"] = world["therapist_ids"][0]
        session_type = body.get("session_type")
        if isinstance(session_type, int) and not isinstance(session_type, bool) and session_type % 4:
            body["session_type"] = world["type_ids"][session_type % 2]
        if isinstance(body.get("start"), str) and world["slots"] and len(body["start"]) % 2 == 0:
            body["start"] = world["slots"][len(body["start"]) % len(world["slots"])]


def _run(case, world, role: str) -> None:
    _aim(case, world)
    case.call_and_validate(headers={"Authorization": f"Token {world['tokens'][role]}"}, checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_api_as_a_client(case, world):
    _run(case, world, "client")


@schema.parametrize()
@FUZZ
def test_api_as_a_therapist(case, world):
    _run(case, world, "therapist")
