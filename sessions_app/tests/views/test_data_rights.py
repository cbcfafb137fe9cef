"""The profile's data rights over HTTP: the readable page, the JSON download, a correction request, deleting."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse
from rest_framework.authtoken.models import Token

from sessions_app.models import CorrectionRequest, Session, User
from sessions_app.services import audit_record

from ..factories import PASSWORD, ClientFactory, SessionFactory, UserFactory, future_slot

pytestmark = pytest.mark.django_db

DATA = reverse("sessions:my_data")
DOWNLOAD = reverse("sessions:my_data_download")
CORRECT = reverse("sessions:correction_request")
DELETE = reverse("sessions:delete_account")


@pytest.fixture
def person():
    return ClientFactory(full_name="Achieng Data-Owner", email="achieng.owner@example.com", phone="+254711222333")


@pytest.fixture
def signed_in(client, person):
    client.force_login(person)
    return client


@pytest.mark.parametrize("url", [DATA, DOWNLOAD, CORRECT, DELETE])
def test_anonymous_people_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("sessions:login"))


def test_the_profile_links_every_right(signed_in):
    html = signed_in.get(reverse("sessions:profile")).content.decode()
    for url in (DATA, DOWNLOAD, CORRECT, DELETE):
        assert f'href="{url}"' in html


def test_the_json_download_is_a_file_of_everything(signed_in, person):
    session = SessionFactory(client=person, client_notes="about my week")
    staff = UserFactory(staff=True)
    audit_record(actor=staff, action="view", model="sessions_app.session", object_id=str(session.pk))
    response = signed_in.get(DOWNLOAD)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert re.fullmatch(r'attachment; filename="my-data-\d{8}\.json"', response["Content-Disposition"])
    assert response["Cache-Control"] == "no-store"
    export = json.loads(response.content)
    assert export["account"]["email"] == "achieng.owner@example.com"
    sessions = next(s for s in export["sections"] if s["model"] == "sessions_app.Session")
    assert [row["client_notes"] for row in sessions["rows"]] == ["about my week"]
    assert [(v["action"], v["record"]) for v in export["viewed_by"]] == [("Viewed", str(session.pk))]
    assert person.password not in response.content.decode()


def test_the_readable_page_shows_the_same(signed_in, person):
    SessionFactory(client=person, client_notes="about my week")
    response = signed_in.get(DATA)
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Everything we hold about you", "achieng.owner@example.com", "+254711222333", "about my week"):
        assert text in html
    assert "Who viewed your data" in html and "No staff member has opened your records." in html
    assert f'href="{DOWNLOAD}"' in html


def test_the_data_pages_answer_only_get(signed_in):
    assert signed_in.post(DATA).status_code == 405
    assert signed_in.post(DOWNLOAD).status_code == 405


def test_a_correction_request_is_recorded_and_staff_told(signed_in, person, django_capture_on_commit_callbacks):
    UserFactory(staff=True, email="desk@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(CORRECT, {"message": "My second name is spelt Achieng'."})
    assert response.status_code == 302 and response["Location"] == reverse("sessions:profile")
    (request,) = CorrectionRequest.objects.all()
    assert request.user == person and request.message == "My second name is spelt Achieng'."
    assert [m.to for m in mail.outbox] == [["desk@example.com"]]


def test_an_empty_correction_request_is_a_form_error_and_records_nothing(signed_in):
    response = signed_in.post(CORRECT, {"message": "   "})
    assert response.status_code == 200
    assert 'id="id_message_error"' in response.content.decode()
    assert not CorrectionRequest.objects.exists()


def test_the_delete_page_warns_and_lists_the_bookings_it_cancels(signed_in, person):
    booking = SessionFactory(client=person, confirmed=True, start=future_slot(days=5))
    html = signed_in.get(DELETE).content.decode()
    assert "This cannot be undone" in html and booking.reference in html
    assert "refunded" in html  # the policy's words for a paid booking cancelled early


def test_a_wrong_password_or_no_confirmation_deletes_nothing(signed_in, person):
    response = signed_in.post(DELETE, {"password": "not-it", "understood": "on"})
    assert response.status_code == 200 and "That is not your password." in response.content.decode()
    response = signed_in.post(DELETE, {"password": PASSWORD})
    assert response.status_code == 200 and "cannot be undone" in response.content.decode()
    person.refresh_from_db()
    assert person.is_active and person.erased_at is None and person.email == "achieng.owner@example.com"


def test_wrong_passwords_lock_the_delete_form(signed_in, person):
    for _ in range(5):
        signed_in.post(DELETE, {"password": "not-it", "understood": "on"})
    response = signed_in.post(DELETE, {"password": PASSWORD, "understood": "on"})
    assert response.status_code == 429 and "Too many wrong passwords" in response.content.decode()
    assert User.objects.get(pk=person.pk).is_active


def test_deleting_signs_out_everywhere_and_cancels_bookings(client, person, django_capture_on_commit_callbacks):
    booking = SessionFactory(client=person, start=future_slot(days=5))
    other_browser = client.__class__()
    other_browser.force_login(person)
    Token.objects.create(user=person)
    client.force_login(person)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DELETE, {"password": PASSWORD, "understood": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("sessions:account_deleted")
    assert SESSION_KEY not in client.session
    assert "Your account is deleted" in client.get(response["Location"]).content.decode()
    assert other_browser.get(reverse("sessions:profile")).status_code == 302  # signed out there too
    assert not Token.objects.filter(user=person).exists()
    booking.refresh_from_db()
    assert booking.status == Session.Status.CANCELLED
    person.refresh_from_db()
    assert person.erased_at is not None and person.full_name != "Achieng Data-Owner" and person.phone == ""
    assert not client.login(email="achieng.owner@example.com", password=PASSWORD)


def test_a_therapist_with_sessions_ahead_sees_why_and_cannot_delete(client):
    session = SessionFactory(confirmed=True, start=future_slot(days=4))
    therapist = session.therapist.user
    client.force_login(therapist)
    html = client.get(DELETE).content.decode()
    assert "cannot be deleted yet" in html and session.reference in html
    response = client.post(DELETE, {"password": PASSWORD, "understood": "on"})
    assert response.status_code == 409 and session.reference in response.content.decode()
    therapist.refresh_from_db()
    assert therapist.is_active and therapist.erased_at is None


def test_the_privacy_notice_states_the_retention_periods_in_force(client, settings):
    settings.RETENTION_CALLBACK_PAYLOAD_DAYS = 45
    settings.RETENTION_AUDIT_DAYS = 1000
    html = client.get(reverse("sessions:privacy")).content.decode()
    assert "removed after 45 days" in html and "kept 1000 days" in html
    assert "from your profile" in html
