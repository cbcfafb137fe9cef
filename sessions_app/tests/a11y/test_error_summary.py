"""Every form page's failed submit renders the error summary (issue 23), without a browser.

The summary (templates/partials/error_summary.html) sits at the top of <main>, before the page's heading,
with role="alert" and tabindex="-1"; it has one link per field in error, to that field's input, which is
on the page; an error about the whole form links to the form's first field. Each field keeps its own
message next to it. static/js/error-summary.js (moving focus) is tested in test_browser_a11y.py.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from html.parser import HTMLParser

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from sessions_app import selectors
from sessions_app.models import Session, TherapistNote

from ..factories import PASSWORD, ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory

pytestmark = pytest.mark.django_db

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


class _Page(HTMLParser):
    """The ids on the page, the summary's attributes and links, and where the summary and the h1 are."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.summaries: list[dict] = []
        self.links: list[tuple[str, str]] = []
        self._in_summary = 0
        self._href = None
        self._text = ""
        self.order: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if "data-error-summary" in attrs:
            self.summaries.append(attrs)
            self.order.append("summary")
            self._in_summary = 1
        elif self._in_summary and tag == "div":
            self._in_summary += 1
        if tag == "h1":
            self.order.append("h1")
        if self._in_summary and tag == "a":
            self._href, self._text = attrs.get("href"), ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if self._in_summary and tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join(self._text.split())))
            self._href = None
        if self._in_summary and tag == "div":
            self._in_summary -= 1


def summary_of(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode())
    return page


def assert_summary(response, *field_ids: str, status: int | None = None) -> list[tuple[str, str]]:
    """The summary is there, first in the content, and links to exactly these fields, each on the page."""
    if status is not None:
        assert response.status_code == status, response.status_code
    page = summary_of(response)
    assert len(page.summaries) == 1, f"{len(page.summaries)} error summaries"
    summary = page.summaries[0]
    assert summary["role"] == "alert"
    assert summary["tabindex"] == "-1"
    assert summary["aria-labelledby"] in page.ids
    assert page.order.index("summary") < page.order.index("h1"), "the summary is not at the top"
    hrefs = [href for href, _ in page.links]
    assert hrefs == [f"#{field_id}" for field_id in field_ids], hrefs
    for field_id in field_ids:
        assert field_id in page.ids, f"#{field_id} is not on the page"
    assert b'src="/static/js/error-summary.js"' in response.content
    return page.links


def assert_own_messages(response, *field_ids: str) -> None:
    """Each field keeps its own message next to it (Django's <ul id="id_x_error">)."""
    page = summary_of(response)
    for field_id in field_ids:
        assert f"{field_id}_error" in page.ids, f"{field_id} lost its own message"


# --- Accounts ---------------------------------------------------------------------------------


def test_sign_up(client):
    response = client.post(reverse("sessions:signup"), {"email": "not-an-email"})
    fields = ["id_full_name", "id_email", "id_phone", "id_password1", "id_password2", "id_time_zone", "id_consent"]
    links = assert_summary(response, *fields)
    assert_own_messages(response, *fields)
    assert ("#id_email", "Email: Enter a valid email address.") in links


def test_a_page_without_errors_has_no_summary(client):
    response = client.get(reverse("sessions:signup"))
    assert summary_of(response).summaries == []


def test_log_in_links_the_form_error_to_the_first_field(client):
    ClientFactory(email="njeri@example.com")
    response = client.post(reverse("sessions:login"), {"username": "njeri@example.com", "password": "wrong"})
    links = assert_summary(response, "id_username")
    assert "do not match an account" in links[0][1]


def test_profile(client):
    client.force_login(ClientFactory())
    response = client.post(reverse("sessions:profile"), {"full_name": "", "email": "x", "time_zone": "Mars/Base"})
    assert_summary(response, "id_full_name", "id_email", "id_phone", "id_time_zone")
    assert_own_messages(response, "id_full_name", "id_email", "id_phone", "id_time_zone")


def test_password_change(client):
    client.force_login(ClientFactory())
    response = client.post(reverse("sessions:password_change"), {})
    assert_summary(response, "id_old_password", "id_new_password1", "id_new_password2")


def test_password_reset(client):
    response = client.post(reverse("sessions:password_reset"), {"email": "nope"})
    assert_summary(response, "id_email")


def test_password_reset_confirm(client):
    user = ClientFactory()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    response = client.get(reverse("sessions:password_reset_confirm", args=[uid, token]), follow=True)
    set_password_url = response.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": "kahawa-asubuhi-2026", "new_password2": "other"})
    assert_summary(response, "id_new_password2")


