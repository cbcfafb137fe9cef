"""Issue 18, breach duty (s.43): manage.py audit_report answers from the audit trail, as CSV."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sessions_app.selectors.breach import COLUMNS

from ..factories import ClientFactory, SessionFactory, UserFactory
from .helpers import sensitive_session

pytestmark = pytest.mark.django_db


def _report(**options) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_report", stdout=out, stderr=err, **options)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == COLUMNS
    assert err.getvalue().startswith(f"{len(rows) - 1} access(es) recorded.")
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


@pytest.fixture
def trail(client):
    """Staff open a session in the admin, view its note with a reason, list users; the therapist reads it."""
    session = sensitive_session()
    bystander = SessionFactory(client=ClientFactory(email="bystander@example.com"))
    staff = UserFactory(staff=True, email="njeri.staff@example.com")
    client.force_login(staff)
    client.get(reverse("admin:sessions_app_session_change", args=[session.pk]), REMOTE_ADDR="10.0.0.5")
    client.post(
        reverse("admin:sessions_app_session_sensitive", args=[session.pk]),
        {"reason": "Police request OB 12/2026, signed"},
    )
    client.get(reverse("admin:sessions_app_user_changelist") + "?q=" + session.client.email)
    client.get(reverse("admin:sessions_app_user_changelist"))
    client.get(reverse("admin:sessions_app_session_change", args=[bystander.pk]))
    client.force_login(session.therapist.user)
    client.get(reverse("sessions:dashboard_session", args=[session.pk]))
    return session, staff, bystander


def test_whose_data_did_this_account_see(trail):
    session, staff, bystander = trail
    rows = _report(account=staff.email)
    assert {r["actor_email"] for r in rows} == {staff.email}
    seen = {(r["source"], r["action"], r["subject_email"]) for r in rows}
    assert ("admin audit", "Viewed", session.client.email) in seen
    assert ("admin audit", "Viewed", session.therapist.user.email) in seen  # a session is about both
    assert ("admin audit", "Viewed", "bystander@example.com") in seen
    assert ("access log", "view with reason", session.client.email) in seen
    reasons = [r for r in rows if r["action"] == "view with reason"]
    assert reasons[0]["reason"] == "Police request OB 12/2026, signed"
    assert reasons[0]["session_reference"] == session.reference
    assert any(r["action"] == "Listed" for r in rows)  # list pages are reported for the account
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert all(r["at"].endswith("+00:00") for r in rows)


def test_who_saw_this_clients_data(trail):
    session, staff, _ = trail
    rows = _report(subject=session.client.email)
    assert {r["subject_email"] for r in rows} == {session.client.email}
    who = {(r["actor_email"], r["source"], r["action"]) for r in rows}
    assert (staff.email, "admin audit", "Viewed") in who
    assert (staff.email, "access log", "view with reason") in who
    assert (staff.email, "admin audit", "Listed") in who  # the search for their email
    assert (session.therapist.user.email, "access log", "view") in who
    assert "bystander@example.com" not in str(rows)
    # The unfiltered list page names nobody: it is not attributed to this client.
    assert sum(1 for r in rows if r["action"] == "Listed") == 1


def test_a_window_and_a_file(trail, tmp_path):
    session, staff, _ = trail
    assert _report(account=staff.email, since="2000-01-01", until="2000-01-02") == []
    target = tmp_path / "report.csv"
    out = io.StringIO()
    call_command("audit_report", subject=session.client.email, output=str(target), stdout=out)
    lines = target.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) > 1
    assert "access(es) recorded" in out.getvalue()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"account": "nobody@example.com"}, "No account has the email"),
        ({"account": "SEE_USER", "since": "yesterday"}, "--since: give a date"),
        ({"account": "SEE_USER", "since": "2026-12-02", "until": "2026-12-01"}, "--since must be before --until"),
    ],
)
def test_bad_options_are_clear_errors(options, message):
    user = UserFactory()
    options = {k: (user.email if v == "SEE_USER" else v) for k, v in options.items()}
    with pytest.raises(CommandError, match=message):
        call_command("audit_report", stdout=io.StringIO(), stderr=io.StringIO(), **options)


def test_one_of_account_or_subject_is_required():
    with pytest.raises(CommandError):
        call_command("audit_report", stdout=io.StringIO(), stderr=io.StringIO())
