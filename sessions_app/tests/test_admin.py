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
