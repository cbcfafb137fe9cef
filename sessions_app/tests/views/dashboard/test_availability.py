"""The dashboard pages for availability, booking settings and session types."""

import datetime as dt
import zoneinfo

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import Session, SessionType, TimeOff, WeeklyAvailability

from ...factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot

pytestmark = pytest.mark.django_db

S = Session.Status
T = dt.time


@pytest.fixture
def profile():
    return TherapistProfileFactory()


@pytest.fixture
def stype(profile):
    return SessionTypeFactory(therapist=profile)


@pytest.fixture
def logged_in(client, profile):
    client.force_login(profile.user)
    return client


def _hours(profile, weekday):
    return list(
        WeeklyAvailability.objects.filter(therapist=profile, weekday=weekday)
        .order_by("start_time")
        .values_list("start_time", "end_time")
    )


def _messages(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


# --- Pages: who may come in --------------------------------------------------------------------

PAGES = ["dashboard_availability", "dashboard_settings", "dashboard_session_types"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_refuse_clients_and_send_anonymous_to_login(client, name):
    url = reverse(f"sessions:{name}")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sessions:login"))
    client.force_login(ClientFactory())
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("name", ["dashboard_hours_add", "dashboard_time_off_add"])
def test_posts_refuse_clients(client, name):
    client.force_login(ClientFactory())
    assert client.post(reverse(f"sessions:{name}"), {}).status_code == 403


def test_availability_page_query_count_is_constant(logged_in, profile, stype):
    url = reverse("sessions:dashboard_availability")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(url).status_code == 200
        return len(ctx.captured_queries)

    SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=3, hour=10))
    few = count()
    for day in range(4, 14):
        SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=day, hour=10))
        TimeOff.objects.create(
            therapist=profile,
            start=future_slot(days=day, hour=20),
            end=future_slot(days=day, hour=21),
        )
    assert count() == few <= 9


# --- Pages: weekly hours -----------------------------------------------------------------------


