"""GET /api/therapists, /api/therapists/{id} and /api/therapists/{id}/slots (public)."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app.models import SessionType

from ..factories import (
    ClientFactory,
    SessionFactory,
    SessionTypeFactory,
    TherapistProfileFactory,
    TimeOffFactory,
    UserFactory,
    future_slot,
)

pytestmark = pytest.mark.django_db

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


@pytest.fixture
def api():
    return APIClient()


def _names(response):
    return [t["name"] for t in response.json()["results"]]


def test_directory_is_public_paginated_and_shows_active_types(api):
    therapist = TherapistProfileFactory(user__full_name="Achieng Otieno", specialties="Anxiety, Grief")
    SessionTypeFactory(therapist=therapist, name="Intro", duration_minutes=30, price_kes=1500)
    SessionTypeFactory(therapist=therapist, name="Full", duration_minutes=60, price_kes=3000)
    SessionTypeFactory(therapist=therapist, name="Retired", price_kes=500, is_active=False)
    TherapistProfileFactory(user__full_name="No Types Yet")  # nothing bookable: not listed

    response = api.get("/api/therapists")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None
    entry = body["results"][0]
    assert entry["name"] == "Achieng Otieno"
    assert entry["specialties"] == ["Anxiety", "Grief"]
    assert entry["from_price"] == 1500
    assert [(t["name"], t["duration"], t["price"], t["mode"]) for t in entry["session_types"]] == [
        ("Intro", 30, 1500, "online"),
        ("Full", 60, 3000, "online"),
    ]
    assert "email" not in entry and "phone" not in entry


def test_directory_filters(api):
    a = TherapistProfileFactory(user__full_name="A", specialties="Anxiety", languages="English")
    SessionTypeFactory(therapist=a, price_kes=2000, mode=SessionType.Mode.ONLINE)
    b = TherapistProfileFactory(user__full_name="B", specialties="Couples", languages="Kiswahili")
    SessionTypeFactory(therapist=b, price_kes=6000, mode=SessionType.Mode.IN_PERSON)
    c = TherapistProfileFactory(user__full_name="C", specialties="Anxiety", languages="Kiswahili", hours=[])
    SessionTypeFactory(therapist=c, price_kes=4000)

    assert _names(api.get("/api/therapists", {"specialty": "anxiety"})) == ["A", "C"]
    assert _names(api.get("/api/therapists", {"language": "Kiswahili"})) == ["B", "C"]
    assert _names(api.get("/api/therapists", {"min_price": 3000})) == ["B", "C"]
    assert _names(api.get("/api/therapists", {"max_price": 4000})) == ["A", "C"]
    assert _names(api.get("/api/therapists", {"mode": "in_person"})) == ["B"]
    assert _names(api.get("/api/therapists", {"available_this_week": "true"})) == ["A", "B"]
    TimeOffFactory(therapist=a, start=timezone.now() - dt.timedelta(days=1), end=timezone.now() + dt.timedelta(days=9))
    assert _names(api.get("/api/therapists", {"available_this_week": "true"})) == ["B"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "cheap"}, "min_price"),
        ({"max_price": "-5"}, "max_price"),
        ({"min_price": "5000", "max_price": "100"}, "max_price"),
        ({"mode": "telepathy"}, "mode"),
        ({"available_this_week": "perhaps"}, "available_this_week"),
        ({"specialty": "x" * 101}, "specialty"),
        ({"language": "nul\x00byte"}, "language"),
    ],
)
def test_directory_refuses_bad_filters_by_name(api, params, field):
    response = api.get("/api/therapists", params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]


def test_directory_page_out_of_range_is_404(api):
    response = api.get("/api/therapists", {"page": 99})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("rows", [5, 50])
def test_directory_runs_fixed_queries(api, django_assert_num_queries, rows):
    for _ in range(rows):
        therapist = TherapistProfileFactory()
        SessionTypeFactory(therapist=therapist)
        SessionTypeFactory(therapist=therapist, duration_minutes=30)
    # the page with its total (COUNT(*) OVER ()), active session types
    with django_assert_num_queries(2):
        response = api.get("/api/therapists")
    assert len(response.json()["results"]) == min(rows, 20)
    assert response.json()["count"] == rows


def test_one_therapist(api):
    session_type = SessionTypeFactory(price_kes=2500)
    response = api.get(f"/api/therapists/{session_type.therapist_id}")
    assert response.status_code == 200
    assert response.json()["id"] == session_type.therapist_id
    assert response.json()["session_types"][0]["id"] == session_type.pk


@pytest.mark.parametrize("pk", [0, 999999, 2**63 - 1, 10**30])
def test_unknown_therapist_is_404(api, pk):
    response = api.get(f"/api/therapists/{pk}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such therapist.", "fields": {}}


def test_deactivated_therapist_is_404(api):
    session_type = SessionTypeFactory(therapist__user__is_active=False)
    assert api.get(f"/api/therapists/{session_type.therapist_id}").status_code == 404
    assert (
        api.get(f"/api/therapists/{session_type.therapist_id}/slots?session_type={session_type.pk}").status_code == 404
    )


# --- Slots --------------------------------------------------------------------------------


def _slots_url(session_type):
    return f"/api/therapists/{session_type.therapist_id}/slots"


def test_slots_for_a_day_in_the_therapists_zone(api):
    therapist = TherapistProfileFactory(hours=[(d, "09:00", "12:00") for d in range(7)])
    session_type = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    day = future_slot(days=3).date()
    SessionFactory(session_type=session_type, start=dt.datetime.combine(day, dt.time(10), tzinfo=NAIROBI))

    response = api.get(_slots_url(session_type), {"session_type": session_type.pk, "from": day, "to": day})
    assert response.status_code == 200
    body = response.json()
    assert body["time_zone"] == "Africa/Nairobi"
    assert body["from"] == f"{day}T00:00:00+03:00"
    assert body["to"] == f"{day + dt.timedelta(days=1)}T00:00:00+03:00"
    # 09:00 and 11:00 are free; 09:30-10:30 overlap the booked 10:00; the 11:00 slot ends at 12:00.
    assert body["slots"] == [f"{day}T09:00:00+03:00", f"{day}T11:00:00+03:00"]


def test_slots_accept_datetimes_with_offsets_and_default_window(api):
    session_type = SessionTypeFactory()
    start = future_slot(days=4, hour=8).astimezone(dt.UTC)
    response = api.get(
        _slots_url(session_type),
        {"session_type": session_type.pk, "from": start.isoformat(), "to": (start + dt.timedelta(hours=2)).isoformat()},
    )
    assert response.status_code == 200
    # Start times inside the window (a slot may run past its end).
    assert response.json()["slots"] == [
        (start + dt.timedelta(minutes=m)).astimezone(NAIROBI).isoformat() for m in (0, 30, 60, 90)
    ]

    default = api.get(_slots_url(session_type), {"session_type": session_type.pk})
    assert default.status_code == 200
    first = dt.datetime.fromisoformat(default.json()["slots"][0])
    assert first >= timezone.now() + dt.timedelta(hours=24)  # the therapist's minimum notice


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({}, "session_type", "This field is required."),
        ({"session_type": "one"}, "session_type", "A valid integer is required."),
        ({"from": "next tuesday"}, "from", "Enter a date (2026-03-02) or a date-time"),
        ({"from": "2030-01-01T10:00:00"}, "from", "Give the time with its time zone offset"),
        ({"to": "2030-02-30"}, "to", "Enter a date"),
        ({"from": "1999-12-31"}, "from", "Enter a date between 2000 and 2999."),
        ({"from": "2030-01-10", "to": "2030-01-09"}, "to", "Must be after from."),
        ({"from": "2030-01-01", "to": "2030-03-31"}, "to", "at most 62 days"),
    ],
)
def test_slots_refuse_bad_queries_by_field(api, params, field, message):
    session_type = SessionTypeFactory()
    # An empty case means: everything but the session type.
    params = {"session_type": session_type.pk, **params} if params else {"from": "2030-01-01"}
    response = api.get(_slots_url(session_type), params)
    assert response.status_code == 400
    assert message in response.json()["fields"][field][0]


def test_slots_refuse_another_therapists_session_type(api):
    mine, theirs = SessionTypeFactory(), SessionTypeFactory()
    response = api.get(_slots_url(mine), {"session_type": theirs.pk})
    assert response.status_code == 400
    assert response.json()["fields"] == {"session_type": ["Choose one of this therapist's session types."]}


def test_slots_work_for_signed_in_people_too():
    session_type = SessionTypeFactory()
    api = APIClient()
    api.force_authenticate(ClientFactory())
    assert api.get(_slots_url(session_type), {"session_type": session_type.pk}).status_code == 200
    api.force_authenticate(UserFactory(staff=True))
    assert api.get("/api/therapists").status_code == 200
