"""The booking stepper: four steps kept in the Django session, one session per submission."""

import datetime as dt
import re
import zoneinfo
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app import selectors
from sessions_app.models import Session

from ...factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

BOOK = reverse("sessions:book")
TIME = reverse("sessions:book_time")
DETAILS = reverse("sessions:book_details")
REVIEW = reverse("sessions:book_review")
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


@pytest.fixture
def booker(client):
    user = ClientFactory(phone="+254712345678", time_zone="Africa/Nairobi")
    client.force_login(user)
    return user


@pytest.fixture
def offer():
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo")
    return therapist, SessionTypeFactory(therapist=therapist, name="Individual session", price_kes=3500)


def _first_free(therapist, session_type, tz=NAIROBI):
    now = timezone.now()
    return selectors.free_slots(
        therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=14)
    )[0]


def _to_review(client, therapist, session_type, *, start=None, notes="Mornings suit me.", phone="0712 345 678"):
    start = start or _first_free(therapist, session_type)
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    day = start.astimezone(NAIROBI).date().isoformat()
    response = client.post(TIME, {"date": day, "start": start.isoformat()})
    assert response["Location"] == DETAILS, response.content.decode()[:2000]
    response = client.post(DETAILS, {"notes": notes, "phone": phone, "agree_policy": "on"})
    assert response["Location"] == REVIEW
    return start


# --- Who may book -------------------------------------------------------------------------


def test_logged_out_people_log_in_and_come_back(client, offer):
    therapist, session_type = offer
    query = urlencode({"therapist": therapist.pk, "session_type": session_type.pk})
    response = client.get(f"{BOOK}?{query}")
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:login") + "?next=" + f"{BOOK}?{query}".replace("?", "%3F").replace(
        "&", "%26"
    ).replace("=", "%3D")
    for url in (TIME, DETAILS, REVIEW, reverse("sessions:book_confirmed", args=[1])):
        assert client.get(url)["Location"].startswith(reverse("sessions:login"))


@pytest.mark.parametrize("role", ["therapist", "staff"])
def test_only_clients_can_book(client, offer, role):
    therapist, session_type = offer
    user = therapist.user if role == "therapist" else UserFactory(staff=True)
    client.force_login(user)
    for url in (f"{BOOK}?therapist={therapist.pk}", TIME, DETAILS, REVIEW):
        response = client.get(url)
        assert response.status_code == 403
        assert "Only client accounts can book sessions." in response.content.decode()
    assert client.post(REVIEW).status_code == 403
    assert not Session.objects.exists()


# --- Step 1 -------------------------------------------------------------------------------


def test_step_one_without_a_therapist_offers_a_choice(client, booker, offer):
    response = client.get(BOOK)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'for="id_therapist"' in html and "Amina Odhiambo" in html


