"""The read caches (sessions_app/caching.py): a change is visible on the next request; hits run fewer queries,
the same at 5 or 50 rows."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app import caching, services

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot

pytestmark = pytest.mark.django_db

DIRECTORY = reverse("sessions:directory")


def _slots_url(session_type, days=10) -> str:
    first = (timezone.now() + dt.timedelta(days=1)).date()
    last = first + dt.timedelta(days=days)
    return f"/api/therapists/{session_type.therapist_id}/slots?session_type={session_type.pk}&from={first}&to={last}"


def test_slots_api_shows_a_new_booking_on_the_next_request(client):
    session_type = SessionTypeFactory(duration_minutes=60)
    url = _slots_url(session_type)
    before = client.get(url).json()["slots"]
    start = future_slot(days=3, hour=10)
    assert start.isoformat() in before
    SessionFactory(session_type=session_type, start=start)  # its save bumps the therapist's slots version
    after = client.get(url).json()["slots"]
    assert start.isoformat() not in after
    assert client.get(url).json()["slots"] == after  # and a hit answers the same


def test_slots_api_shows_time_off_and_a_cancellation_on_the_next_request(client):
    session_type = SessionTypeFactory(duration_minutes=60)
    therapist = session_type.therapist
    url = _slots_url(session_type)
    start = future_slot(days=4, hour=11)
    booked = SessionFactory(session_type=session_type, start=start)
    assert start.isoformat() not in client.get(url).json()["slots"]
    services.session_cancel(session=booked.pk, actor=booked.client, reason="Cannot come.")
    assert start.isoformat() in client.get(url).json()["slots"]
    services.time_off_add(therapist=therapist, start=start - dt.timedelta(hours=2), end=start + dt.timedelta(hours=2))
    assert start.isoformat() not in client.get(url).json()["slots"]


def test_slots_cache_answers_what_free_slots_answers(client):
    from sessions_app import selectors

    session_type = SessionTypeFactory(duration_minutes=45)
    SessionFactory(session_type=session_type, start=future_slot(days=2, hour=13))
    therapist = session_type.therapist
    now = timezone.now()
    for _ in range(2):  # a miss, then a hit
        cached = selectors.free_slots_cached(
            therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=9)
        )
        assert cached == selectors.free_slots(
            therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=9)
        )
    assert cached


@pytest.mark.parametrize("rows", [5, 50])
def test_slots_api_hit_is_one_query_whatever_the_bookings(client, django_assert_num_queries, rows):
    session_type = SessionTypeFactory(duration_minutes=30)
    for n in range(rows):
        SessionFactory(
            session_type=session_type,
            client=ClientFactory(),
            start=future_slot(days=1 + n % 25, hour=9 + n // 25),
        )
    url = _slots_url(session_type, days=30)
    client.get(url)
    with django_assert_num_queries(1):  # the type with its therapist; the slots come from the cache
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("rows", [5, 50])
def test_directory_hit_runs_no_query_whatever_the_therapists(client, django_assert_num_queries, rows):
    for n in range(rows):
        SessionTypeFactory(therapist=TherapistProfileFactory(user__full_name=f"T{n:02d}"))
    first = client.get(DIRECTORY, {"page": 2}).content
    with django_assert_num_queries(0):
        assert client.get(DIRECTORY, {"page": 2}).content == first


def test_directory_shows_a_change_on_the_next_request(client):
    session_type = SessionTypeFactory(price_kes=3000, therapist=TherapistProfileFactory(user__full_name="Amina Otieno"))
    assert "Amina Otieno" in client.get(DIRECTORY).content.decode()
    user = session_type.therapist.user
    user.full_name = "Amina Wekesa"
    user.save()
    html = client.get(DIRECTORY).content.decode()
    assert "Amina Wekesa" in html and "Amina Otieno" not in html
    session_type.price_kes = 2500
    session_type.save()
    assert "from KES 2,500" in client.get(DIRECTORY).content.decode()
    profile = session_type.therapist
    profile.accepting_new_clients = False
    profile.save()
    assert "Amina Wekesa" not in client.get(DIRECTORY).content.decode()


def test_a_login_does_not_bump_the_directory(client, django_assert_num_queries):
    SessionTypeFactory(therapist=TherapistProfileFactory(user__full_name="Amina Otieno"))
    client.get(DIRECTORY)
    profile = TherapistProfileFactory()
    client.get(DIRECTORY)  # a new profile bumped; read it again
    profile.user.last_login = timezone.now()
    profile.user.save(update_fields=["last_login"])
    with django_assert_num_queries(0):
        client.get(DIRECTORY)


def test_a_form_with_errors_is_not_cached(client):
    SessionTypeFactory()
    first = client.get(DIRECTORY, {"min_price": "cheap"})
    assert first.context["form"].errors
    again = client.get(DIRECTORY, {"min_price": "cheap"})
    assert again.context["form"].errors  # rendered again, not served from the cache


def test_a_lost_version_counter_is_a_miss_not_a_stale_hit():
    from django.core.cache import cache

    version, value = caching.lookup("test-name", "test-key")
    caching.store("test-key", version, "old")
    assert caching.lookup("test-name", "test-key")[1] == "old"
    cache.delete("v:test-name")  # evicted or flushed
    assert caching.lookup("test-name", "test-key")[1] is None
    caching.bump("test-name")
    assert caching.lookup("test-name", "test-key")[1] is None