def test_add_hours_page(logged_in, profile):
    WeeklyAvailability.objects.filter(therapist=profile, weekday=5).delete()
    response = logged_in.post(
        reverse("sessions:dashboard_hours_add"), {"weekday": 5, "start_time": "09:00", "end_time": "12:00"}
    )
    assert response.status_code == 302
    assert ("success", "Added 09:00–12:00 on Saturdays.") in _messages(response)
    logged_in.post(reverse("sessions:dashboard_hours_add"), {"weekday": 5, "start_time": "13:00", "end_time": "16:30"})
    assert _hours(profile, 5) == [(T(9), T(12)), (T(13), T(16, 30))]
    html = logged_in.get(reverse("sessions:dashboard_availability")).content.decode()
    assert "09:00–12:00" in html and "13:00–16:30" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekday": 1, "start_time": "12:00", "end_time": "09:00"}, "The end time must be after the start time."),
        ({"weekday": 1, "start_time": "07:00", "end_time": "09:00"}, "That overlaps 08:00–18:00"),
        ({"weekday": 1, "start_time": "nine", "end_time": "10:00"}, "Enter a valid time."),
        ({"weekday": 9, "start_time": "19:00", "end_time": "20:00"}, "Select a valid choice."),
    ],
)
def test_add_hours_errors_show_next_to_the_form(logged_in, profile, data, message):
    response = logged_in.post(reverse("sessions:dashboard_hours_add"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'aria-invalid="true"' in html
    assert _hours(profile, 1) == [(T(8), T(18))]


def test_remove_hours_warns_about_booked_sessions(logged_in, profile, stype):
    start = future_slot(days=5, hour=10)
    booked = SessionFactory(session_type=stype, confirmed=True, start=start)
    row = WeeklyAvailability.objects.get(therapist=profile, weekday=start.weekday())
    response = logged_in.post(reverse("sessions:dashboard_hours_remove", args=[row.pk]), follow=True)
    html = response.content.decode()
    assert "This change leaves 1 booked session outside your weekly hours" in html
    assert booked.reference in html
    assert "They stay booked" in html
    booked.refresh_from_db()
    assert booked.status == S.CONFIRMED
    assert "Booked sessions outside your availability" in html


def test_remove_another_therapists_hours_is_404(logged_in):
    row = WeeklyAvailability.objects.filter(therapist=TherapistProfileFactory()).first()
    assert logged_in.post(reverse("sessions:dashboard_hours_remove", args=[row.pk])).status_code == 404
    assert WeeklyAvailability.objects.filter(pk=row.pk).exists()


# --- Pages: time off ---------------------------------------------------------------------------


def test_add_time_off_reads_the_therapists_zone(client):
    profile = TherapistProfileFactory(time_zone="America/New_York")
    client.force_login(profile.user)
    day = (timezone.now() + dt.timedelta(days=10)).date()
    response = client.post(
        reverse("sessions:dashboard_time_off_add"),
        {"start": f"{day}T09:00", "end": f"{day}T17:00", "reason": "Conference"},
    )
    assert response.status_code == 302
    time_off = TimeOff.objects.get(therapist=profile)
    expected = dt.datetime.combine(day, T(9), tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    assert time_off.start == expected
    assert time_off.reason == "Conference"
    page = client.get(reverse("sessions:dashboard_availability")).content.decode()
    assert "Conference" in page
    client.post(reverse("sessions:dashboard_time_off_remove", args=[time_off.pk]))
    assert not TimeOff.objects.exists()


def test_time_off_over_a_booking_warns(logged_in, stype):
    start = future_slot(days=4, hour=10)
    booked = SessionFactory(session_type=stype, confirmed=True, start=start)
    local = start.astimezone(zoneinfo.ZoneInfo("Africa/Nairobi"))
    response = logged_in.post(
        reverse("sessions:dashboard_time_off_add"),
        {"start": f"{local:%Y-%m-%d}T00:00", "end": f"{local:%Y-%m-%d}T23:59"},
        follow=True,
    )
    html = response.content.decode()
    assert "This time off overlaps 1 booked session" in html
    assert booked.reference in html
    booked.refresh_from_db()
    assert booked.status == S.CONFIRMED


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2031-01-02T10:00", "2031-01-02T09:00", "The end must be after the start."),
        ("2020-01-01T10:00", "2020-01-02T10:00", "already over"),
        ("tomorrow", "2031-01-02T09:00", "Enter a valid date/time."),
        ("", "", "This field is required."),
    ],
)
def test_time_off_errors(logged_in, start, end, message):
    response = logged_in.post(reverse("sessions:dashboard_time_off_add"), {"start": start, "end": end})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TimeOff.objects.exists()


def test_remove_another_therapists_time_off_is_404(logged_in):
    other = TimeOff.objects.create(
        therapist=TherapistProfileFactory(),
        start=timezone.now() + dt.timedelta(days=1),
        end=timezone.now() + dt.timedelta(days=2),
    )
    assert logged_in.post(reverse("sessions:dashboard_time_off_remove", args=[other.pk])).status_code == 404
    assert TimeOff.objects.filter(pk=other.pk).exists()


# --- Pages: settings ---------------------------------------------------------------------------


def test_settings_page_shows_and_saves(logged_in, profile):
    response = logged_in.get(reverse("sessions:dashboard_settings"))
    assert response.status_code == 200
    assert response.context["form"].initial["min_notice_hours"] == 24
    response = logged_in.post(
        reverse("sessions:dashboard_settings"),
        {"buffer_minutes": 20, "min_notice_hours": 6, "max_advance_days": 90, "time_zone": "Africa/Lagos"},
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.buffer_minutes, profile.min_notice_hours, profile.max_advance_days) == (20, 6, 90)
    assert profile.accepting_new_clients is False  # unticked box
    assert profile.time_zone == "Africa/Lagos"
    home = logged_in.get(reverse("sessions:dashboard")).content.decode()
    assert "You are not accepting new clients" in home
    assert "Africa/Lagos" in home


def test_settings_errors_show_next_to_the_field(logged_in, profile):
    response = logged_in.post(
        reverse("sessions:dashboard_settings"),
        {"buffer_minutes": 10, "min_notice_hours": 48, "max_advance_days": 1, "time_zone": "Africa/Nairobi"},
    )
    assert response.status_code == 400
    assert "further ahead than the minimum notice" in response.content.decode()
    response = logged_in.post(
        reverse("sessions:dashboard_settings"),
        {"buffer_minutes": 999, "min_notice_hours": 1, "max_advance_days": 10, "time_zone": "Nowhere/Land"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "less than or equal to 240" in html
    assert "Select a valid choice." in html
    profile.refresh_from_db()
    assert profile.buffer_minutes == 0


def test_settings_warn_about_a_longer_buffer(logged_in, stype):
    SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=5, hour=10))
    SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=5, hour=11))
    response = logged_in.post(
        reverse("sessions:dashboard_settings"),
        {
            "buffer_minutes": 15,
            "min_notice_hours": 24,
            "max_advance_days": 60,
            "accepting_new_clients": "on",
            "time_zone": "Africa/Nairobi",
        },
        follow=True,
    )
    assert "leaves 2 booked sessions outside your hours or closer together than your buffer" in (
        response.content.decode()
    )