def test_step_one_unknown_therapist_is_an_error_next_to_the_field(client, booker, offer):
    response = client.get(BOOK, {"therapist": "999999"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_therapist_error"' in html and "choose a therapist from the list" in html
    assert 'aria-invalid="true"' in html


def test_step_one_with_a_therapist_lists_the_active_session_types(client, booker, offer):
    therapist, session_type = offer
    SessionTypeFactory(therapist=therapist, name="Retired", is_active=False)
    response = client.get(BOOK, {"therapist": therapist.pk})
    assert response["Location"] == BOOK
    html = client.get(BOOK).content.decode()
    assert "Individual session: 60 min, online, KES 3,500" in html
    assert "Retired" not in html
    assert 'aria-current="step"' in html


def test_step_one_needs_a_session_type(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk})
    response = client.post(BOOK, {})
    assert response.status_code == 200
    assert "Please choose a session type." in response.content.decode()
    other = SessionTypeFactory()  # another therapist's type
    response = client.post(BOOK, {"session_type": other.pk})
    assert "Please choose one of the session types offered." in response.content.decode()
    response = client.post(BOOK, {"session_type": session_type.pk})
    assert response["Location"] == TIME


def test_a_book_link_with_a_time_preselects_it(client, booker, offer):
    therapist, session_type = offer
    start = _first_free(therapist, session_type)
    response = client.get(
        BOOK, {"therapist": therapist.pk, "session_type": session_type.pk, "start": start.isoformat()}
    )
    day = start.astimezone(NAIROBI).date().isoformat()
    assert response["Location"] == f"{TIME}?date={day}"
    html = client.get(response["Location"]).content.decode()
    assert re.search(rf'value="{re.escape(start.isoformat())}"[^>]*checked', html)


# --- Step 2 -------------------------------------------------------------------------------


def test_step_two_needs_step_one(client, booker):
    response = client.get(TIME)
    assert response["Location"] == BOOK


def test_step_two_defaults_to_the_first_day_with_free_times_and_names_the_zone(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    response = client.get(TIME)
    assert response.status_code == 200
    first = _first_free(therapist, session_type)
    assert response.context["day"] == first.astimezone(NAIROBI).date()
    html = response.content.decode()
    assert "Africa/Nairobi" in html
    assert f">{first.astimezone(NAIROBI):%H:%M}</label>" in html


def test_step_two_shows_times_in_the_clients_zone(client, offer):
    therapist, session_type = offer
    therapist.weekly_hours.all().delete()
    for weekday in range(7):
        therapist.weekly_hours.create(weekday=weekday, start_time=dt.time(9), end_time=dt.time(10))
    london = zoneinfo.ZoneInfo("Europe/London")
    client.force_login(ClientFactory(time_zone="Europe/London"))
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    html = client.get(TIME).content.decode()
    first = _first_free(therapist, session_type)
    assert f"{first.astimezone(london):%H:%M}" in {"06:00", "07:00"}
    assert f">{first.astimezone(london):%H:%M}</label>" in html
    assert "Europe/London" in html


def test_step_two_other_day_and_bad_dates(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    later = (timezone.now().astimezone(NAIROBI) + dt.timedelta(days=5)).date()
    response = client.get(TIME, {"date": later.isoformat()})
    assert response.context["day"] == later
    assert len(response.context["slots"]) == 19  # 08:00 to 17:00 every 30 min (60-min sessions end by 18:00)
    for bad, message in [
        ("2020-01-01", "or later"),
        ((later + dt.timedelta(days=400)).isoformat(), "choose an earlier date"),
        ("not-a-date", "Enter a date as YYYY-MM-DD."),
    ]:
        response = client.get(TIME, {"date": bad})
        assert response.status_code == 200
        html = response.content.decode()
        assert 'id="id_date_error"' in html and message in html


def test_step_two_a_day_without_times_says_so(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    today = timezone.now().astimezone(NAIROBI).date()  # inside the minimum notice: nothing free
    response = client.get(TIME, {"date": today.isoformat()})
    assert "No free times on this day." in response.content.decode()


def test_step_two_must_pick_a_free_time(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    start = _first_free(therapist, session_type)
    day = start.astimezone(NAIROBI).date().isoformat()
    response = client.post(TIME, {"date": day})
    assert "Please choose a time." in response.content.decode()
    taken = (start + dt.timedelta(minutes=7)).isoformat()
    response = client.post(TIME, {"date": day, "start": taken})
    html = response.content.decode()
    assert "That time is no longer free." in html and 'id="id_start_error"' in html


# --- Step 3 -------------------------------------------------------------------------------


def test_step_three_prefills_the_phone_and_shows_the_policy(client, booker, offer, settings):
    settings.BOOKING_FREE_CANCEL_HOURS = 24
    therapist, session_type = offer
    start = _first_free(therapist, session_type)
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(TIME, {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()})
    response = client.get(DETAILS)
    html = response.content.decode()
    assert 'value="0712345678"' in html
    assert "Cancellation policy" in html and "up to 24 hours before the start" in html


def test_step_three_needs_a_time(client, booker, offer):
    therapist, session_type = offer
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    assert client.get(DETAILS)["Location"] == TIME
    assert client.get(REVIEW)["Location"] == TIME


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"phone": "12345"}, "phone", "07XX XXX XXX"),
        ({"phone": ""}, "phone", "This field is required"),
        ({"agree_policy": ""}, "agree_policy", "agree to the cancellation policy"),
        ({"notes": "x" * 2001}, "notes", "at most 2000 characters"),
    ],
)
def test_step_three_errors(client, booker, offer, data, field, message):
    therapist, session_type = offer
    start = _first_free(therapist, session_type)
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(TIME, {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()})
    response = client.post(DETAILS, {"notes": "", "phone": "0712345678", "agree_policy": "on", **data})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'id="id_{field}_error">.*{re.escape(message)}', html)
    assert client.get(REVIEW)["Location"] == DETAILS


# --- Step 4 and the confirmation ----------------------------------------------------------


def test_review_then_submit_creates_one_pending_session(client, booker, offer):
    therapist, session_type = offer
    start = _to_review(client, therapist, session_type)
    response = client.get(REVIEW)
    html = response.content.decode()
    assert "Amina Odhiambo" in html and "KES 3,500" in html and "Mornings suit me." in html and "0712345678" in html
    response = client.post(REVIEW)
    session = Session.objects.get()
    assert response["Location"] == reverse("sessions:book_confirmed", args=[session.pk])
    assert (session.client, session.therapist, session.session_type, session.start) == (
        booker,
        therapist,
        session_type,
        start,
    )
    assert session.status == Session.Status.PENDING_APPROVAL
    assert session.client_notes == "Mornings suit me."
    assert session.idempotency_key
    assert client.session["mpesa_phones"] == {str(session.pk): "254712345678"}
    html = client.get(response["Location"]).content.decode()
    assert "Pending Approval" in html and session.reference in html
    assert "answers by" in html and "with M-Pesa" in html


