"""The admin's lists of big tables: same queries at 5 and 50 rows, and none that scans a whole table."""

import pytest
from django.urls import reverse

from sessions_app.models import AuditEntry, Session, SessionEvent

from .factories import SessionFactory, TherapistProfileFactory, UserFactory
from .querycount import assert_flat

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = UserFactory(staff=True)
    client.force_login(user)
    return user


def _get(client, name, params=None):
    def run():
        response = client.get(reverse(name), params or {})
        assert response.status_code == 200
        run.response = response

    return run


def _sessions(n):
    for _ in range(n):
        SessionFactory()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status__exact": "pending_approval"},
        {"start__gte": "2020-01-01T00:00:00+03:00"},
        {"q": "nobody@example.com"},
    ],
)
def test_session_changelist_is_flat(client, staff, params):
    page = _get(client, "admin:sessions_app_session_changelist", params)
    assert_flat(_sessions, page, whole_table_check=True)
    if not params:
        assert page.response.context["cl"].result_count == 50


def test_session_changelist_therapist_filter_is_one_query_not_a_list_of_every_therapist(client, staff):
    therapist = TherapistProfileFactory(user__full_name="Amina Otieno")
    mine = SessionFactory(session_type__therapist=therapist)
    page = _get(client, "admin:sessions_app_session_changelist", {"therapist": str(therapist.pk)})
    assert_flat(_sessions, page, whole_table_check=True)
    html = page.response.content.decode()
    assert page.response.context["cl"].result_count == 1
    assert mine.reference in html and "Amina Otieno" in html
    # The unfiltered list links each therapist's name to this filter, and lists no therapists in the sidebar.
    everyone = client.get(reverse("admin:sessions_app_session_changelist")).content.decode()
    assert f'href="?therapist={therapist.pk}"' in everyone
    # A bad value is an empty list, not an error.
    assert client.get(reverse("admin:sessions_app_session_changelist"), {"therapist": "x"}).status_code == 200


def test_session_event_changelist_is_flat_and_newest_first(client, staff):
    def events(n):
        for _ in range(n):
            session = SessionFactory()
            SessionEvent.objects.create(session=session, action="request", to_status=session.status, source="web")

    page = _get(client, "admin:sessions_app_sessionevent_changelist")
    assert_flat(events, page, whole_table_check=True)
    rows = list(page.response.context["cl"].result_list)
    assert rows[0].pk > rows[-1].pk
    for params in ({"action": "request"}, {"source": "web"}, {"at__gte": "2020-01-01T00:00:00+03:00"}):
        filtered = _get(client, "admin:sessions_app_sessionevent_changelist", params)
        filtered()
        assert filtered.response.context["cl"].result_count == 50


def test_audit_entry_changelist_is_flat(client, staff):
    def entries(n):
        for i in range(n):
            AuditEntry.objects.create(actor=staff, action="view", model="sessions_app.session", object_id=str(i))

    page = _get(client, "admin:sessions_app_auditentry_changelist", {"model": "sessions_app.session"})
    assert_flat(entries, page, whole_table_check=True)
    assert "sessions_app.session" in page.response.content.decode()


def test_the_count_stops_at_the_cap(client, staff, monkeypatch):
    from sessions_app import admin as session_admin

    monkeypatch.setattr(session_admin, "COUNT_CAP", 3)
    _sessions(5)
    response = client.get(reverse("admin:sessions_app_session_changelist"))
    assert response.context["cl"].result_count == 4
    assert Session.objects.count() == 5
