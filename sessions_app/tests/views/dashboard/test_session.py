"""The therapist's page for one session: who may see it, each action, and the private notes."""

import datetime as dt
import logging

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app import selectors, services
from sessions_app.exceptions import NotAllowed, ValidationFailed
from sessions_app.models import Session, SessionType, TherapistNote

from ...factories import (
    ClientFactory,
    SessionFactory,
    SessionTypeFactory,
    TherapistProfileFactory,
    UserFactory,
    future_slot,
)

pytestmark = pytest.mark.django_db

S = Session.Status
P = Session.PaymentStatus
SECRET_NOTE = "Client mentioned a sensitive family matter; follow up gently."


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


@pytest.fixture
def pending(stype):
    return SessionFactory(
        session_type=stype,
        client__full_name="Achieng Client",
        client__email="achieng@example.com",
        client__phone="+254712000111",
        client_notes="First time trying therapy.",
    )


@pytest.fixture
def other_therapist_client(client):
    client.force_login(TherapistProfileFactory().user)
    return client


def _url(name, session, *extra):
    return reverse(f"sessions:{name}", args=[session.pk, *extra])


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _status(session):
    session.refresh_from_db()
    return session.status


# --- The page --------------------------------------------------------------------------------


def test_page_shows_client_contact_notes_timeline_and_actions(logged_in, pending, profile):
    services.therapist_note_add(session=pending, actor=profile.user, body="Prepare intake form.")
    response = logged_in.get(_url("dashboard_session", pending))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ["Achieng Client", "achieng@example.com", "+254712000111", "First time trying therapy."]:
        assert text in html
    assert "Prepare intake form." in html
    assert response.context["actions"] == ["approve", "decline", "cancel"]
    assert _url("dashboard_session_approve", pending) in html
    assert "expires in" in html


def test_page_query_count_is_constant(logged_in, pending, profile):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(_url("dashboard_session", pending)).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(10):
        services.therapist_note_add(session=pending, actor=profile.user, body=f"note {i}")
    services.session_approve(session=pending, actor=profile.user)
    # Issue 18 added two: reading the intake answers, and recording that the note was read.
    assert count() == few <= 9


def test_another_therapists_session_is_404(other_therapist_client, pending):
    assert other_therapist_client.get(_url("dashboard_session", pending)).status_code == 404


def test_a_client_is_refused_even_their_own_session(client, pending):
    client.force_login(pending.client)
    response = client.get(_url("dashboard_session", pending))
    assert response.status_code == 403


def test_anonymous_is_sent_to_log_in(client, pending):
    response = client.get(_url("dashboard_session", pending))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sessions:login"))


# --- Approve and decline -----------------------------------------------------------------------


