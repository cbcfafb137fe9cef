import pytest
from django.urls import reverse

from .factories import ClientFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db

MODELS = ["user", "therapistprofile", "sessiontype", "weeklyavailability", "timeoff", "session", "sessionevent"]


@pytest.mark.parametrize("model", MODELS)
def test_admin_changelists_load_for_staff(client, model):
    SessionFactory()
    client.force_login(UserFactory(staff=True))
    response = client.get(reverse(f"admin:sessions_app_{model}_changelist"))
    assert response.status_code == 200


def test_session_admin_detail_filters_and_search(client):
    session = SessionFactory()
    client.force_login(UserFactory(staff=True))
    url = reverse("admin:sessions_app_session_changelist")
    assert client.get(url, {"status__exact": "pending_approval", "q": session.client.email}).status_code == 200
    response = client.get(reverse("admin:sessions_app_session_change", args=[session.pk]))
    assert response.status_code == 200


def test_admin_refuses_non_staff(client):
    client.force_login(ClientFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_views_changes_and_actions_on_sessions_are_audited(client):
    from sessions_app.models import AuditEntry, Session

    session = SessionFactory(confirmed=True, status=Session.Status.CANCELLED, refund_due=True)
    staff = UserFactory(staff=True)
    client.force_login(staff)
    client.get(reverse("admin:sessions_app_session_changelist"), {"status__exact": "cancelled"}, REMOTE_ADDR="10.1.2.3")
    client.get(reverse("admin:sessions_app_session_change", args=[session.pk]), REMOTE_ADDR="10.1.2.3")
    client.post(
        reverse("admin:sessions_app_session_changelist"),
        {"action": "record_refund", "_selected_action": [session.pk]},
        REMOTE_ADDR="10.1.2.3",
    )
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "model", "object_id", "actor", "source_ip"))
    assert entries[0] == ("list", "sessions_app.session", "", staff.pk, "10.1.2.3")
    assert entries[1] == ("view", "sessions_app.session", str(session.pk), staff.pk, "10.1.2.3")
    assert entries[2][0] == "action" and entries[2][4] == "10.1.2.3"
    refund = session.events.get(action="refund")
    assert (refund.actor, refund.source, refund.source_ip) == (staff, "admin", "10.1.2.3")
    # Append-only.
    entry = AuditEntry.objects.first()
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    assert client.get(reverse("admin:sessions_app_auditentry_changelist")).status_code == 200


def test_user_admin_views_are_audited(client):
    from sessions_app.models import AuditEntry

    staff = UserFactory(staff=True)
    person = ClientFactory()
    client.force_login(staff)
    client.get(reverse("admin:sessions_app_user_change", args=[person.pk]))
    assert AuditEntry.objects.filter(action="view", model="sessions_app.user", object_id=str(person.pk)).exists()


def test_payment_and_email_admin_views_are_audited(client):
    from sessions_app.models import AuditEntry

    client.force_login(UserFactory(staff=True))
    for name in ("payments_app_paymentattempt", "payments_app_mpesacallback", "notifications_app_notification"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert set(AuditEntry.objects.values_list("model", flat=True)) >= {
        "payments_app.paymentattempt",
        "payments_app.mpesacallback",
        "notifications_app.notification",
    }


def test_deleting_session_types_in_bulk_keeps_the_directory_price_true(client):
    from sessions_app.models import SessionType

    from .factories import SessionTypeFactory, TherapistProfileFactory

    therapist = TherapistProfileFactory()
    cheap = SessionTypeFactory(therapist=therapist, price_kes=1500)
    SessionTypeFactory(therapist=therapist, price_kes=4000)
    therapist.refresh_from_db()
    assert therapist.from_price == 1500
    client.force_login(UserFactory(staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:sessions_app_sessiontype_changelist"),
        {"action": "delete_selected", "_selected_action": [cheap.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not SessionType.objects.filter(pk=cheap.pk).exists()
    therapist.refresh_from_db()
    assert therapist.from_price == 4000