def test_directory_filters(client):
    response = client.get(reverse("sessions:directory"), {"min_price": "lots", "max_price": "-1"})
    assert_summary(response, *[f"id_{name}" for name in response.context["form"].errors])
    assert len(summary_of(response).links) >= 1


# --- The booking steps ------------------------------------------------------------------------


@pytest.fixture
def offer():
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo")
    return therapist, SessionTypeFactory(therapist=therapist, name="Individual session")


@pytest.fixture
def booker(client):
    user = ClientFactory(phone="+254712345678", time_zone="Africa/Nairobi")
    client.force_login(user)
    return user


def _first_free(therapist, session_type):
    now = timezone.now()
    return selectors.free_slots(
        therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=14)
    )[0]


def test_step_1a_no_therapist(client, booker, offer):
    response = client.get(reverse("sessions:book"), {"therapist": ""})
    assert_summary(response, "id_therapist")
    assert_own_messages(response, "id_therapist")


def test_step_1b_no_session_type_links_to_the_first_radio(client, booker, offer):
    therapist, _ = offer
    client.get(reverse("sessions:book"), {"therapist": therapist.pk})
    response = client.post(reverse("sessions:book"), {})
    assert_summary(response, "id_session_type_0")


def test_step_2_no_time_shows_the_summary_at_the_top(client, booker, offer):
    therapist, session_type = offer
    client.get(reverse("sessions:book"), {"therapist": therapist.pk, "session_type": session_type.pk})
    day = _first_free(therapist, session_type).astimezone(NAIROBI).date().isoformat()
    response = client.post(reverse("sessions:book_time"), {"date": day})
    links = assert_summary(response, "id_start_0")
    assert links[0] == ("#id_start_0", "Start time: Please choose a time.")
    assert_own_messages(response, "id_start")
    # The skip link to the times, second on the page after "Skip to content".
    assert re.search(
        rb'<a class="skip-link" href="#main">.*?</a>\s*<a class="skip-link" href="#times">', response.content
    )
    assert 'id="times"' in response.content.decode()


def test_step_2_bad_day(client, booker, offer):
    therapist, session_type = offer
    client.get(reverse("sessions:book"), {"therapist": therapist.pk, "session_type": session_type.pk})
    response = client.get(reverse("sessions:book_time"), {"date": "1999-01-01"})
    assert_summary(response, "id_date")