def test_approve(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_approve", pending))
    assert response.status_code == 302
    assert response["Location"] == _url("dashboard_session", pending)
    assert _status(pending) == S.APPROVED
    assert pending.pay_by is not None
    assert any(m.startswith(f"Approved {pending.reference}") for m in _messages(response))
    assert pending.events.filter(action="approve", actor__isnull=False).exists()


def test_approve_from_the_dashboard_returns_there(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_approve", pending), {"next": reverse("sessions:dashboard")})
    assert response["Location"] == reverse("sessions:dashboard")


def test_an_outside_next_is_ignored(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_approve", pending), {"next": "https://evil.example.com/"})
    assert response["Location"] == _url("dashboard_session", pending)


def test_approve_in_the_wrong_state_says_why_and_changes_nothing(logged_in, stype):
    session = SessionFactory(session_type=stype, confirmed=True)
    response = logged_in.post(_url("dashboard_session_approve", session), follow=True)
    assert "You cannot approve a session that is Confirmed." in response.content.decode()
    assert _status(session) == S.CONFIRMED
    assert not session.events.exists()


def test_approve_refused_for_another_therapist_and_a_client(other_therapist_client, pending):
    assert other_therapist_client.post(_url("dashboard_session_approve", pending)).status_code == 404
    other_therapist_client.force_login(pending.client)
    assert other_therapist_client.post(_url("dashboard_session_approve", pending)).status_code == 403
    assert _status(pending) == S.PENDING_APPROVAL


def test_actions_need_post(logged_in, pending):
    assert logged_in.get(_url("dashboard_session_approve", pending)).status_code == 405
    assert _status(pending) == S.PENDING_APPROVAL


def test_decline_with_reason(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_decline", pending), {"decline-reason": "Fully booked that week."})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == S.DECLINED
    assert pending.decline_reason == "Fully booked that week."


def test_decline_without_reason_shows_the_error_next_to_the_field(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_decline", pending), {"decline-reason": "   "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Please give a reason." in html
    assert 'aria-invalid="true"' in html
    assert _status(pending) == S.PENDING_APPROVAL


def test_decline_in_the_wrong_state(logged_in, stype):
    session = SessionFactory(session_type=stype, approved=True)
    response = logged_in.post(_url("dashboard_session_decline", session), {"decline-reason": "No"}, follow=True)
    assert "You cannot decline a session that is Approved." in response.content.decode()
    assert _status(session) == S.APPROVED


def test_decline_refused_for_another_therapist(other_therapist_client, pending):
    response = other_therapist_client.post(_url("dashboard_session_decline", pending), {"decline-reason": "x"})
    assert response.status_code == 404
    assert _status(pending) == S.PENDING_APPROVAL


# --- Cancel ----------------------------------------------------------------------------------


def test_cancel_a_paid_session_marks_the_refund(logged_in, stype):
    session = SessionFactory(session_type=stype, confirmed=True)
    page = logged_in.get(_url("dashboard_session", session)).content.decode()
    assert "marks their KES 3000 for a full refund" in page
    response = logged_in.post(_url("dashboard_session_cancel", session), {"cancel-reason": "I am unwell."})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == S.CANCELLED
    assert session.refund_due
    assert session.cancel_reason == "I am unwell."
    assert any("refund" in m for m in _messages(response))


def test_cancel_needs_a_reason(logged_in, pending):
    response = logged_in.post(_url("dashboard_session_cancel", pending), {"cancel-reason": ""})
    assert response.status_code == 400
    assert "Please give a reason." in response.content.decode()
    assert _status(pending) == S.PENDING_APPROVAL


def test_cancel_in_the_wrong_state(logged_in, stype):
    session = SessionFactory(session_type=stype, status=S.COMPLETED)
    response = logged_in.post(_url("dashboard_session_cancel", session), {"cancel-reason": "x"}, follow=True)
    assert "You cannot cancel a session that is Completed." in response.content.decode()
    assert _status(session) == S.COMPLETED


def test_cancel_refused_for_another_therapist(other_therapist_client, pending):
    response = other_therapist_client.post(_url("dashboard_session_cancel", pending), {"cancel-reason": "x"})
    assert response.status_code == 404
    assert _status(pending) == S.PENDING_APPROVAL


# --- Running the session -----------------------------------------------------------------------


def _confirmed_at(stype, start, **kwargs):
    return SessionFactory(session_type=stype, confirmed=True, start=start, **kwargs)


def test_start_from_fifteen_minutes_before(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() + dt.timedelta(minutes=10))
    response = logged_in.post(_url("dashboard_session_start", session))
    assert response.status_code == 302
    assert _status(session) == S.IN_PROGRESS


def test_start_too_early_says_when(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() + dt.timedelta(hours=3))
    response = logged_in.post(_url("dashboard_session_start", session), follow=True)
    assert "can be started from 15 minutes before its time" in response.content.decode()
    assert _status(session) == S.CONFIRMED


def test_start_after_the_end_is_refused(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() - dt.timedelta(hours=3))
    response = logged_in.post(_url("dashboard_session_start", session), follow=True)
    assert "time is over" in response.content.decode()
    assert _status(session) == S.CONFIRMED


def test_start_refused_for_another_therapist(other_therapist_client, stype):
    session = _confirmed_at(stype, timezone.now() + dt.timedelta(minutes=5))
    assert other_therapist_client.post(_url("dashboard_session_start", session)).status_code == 404
    assert _status(session) == S.CONFIRMED


def test_complete(logged_in, stype):
    session = SessionFactory(
        session_type=stype, status=S.IN_PROGRESS, payment_status=P.PAID, start=timezone.now() - dt.timedelta(minutes=30)
    )
    response = logged_in.post(_url("dashboard_session_complete", session))
    assert response.status_code == 302
    assert _status(session) == S.COMPLETED


def test_complete_before_starting_is_refused(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() - dt.timedelta(minutes=30))
    response = logged_in.post(_url("dashboard_session_complete", session), follow=True)
    assert "You cannot complete a session that is Confirmed." in response.content.decode()
    assert _status(session) == S.CONFIRMED


def test_complete_refused_for_another_therapist(other_therapist_client, stype):
    session = SessionFactory(session_type=stype, status=S.IN_PROGRESS, start=timezone.now() - dt.timedelta(minutes=5))
    assert other_therapist_client.post(_url("dashboard_session_complete", session)).status_code == 404
    assert _status(session) == S.IN_PROGRESS


def test_no_show_after_the_start(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() - dt.timedelta(minutes=20))
    response = logged_in.post(_url("dashboard_session_no_show", session))
    assert response.status_code == 302
    assert _status(session) == S.NO_SHOW


def test_no_show_before_the_start_is_refused(logged_in, stype):
    session = _confirmed_at(stype, timezone.now() + dt.timedelta(hours=2))
    response = logged_in.post(_url("dashboard_session_no_show", session), follow=True)
    assert "once the session&#x27;s time has begun" in response.content.decode()
    assert _status(session) == S.CONFIRMED


def test_no_show_refused_for_a_client(client, stype):
    session = _confirmed_at(stype, timezone.now() - dt.timedelta(minutes=20))
    client.force_login(session.client)
    assert client.post(_url("dashboard_session_no_show", session)).status_code == 403
    assert _status(session) == S.CONFIRMED


# --- Meeting link ------------------------------------------------------------------------------


def test_set_link_on_an_online_session(logged_in, stype):
    session = SessionFactory(session_type=stype, confirmed=True)
    response = logged_in.post(_url("dashboard_session_link", session), {"meeting_link": "https://meet.example.com/x"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.meeting_link == "https://meet.example.com/x"
    assert session.events.filter(action="set_link").exists()


def test_the_client_sees_the_link_on_their_page(logged_in, stype, client):
    session = SessionFactory(session_type=stype, confirmed=True)
    logged_in.post(_url("dashboard_session_link", session), {"meeting_link": "https://meet.example.com/abc"})
    client.force_login(session.client)
    response = client.get(reverse("sessions:session_detail", args=[session.pk]))
    assert "https://meet.example.com/abc" in response.content.decode()


def test_a_bad_link_is_an_error_next_to_the_field(logged_in, stype):
    session = SessionFactory(session_type=stype, confirmed=True)
    response = logged_in.post(_url("dashboard_session_link", session), {"meeting_link": "javascript:alert(1)"})
    assert response.status_code == 400
    assert "Enter a full web address" in response.content.decode()
    session.refresh_from_db()
    assert session.meeting_link == ""


def test_no_link_for_an_in_person_session(logged_in, profile):
    stype = SessionTypeFactory(therapist=profile, mode=SessionType.Mode.IN_PERSON)
    session = SessionFactory(session_type=stype, confirmed=True)
    assert "Meeting link" not in logged_in.get(_url("dashboard_session", session)).content.decode()
    response = logged_in.post(
        _url("dashboard_session_link", session), {"meeting_link": "https://meet.example.com/x"}, follow=True
    )
    assert "Only online sessions have a meeting link." in response.content.decode()
    session.refresh_from_db()
    assert session.meeting_link == ""


def test_no_link_on_a_pending_request(logged_in, pending):
    response = logged_in.post(
        _url("dashboard_session_link", pending), {"meeting_link": "https://meet.example.com/x"}, follow=True
    )
    assert "The link can be set on an approved, confirmed or running session." in response.content.decode()
    pending.refresh_from_db()
    assert pending.meeting_link == ""


def test_link_refused_for_another_therapist(other_therapist_client, stype):
    session = SessionFactory(session_type=stype, confirmed=True)
    response = other_therapist_client.post(
        _url("dashboard_session_link", session), {"meeting_link": "https://meet.example.com/x"}
    )
    assert response.status_code == 404
    session.refresh_from_db()
    assert session.meeting_link == ""


# --- Private notes -----------------------------------------------------------------------------


def test_add_edit_and_delete_a_note(logged_in, pending, profile):
    response = logged_in.post(_url("dashboard_note_add", pending), {"body": SECRET_NOTE})
    assert response.status_code == 302
    note = TherapistNote.objects.get()
    assert (note.therapist, note.session, note.body) == (profile, pending, SECRET_NOTE)

    page = logged_in.get(_url("dashboard_session", pending), {"edit_note": note.pk})
    assert f'name="note{note.pk}-body"' in page.content.decode()
    response = logged_in.post(_url("dashboard_note_edit", pending, note.pk), {f"note{note.pk}-body": "Shorter."})
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.body == "Shorter."

    response = logged_in.post(_url("dashboard_note_delete", pending, note.pk))
    assert response.status_code == 302
    assert not TherapistNote.objects.exists()


def test_an_empty_note_is_an_error(logged_in, pending, profile):
    response = logged_in.post(_url("dashboard_note_add", pending), {"body": "  "})
    assert response.status_code == 400
    assert "Write the note first." in response.content.decode()
    note = services.therapist_note_add(session=pending, actor=profile.user, body="Keep")
    response = logged_in.post(_url("dashboard_note_edit", pending, note.pk), {f"note{note.pk}-body": ""})
    assert response.status_code == 400
    note.refresh_from_db()
    assert note.body == "Keep"


def test_another_therapist_cannot_read_or_touch_notes(other_therapist_client, pending, profile):
    note = services.therapist_note_add(session=pending, actor=profile.user, body=SECRET_NOTE)
    c = other_therapist_client
    assert c.get(_url("dashboard_session", pending)).status_code == 404
    assert c.post(_url("dashboard_note_add", pending), {"body": "x"}).status_code == 404
    assert c.post(_url("dashboard_note_edit", pending, note.pk), {f"note{note.pk}-body": "x"}).status_code == 404
    assert c.post(_url("dashboard_note_delete", pending, note.pk)).status_code == 404
    note.refresh_from_db()
    assert note.body == SECRET_NOTE
    assert TherapistNote.objects.count() == 1


def test_a_note_cannot_be_reached_through_another_session(logged_in, stype, profile, pending):
    note = services.therapist_note_add(session=pending, actor=profile.user, body=SECRET_NOTE)
    other_session = SessionFactory(session_type=stype, start=future_slot(days=9))
    assert logged_in.post(_url("dashboard_note_delete", other_session, note.pk)).status_code == 404
    assert TherapistNote.objects.filter(pk=note.pk).exists()


def test_notes_are_for_the_sessions_therapist_alone(pending, profile):
    services.therapist_note_add(session=pending, actor=profile.user, body=SECRET_NOTE)
    staff = UserFactory(staff=True)
    other = TherapistProfileFactory().user
    for user in (pending.client, staff, other, ClientFactory()):
        assert list(selectors.therapist_notes_for(session=pending, user=user)) == []
    assert [n.body for n in selectors.therapist_notes_for(session=pending, user=profile.user)] == [SECRET_NOTE]


@pytest.mark.parametrize("who", ["client", "staff", "other_therapist"])
def test_only_the_sessions_therapist_may_write_notes(pending, who):
    actor = {
        "client": lambda: pending.client,
        "staff": lambda: UserFactory(staff=True),
        "other_therapist": lambda: TherapistProfileFactory().user,
    }[who]()
    with pytest.raises(NotAllowed):
        services.therapist_note_add(session=pending, actor=actor, body="x")
    assert not TherapistNote.objects.exists()


def test_note_service_validates_the_body(pending, profile):
    with pytest.raises(ValidationFailed) as exc:
        services.therapist_note_add(session=pending, actor=profile.user, body="x" * 10_001)
    assert exc.value.field == "body"


def test_the_client_never_sees_the_notes(client, pending, profile):
    services.therapist_note_add(session=pending, actor=profile.user, body=SECRET_NOTE)
    client.force_login(pending.client)
    for url in [reverse("sessions:session_detail", args=[pending.pk]), reverse("sessions:my_sessions")]:
        response = client.get(url)
        assert response.status_code == 200
        assert SECRET_NOTE not in response.content.decode()
    api = client.get(f"/api/sessions/{pending.pk}")
    assert SECRET_NOTE not in api.content.decode()


def test_staff_admin_does_not_show_note_bodies(client, pending, profile):
    services.therapist_note_add(session=pending, actor=profile.user, body=SECRET_NOTE)
    assert TherapistNote not in admin.site._registry
    client.force_login(UserFactory(staff=True))
    for url in [
        reverse("admin:sessions_app_session_changelist"),
        reverse("admin:sessions_app_session_change", args=[pending.pk]),
        reverse("admin:sessions_app_sessionevent_changelist"),
        reverse("admin:sessions_app_therapistprofile_change", args=[profile.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200
        assert SECRET_NOTE not in response.content.decode()


def test_note_bodies_are_not_logged(logged_in, pending, caplog):
    with caplog.at_level(logging.DEBUG):
        logged_in.post(_url("dashboard_note_add", pending), {"body": SECRET_NOTE})
        logged_in.get(_url("dashboard_session", pending))
    assert TherapistNote.objects.count() == 1
    assert SECRET_NOTE not in caplog.text
    assert SECRET_NOTE not in str(TherapistNote.objects.get())