def test_submitting_twice_creates_one_session(client, booker, offer):
    therapist, session_type = offer
    _to_review(client, therapist, session_type)
    first = client.post(REVIEW)
    second = client.post(REVIEW)  # reload or double click
    assert Session.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_a_second_tab_replaying_the_same_key_gets_the_same_session(client, booker, offer):
    therapist, session_type = offer
    _to_review(client, therapist, session_type)
    state = client.session["booking"]
    client.post(REVIEW)
    # The same stepper state posted again (e.g. restored from another tab before the first finished).
    session = client.session
    session["booking"] = state
    session.save()
    client.post(REVIEW)
    assert Session.objects.count() == 1


def test_a_new_booking_after_submitting_gets_a_new_key(client, booker, offer):
    therapist, session_type = offer
    start = _to_review(client, therapist, session_type)
    client.post(REVIEW)
    _to_review(client, therapist, session_type, start=start + dt.timedelta(days=1))
    client.post(REVIEW)
    assert Session.objects.count() == 2
    assert len(set(Session.objects.values_list("idempotency_key", flat=True))) == 2


def test_a_slot_taken_meanwhile_sends_the_client_back_to_step_two_with_fresh_times(client, booker, offer):
    therapist, session_type = offer
    start = _to_review(client, therapist, session_type)
    SessionFactory(session_type=session_type, start=start)  # someone else got there first
    response = client.post(REVIEW, follow=True)
    assert Session.objects.count() == 1
    assert response.redirect_chain[-1][0] == f"{TIME}?date={start.astimezone(NAIROBI).date().isoformat()}"
    html = response.content.decode()
    assert "that time has just been taken" in html
    assert start not in response.context["slots"]
    assert client.session["booking"]["start"] is None
    assert client.get(REVIEW)["Location"] == TIME


def test_back_and_forward_keep_the_choices(client, booker, offer):
    therapist, session_type = offer
    start = _to_review(client, therapist, session_type, notes="Quiet room please.")
    html = client.get(BOOK).content.decode()
    assert re.search(rf'value="{session_type.pk}"[^>]*checked', html)
    html = client.get(TIME).content.decode()
    assert re.search(rf'value="{re.escape(start.isoformat())}"[^>]*checked', html)
    html = client.get(DETAILS).content.decode()
    assert "Quiet room please." in html and "checked" in html
    # Choosing the same type again keeps the time; another type clears it.
    client.post(BOOK, {"session_type": session_type.pk})
    assert client.session["booking"]["start"] == start.isoformat()
    other = SessionTypeFactory(therapist=therapist, name="Short", duration_minutes=30)
    client.post(BOOK, {"session_type": other.pk})
    assert client.session["booking"]["start"] is None


def test_the_daily_request_limit_shows_a_message(client, booker, offer, settings):
    settings.BOOKING_REQUESTS_PER_DAY = 0
    therapist, session_type = offer
    _to_review(client, therapist, session_type)
    response = client.post(REVIEW, follow=True)
    assert not Session.objects.exists()
    assert "daily limit" in response.content.decode()


def test_a_therapist_no_longer_taking_clients(client, booker, offer):
    therapist, session_type = offer
    _to_review(client, therapist, session_type)
    therapist.accepting_new_clients = False
    therapist.save()
    response = client.post(REVIEW, follow=True)
    assert not Session.objects.exists()
    assert "not taking new clients" in response.content.decode()


def test_restart_starts_over(client, booker, offer):
    therapist, session_type = offer
    _to_review(client, therapist, session_type)
    response = client.get(BOOK, {"restart": "1"})
    assert 'for="id_therapist"' in response.content.decode()
    assert "booking" not in client.session


def test_confirmation_of_another_clients_session_is_404(client, booker):
    other = SessionFactory()
    assert client.get(reverse("sessions:book_confirmed", args=[other.pk])).status_code == 404


def test_step_three_can_save_the_number_on_the_profile(client, booker, offer):
    therapist, session_type = offer
    start = _first_free(therapist, session_type)
    client.get(BOOK, {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(TIME, {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()})
    client.post(DETAILS, {"phone": "0799 000 111", "agree_policy": "on"})
    booker.refresh_from_db()
    assert booker.phone == "+254712345678"  # not asked to save: the profile keeps its number
    response = client.post(DETAILS, {"phone": "0799 000 111", "agree_policy": "on", "save_phone": "on"})
    assert response["Location"] == REVIEW
    booker.refresh_from_db()
    assert booker.phone == "+254799000111"
    assert client.session["booking"]["phone"] == "254799000111"