def test_step_3_names_and_links_the_policy_checkbox(client, booker, offer):
    therapist, session_type = offer
    start = _first_free(therapist, session_type)
    client.get(reverse("sessions:book"), {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(
        reverse("sessions:book_time"),
        {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()},
    )
    response = client.post(reverse("sessions:book_details"), {"notes": "", "phone": "12"})
    links = assert_summary(response, "id_phone", "id_agree_policy")
    assert (
        links[1][1] == "I agree to the cancellation policy above: Please agree to the cancellation policy to continue."
    )
    assert b"Please correct the error" not in response.content


def test_client_cancel_without_reason(client, booker, offer):
    _, session_type = offer
    session = SessionFactory(client=booker, session_type=session_type)
    response = client.post(reverse("sessions:session_cancel", args=[session.pk]), {"reason": "  "})
    assert_summary(response, "id_reason")
    assert_own_messages(response, "id_reason")
    session.refresh_from_db()
    assert session.status == Session.Status.PENDING_APPROVAL


def test_pay_with_a_bad_number(client, booker, offer):
    _, session_type = offer
    session = SessionFactory(client=booker, session_type=session_type, approved=True)
    response = client.post(reverse("payments:pay", args=[session.pk]), {"phone": "12"})
    assert_summary(response, "id_phone")
    assert "phone-errors" in summary_of(response).ids  # the pay form's own message


# --- The therapist's dashboard ----------------------------------------------------------------


@pytest.fixture
def therapist(client):
    profile = TherapistProfileFactory()
    client.force_login(profile.user)
    return profile


def test_add_hours(client, therapist):
    response = client.post(reverse("sessions:dashboard_hours_add"), {"weekday": "9", "start_time": "", "end_time": "x"})
    assert_summary(response, "id_weekday", "id_start_time", "id_end_time", status=400)
    assert_own_messages(response, "id_weekday", "id_start_time", "id_end_time")


def test_add_time_off(client, therapist):
    response = client.post(reverse("sessions:dashboard_time_off_add"), {})
    assert_summary(response, "id_start", "id_end", status=400)


def test_settings(client, therapist):
    response = client.post(reverse("sessions:dashboard_settings"), {"buffer_minutes": "-5"})
    page = summary_of(response)
    assert "#id_buffer_minutes" in [href for href, _ in page.links]
    assert_summary(response, *[href[1:] for href, _ in page.links])


def test_new_session_type(client, therapist):
    response = client.post(reverse("sessions:dashboard_session_types"), {})
    assert_summary(response, "id_name", "id_duration_minutes", "id_price_kes", "id_mode_0")


def test_edit_session_type(client, therapist):
    session_type = SessionTypeFactory(therapist=therapist)
    response = client.post(reverse("sessions:dashboard_session_type_edit", args=[session_type.pk]), {"name": ""})
    assert_summary(response, "id_name", "id_duration_minutes", "id_price_kes", "id_mode_0")


@pytest.fixture
def request_for(therapist):
    return SessionFactory(session_type=SessionTypeFactory(therapist=therapist))


def test_decline_without_reason(client, request_for):
    response = client.post(reverse("sessions:dashboard_session_decline", args=[request_for.pk]), {"decline-reason": ""})
    assert_summary(response, "id_decline-reason", status=400)
    assert_own_messages(response, "id_decline-reason")


def test_therapist_cancel_without_reason(client, request_for):
    response = client.post(reverse("sessions:dashboard_session_cancel", args=[request_for.pk]), {"cancel-reason": ""})
    assert_summary(response, "id_cancel-reason", status=400)


def test_meeting_link(client, therapist):
    session = SessionFactory(session_type=SessionTypeFactory(therapist=therapist), approved=True)
    response = client.post(
        reverse("sessions:dashboard_session_link", args=[session.pk]), {"meeting_link": "not a link"}
    )
    assert_summary(response, "id_meeting_link", status=400)


def test_notes(client, therapist, request_for):
    response = client.post(reverse("sessions:dashboard_note_add", args=[request_for.pk]), {"body": ""})
    assert_summary(response, "id_body", status=400)
    note = TherapistNote.objects.create(session=request_for, therapist=therapist, body="First call went well.")
    url = reverse("sessions:dashboard_note_edit", args=[request_for.pk, note.pk])
    response = client.post(url, {f"note{note.pk}-body": ""})
    assert_summary(response, f"id_note{note.pk}-body", status=400)


def test_decline_from_the_overview_lands_on_the_session_page_with_the_summary(client, request_for):
    """The overview's quick decline form has no Django form: a blank reason shows the session page's summary."""
    response = client.post(
        reverse("sessions:dashboard_session_decline", args=[request_for.pk]),
        {"decline-reason": " ", "next": reverse("sessions:dashboard")},
    )
    assert_summary(response, "id_decline-reason", status=400)


def test_password_is_not_echoed_in_the_summary(client):
    """The summary repeats error messages, never what was typed."""
    response = client.post(reverse("sessions:signup"), {"password1": PASSWORD, "password2": "different-2026-x"})
    assert PASSWORD not in response.content.decode()


# --- Issue 18: the intake step, the intake editor, the consent page ---------------------------


def test_intake_step_links_each_unanswered_question(client, booker, offer):
    from sessions_app.services import intake_forms

    from ..privacy.helpers import intake_form

    therapist, session_type = offer
    questions = intake_form(session_type)
    start = selectors.free_slots(
        therapist=therapist,
        session_type=session_type,
        window_start=timezone.now(),
        window_end=timezone.now() + dt.timedelta(days=14),
    )[0]
    client.get(reverse("sessions:book"), {"therapist": therapist.pk, "session_type": session_type.pk})
    client.post(
        reverse("sessions:book_time"),
        {"date": start.astimezone(NAIROBI).date().isoformat(), "start": start.isoformat()},
    )
    client.post(reverse("sessions:book_details"), {"phone": "0712 345 678", "agree_policy": "on"})
    response = client.post(reverse("sessions:book_intake"), {})
    first, yes_no = (intake_forms.field_name(q) for q in (questions[0], questions[4]))
    assert_summary(response, f"id_{first}", f"id_{yes_no}_0", status=400)
    assert_own_messages(response, f"id_{first}", f"id_{yes_no}")


def test_intake_editor(client, therapist):
    session_type = SessionTypeFactory(therapist=therapist)
    response = client.post(reverse("sessions:dashboard_intake", args=[session_type.pk]), {"kind": "one_choice"})
    assert_summary(response, "id_text", status=400)
    response = client.post(
        reverse("sessions:dashboard_intake", args=[session_type.pk]), {"text": "Pick", "kind": "one_choice"}
    )
    assert_summary(response, "id_choices", status=400)


def test_consent_page(client, settings):
    client.force_login(ClientFactory(consented=False))
    response = client.post(reverse("sessions:consent"), {})
    assert_summary(response, "id_agree", status=400)
    assert_own_messages(response, "id_agree")
