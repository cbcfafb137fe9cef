"""Issue 18, consent: signup records the versions agreed to; a new version is asked for before anything else."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.middleware import CONSENT_SESSION_KEY
from sessions_app.models import Consent, User
from sessions_app.selectors.privacy import consent_missing

from ..factories import ClientFactory, TherapistProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "full_name": "Achieng Otieno",
    "email": "achieng@example.com",
    "phone": "0712 345 678",
    "password1": "a-strong-test-pass-2026",
    "password2": "a-strong-test-pass-2026",
    "time_zone": "Africa/Nairobi",
    "consent": "on",
}


@pytest.fixture
def publish(settings, tmp_path):
    """Call to publish version 3 of the privacy notice (its file and the setting)."""

    def publish_v3():
        legal = tmp_path / "sessions_app" / "legal"
        legal.mkdir(parents=True)
        (legal / "privacy_v3.html").write_text("<p>Privacy notice, third text: we now keep X.</p>")
        settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
        settings.CONSENT_VERSIONS = {**settings.CONSENT_VERSIONS, "privacy": "3"}

    return publish_v3


def test_signup_records_each_text_and_version_with_the_time(client, settings):
    response = client.post(reverse("sessions:signup"), SIGNUP, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302
    user = User.objects.get(email="achieng@example.com")
    consents = {(c.document, c.version): c for c in user.consents.all()}
    assert set(consents) == set(settings.CONSENT_VERSIONS.items())
    assert all(c.accepted_at is not None for c in consents.values())
    # The next page is open at once: signing up is agreeing.
    assert client.get(reverse("sessions:directory")).status_code == 200


def test_signup_without_consent_creates_nothing(client):
    response = client.post(reverse("sessions:signup"), {**SIGNUP, "consent": ""})
    assert response.status_code == 200
    assert not User.objects.exists() and not Consent.objects.exists()


def test_the_texts_are_public_plain_and_name_the_act(client, settings):
    for name, version in (
        ("privacy", settings.CONSENT_VERSIONS["privacy"]),
        ("terms", settings.CONSENT_VERSIONS["terms"]),
    ):
        html = client.get(reverse(f"sessions:{name}")).content.decode()
        assert "Data Protection Act, 2019" in html
        assert f"Version {version}" in html
    assert "72 hours" in client.get(reverse("sessions:privacy")).content.decode()


@pytest.mark.parametrize("role", ["client", "therapist", "staff"])
def test_a_changed_text_is_asked_for_before_anything_else(client, publish, role):
    user = {
        "client": ClientFactory,
        "therapist": lambda: TherapistProfileFactory().user,
        "staff": lambda: UserFactory(staff=True),
    }[role]()
    client.force_login(user)
    assert client.get(reverse("sessions:privacy")).status_code == 200
    publish()  # while they are signed in
    assert consent_missing(user=user) == ["privacy"]
    for url in (reverse("sessions:my_sessions"), reverse("sessions:dashboard"), reverse("sessions:profile"), "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("sessions:consent")), url
    # A POST elsewhere is refused the same way, and changes nothing.
    response = client.post(reverse("sessions:profile"), {"full_name": "Changed"})
    assert response["Location"] == reverse("sessions:consent")
    assert User.objects.get(pk=user.pk).full_name != "Changed"
    # The texts themselves, and logging out, stay open.
    assert client.get(reverse("sessions:privacy")).status_code == 200
    page = client.get(reverse("sessions:consent") + "?next=/my/sessions/")
    assert page.status_code == 200
    assert "Privacy notice, third text" in page.content.decode()

    refused = client.post(reverse("sessions:consent"), {"next": "/my/sessions/"})
    assert refused.status_code == 400
    assert "Please agree" in refused.content.decode()
    assert consent_missing(user=user) == ["privacy"]

    agreed = client.post(reverse("sessions:consent"), {"agree": "on", "next": "/my/sessions/"}, REMOTE_ADDR="10.9.8.7")
    assert agreed["Location"] == "/my/sessions/"
    consent = Consent.objects.get(user=user, document="privacy", version="3")
    assert consent.source_ip == "10.9.8.7" and consent.accepted_at is not None
    assert client.get(reverse("sessions:privacy")).status_code == 200
    assert client.get(reverse("sessions:consent"))["Location"] == reverse("sessions:home")
    assert client.session[CONSENT_SESSION_KEY].count(":") == 2


def test_the_consent_page_ignores_an_outside_next(client, publish):
    client.force_login(ClientFactory())
    publish()
    response = client.post(reverse("sessions:consent"), {"agree": "on", "next": "https://evil.example/"})
    assert response["Location"] == reverse("sessions:home")


def test_an_api_call_on_a_session_cookie_is_refused_until_agreed(client, publish):
    user = ClientFactory()
    client.force_login(user)
    publish()
    response = client.get("/api/sessions")
    assert response.status_code == 403
    assert response.json()["code"] == "consent_required"


def test_agreement_is_remembered_without_a_query_per_page(client, django_assert_num_queries):
    user = ClientFactory()
    client.force_login(user)  # the one consent query runs at login
    assert client.session[CONSENT_SESSION_KEY]
    client.get(reverse("sessions:privacy"))
    with django_assert_num_queries(2):  # the login session and the user, as before issue 18
        assert client.get(reverse("sessions:privacy")).status_code == 200


def test_a_person_who_never_agreed_is_asked(client):
    user = ClientFactory(consented=False)
    client.force_login(user)
    assert client.get(reverse("sessions:my_sessions"))["Location"].startswith(reverse("sessions:consent"))
    client.post(reverse("sessions:consent"), {"agree": "on"})
    assert client.get(reverse("sessions:my_sessions")).status_code == 200


def test_logging_out_stays_possible(client, publish):
    client.force_login(ClientFactory())
    publish()
    response = client.post(reverse("sessions:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_token_api_users_are_not_redirected(publish):
    # The API (token) has no page to agree on: the middleware sees no session user there.
    user = ClientFactory()
    publish()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    assert api.get("/api/sessions").status_code == 200


def test_no_api_token_until_the_new_text_is_agreed(publish):
    user = ClientFactory(email="api@example.com")
    publish()
    api = APIClient()
    body = {"email": "api@example.com", "password": "a-strong-test-pass-2026"}
    response = api.post("/api/auth/token", body, format="json")
    assert response.status_code == 403 and response.json()["code"] == "consent_required"
    assert not Token.objects.filter(user=user).exists()