# --- Pages: session types ------------------------------------------------------------------------


def test_session_types_page_lists_and_creates(logged_in, profile, stype):
    SessionTypeFactory(name="Not mine")
    response = logged_in.get(reverse("sessions:dashboard_session_types"))
    html = response.content.decode()
    assert stype.name in html and "Not mine" not in html
    response = logged_in.post(
        reverse("sessions:dashboard_session_types"),
        {"name": "Couples", "duration_minutes": 90, "price_kes": 6000, "mode": "in_person", "is_active": "on"},
    )
    assert response.status_code == 302
    created = SessionType.objects.get(therapist=profile, name="Couples")
    assert (created.duration_minutes, created.price_kes, created.mode, created.is_active) == (
        90,
        6000,
        "in_person",
        True,
    )


def test_session_type_form_errors(logged_in, profile):
    response = logged_in.post(
        reverse("sessions:dashboard_session_types"),
        {"name": "", "duration_minutes": 5, "price_kes": "12.5", "mode": "online"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html
    assert "greater than or equal to 15" in html
    assert "Enter a whole number." in html
    assert not SessionType.objects.filter(therapist=profile).exists()


def test_edit_session_type_warns_about_booked_sessions(logged_in, stype):
    booked = SessionFactory(session_type=stype, approved=True)
    url = reverse("sessions:dashboard_session_type_edit", args=[stype.pk])
    assert logged_in.get(url).status_code == 200
    response = logged_in.post(
        url, {"name": stype.name, "duration_minutes": 60, "price_kes": 3500, "mode": "online", "is_active": "on"}
    )
    assert response.status_code == 302
    warnings = [text for level, text in _messages(response) if level == "warning"]
    assert len(warnings) == 1 and booked.reference in warnings[0]
    booked.refresh_from_db()
    assert booked.amount_kes == 3000


def test_edit_another_therapists_type_is_404(logged_in):
    other = SessionTypeFactory()
    url = reverse("sessions:dashboard_session_type_edit", args=[other.pk])
    assert logged_in.get(url).status_code == 404
    data = {"name": "Mine now", "duration_minutes": 60, "price_kes": 1, "mode": "online"}
    assert logged_in.post(url, data).status_code == 404
    toggle = reverse("sessions:dashboard_session_type_toggle", args=[other.pk])
    assert logged_in.post(toggle, {"active": "0"}).status_code == 404
    other.refresh_from_db()
    assert other.name != "Mine now" and other.is_active


def test_toggle_session_type(logged_in, stype):
    url = reverse("sessions:dashboard_session_type_toggle", args=[stype.pk])
    logged_in.post(url, {"active": "0"})
    stype.refresh_from_db()
    assert not stype.is_active
    logged_in.post(url, {"active": "1"})
    stype.refresh_from_db()
    assert stype.is_active


def test_session_types_page_query_count_is_constant(logged_in, profile):
    url = reverse("sessions:dashboard_session_types")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(url).status_code == 200
        return len(ctx.captured_queries)

    SessionTypeFactory(therapist=profile)
    few = count()
    SessionTypeFactory.create_batch(10, therapist=profile)
    assert count() == few <= 5
