"""Issue 18, the note promise: a client's booking note and intake answers, every read path, every role.

Only the session's therapist (and the client, for their own) sees them; staff and the admin never do,
except through "view with reason", which is recorded and shown to the client.
"""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import AuditEntry, SensitiveAccess

from ..factories import ClientFactory, SessionFactory, TherapistProfileFactory, UserFactory
from .helpers import ANSWER, NOTE, sensitive_session

pytestmark = pytest.mark.django_db

SECRETS = (NOTE, ANSWER, "Sleeping four hours")


def _shows_none(html: str) -> None:
    for secret in SECRETS:
        assert secret not in html


def _api(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api


@pytest.fixture
def session():
    return sensitive_session()


# --- The session's own therapist -------------------------------------------------------------


def test_the_therapist_reads_note_and_answers_and_each_read_is_recorded(client, session):
    therapist = session.therapist.user
    client.force_login(therapist)
    url = reverse("sessions:dashboard_session", args=[session.pk])
    for _ in range(2):
        html = client.get(url).content.decode()
        assert NOTE in html and ANSWER in html
        assert "What brings you here?" in html and "Fri, Mon" not in html and "Mon, Fri" in html
        assert "Have you seen a therapist before?" in html and "<dd>No</dd>" in html
    reads = list(SensitiveAccess.objects.filter(session=session))
    assert len(reads) == 2
    assert {(r.actor_id, r.subject_id, r.kind, r.reason) for r in reads} == {
        (therapist.pk, session.client_id, SensitiveAccess.Kind.BOTH, "")
    }


def test_the_therapist_api_shows_the_note_never_the_answers(session):
    data = _api(session.therapist.user).get(f"/api/sessions/{session.pk}").json()
    assert data["notes"] == NOTE
    assert ANSWER not in str(data)


# --- The client, for their own ----------------------------------------------------------------


def test_the_client_sees_their_own_note_and_answers(client, session):
    client.force_login(session.client)
    html = client.get(reverse("sessions:session_detail", args=[session.pk])).content.decode()
    assert NOTE in html and ANSWER in html
    assert "Nobody but your therapist" in html
    data = _api(session.client).get(f"/api/sessions/{session.pk}").json()
    assert data["notes"] == NOTE and ANSWER not in str(data)
    assert not SensitiveAccess.objects.exists()  # one's own data: nothing to account for


def test_another_client_gets_nothing(client, session):
    other = ClientFactory()
    client.force_login(other)
    response = client.get(reverse("sessions:session_detail", args=[session.pk]))
    assert response.status_code == 404
    _shows_none(response.content.decode())
    response = _api(other).get(f"/api/sessions/{session.pk}")
    assert response.status_code == 404
    _shows_none(response.content.decode())
    listed = _api(other).get("/api/sessions").content.decode()
    _shows_none(listed)


# --- Another therapist ------------------------------------------------------------------------


def test_another_therapist_gets_nothing(client, session):
    other = TherapistProfileFactory().user
    client.force_login(other)
    response = client.get(reverse("sessions:dashboard_session", args=[session.pk]))
    assert response.status_code == 404
    _shows_none(response.content.decode())
    for url in (reverse("sessions:dashboard"), reverse("sessions:dashboard_sessions")):
        _shows_none(client.get(url).content.decode())
    assert _api(other).get(f"/api/sessions/{session.pk}").status_code == 404
    _shows_none(_api(other).get("/api/sessions").content.decode())
    assert not SensitiveAccess.objects.exists()


# --- Staff and the admin ----------------------------------------------------------------------


@pytest.fixture
def staff():
    return UserFactory(staff=True, full_name="Njeri Staff")


def test_staff_never_see_them_in_the_admin(client, session, staff):
    client.force_login(staff)
    pages = [
        reverse("admin:sessions_app_session_change", args=[session.pk]),
        reverse("admin:sessions_app_session_changelist"),
        reverse("admin:sessions_app_session_changelist") + "?q=Panic",
        reverse("admin:sessions_app_session_changelist") + "?q=" + session.client.email,
        reverse("admin:sessions_app_sessionevent_changelist"),
        reverse("admin:sessions_app_user_change", args=[session.client_id]),
        reverse("admin:sessions_app_auditentry_changelist"),
        reverse("admin:sessions_app_sensitiveaccess_changelist"),
        reverse("admin:index"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _shows_none(response.content.decode())
    change = client.get(pages[0]).content.decode()
    assert "Hidden: only the therapist reads them." in change
    assert reverse("admin:sessions_app_session_sensitive", args=[session.pk]) in change
    # A search for the note's words finds nothing: it is not searched.
    assert client.get(pages[2]).context["cl"].result_count == 0
    # Neither the answers nor the questions' answers have an admin of their own.
    for name in ("intakeanswer", "intakequestion", "consent"):
        assert client.get(f"/admin/sessions_app/{name}/").status_code == 404
    assert not SensitiveAccess.objects.exists()


def test_staff_do_not_see_them_through_the_api_or_the_pages(client, session, staff):
    api = _api(staff)
    assert api.get(f"/api/sessions/{session.pk}").status_code == 404
    _shows_none(api.get("/api/sessions").content.decode())
    client.force_login(staff)
    for url in (
        reverse("sessions:session_detail", args=[session.pk]),
        reverse("sessions:dashboard_session", args=[session.pk]),
    ):
        response = client.get(url)
        assert response.status_code in (403, 404)
        _shows_none(response.content.decode())


def test_view_with_reason_needs_a_reason_and_changes_nothing_without_one(client, session, staff):
    client.force_login(staff)
    url = reverse("admin:sessions_app_session_sensitive", args=[session.pk])
    page = client.get(url)
    assert page.status_code == 200
    _shows_none(page.content.decode())
    for reason in ("", "because", "x" * 1001):
        response = client.post(url, {"reason": reason})
        assert response.status_code == 200
        _shows_none(response.content.decode())
        assert response.context["form"].errors["reason"]
    assert not SensitiveAccess.objects.exists()
    assert client.get(reverse("admin:sessions_app_session_sensitive", args=[999999])).status_code == 404


def test_view_with_reason_records_who_when_why_and_the_client_sees_it(client, session, staff):
    client.force_login(staff)
    url = reverse("admin:sessions_app_session_sensitive", args=[session.pk])
    reason = "Court order 123/2026 of the Milimani High Court"
    response = client.post(url, {"reason": reason}, REMOTE_ADDR="10.0.0.9")
    html = response.content.decode()
    assert NOTE in html and ANSWER in html
    assert "no-store" in response["Cache-Control"]
    access = SensitiveAccess.objects.get()
    assert (access.actor, access.actor_role, access.subject_id, access.session_id) == (
        staff,
        "staff",
        session.client_id,
        session.pk,
    )
    assert access.reason == reason and access.at is not None

    client.force_login(session.client)
    page = client.get(reverse("sessions:session_detail", args=[session.pk])).content.decode()
    assert "Njeri Staff (staff)" in page and reason in page
    # The therapist's own reads are not listed to the client as staff access.
    client.force_login(session.therapist.user)
    client.get(reverse("sessions:dashboard_session", args=[session.pk]))
    client.force_login(session.client)
    page = client.get(reverse("sessions:session_detail", args=[session.pk])).content.decode()
    assert page.count("(staff), because") == 1


def test_a_staff_member_without_the_session_view_permission_cannot_view_with_reason(client, session):
    clerk = UserFactory(role="staff", is_staff=True)  # staff, but no model permissions
    client.force_login(clerk)
    response = client.post(
        reverse("admin:sessions_app_session_sensitive", args=[session.pk]), {"reason": "Court order 1/2026 here"}
    )
    assert response.status_code in (403, 404)
    _shows_none(response.content.decode())
    assert not SensitiveAccess.objects.exists()


def test_admin_audit_still_records_the_change_form_view(client, session, staff):
    client.force_login(staff)
    client.get(reverse("admin:sessions_app_session_change", args=[session.pk]))
    assert AuditEntry.objects.filter(action="view", model="sessions_app.session", object_id=str(session.pk)).exists()


def test_a_session_without_note_or_answers_records_no_read(client):
    session = SessionFactory(client_notes="")
    client.force_login(session.therapist.user)
    assert client.get(reverse("sessions:dashboard_session", args=[session.pk])).status_code == 200
    assert not SensitiveAccess.objects.exists()
