"""Sign up, log in (with lockouts), log out, password reset and change, profile, privacy notice."""

import re
from unittest import mock

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.urls import reverse

from sessions_app.models import User

from ..factories import PASSWORD, ClientFactory, TherapistProfileFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "full_name": "  Wanjiku   Mwangi ",
    "email": "Wanjiku@Example.com",
    "phone": "0712 345 678",
    "password1": "kahawa-asubuhi-2026",
    "password2": "kahawa-asubuhi-2026",
    "time_zone": "Africa/Nairobi",
    "consent": "on",
}


def _field_error(response, field: str) -> str:
    """The error list rendered next to a field, which its input points at (aria-describedby)."""
    html = response.content.decode()
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert match, f"no error next to {field}"
    input_tag = re.search(rf"<(?:input|select|textarea)[^>]*id=\"id_{field}\"[^>]*>", html)
    assert input_tag, f"no input for {field}"
    assert 'aria-invalid="true"' in input_tag.group(0)
    assert f"id_{field}_error" in input_tag.group(0)
    return match.group(1)


# --- Sign up ------------------------------------------------------------------------------


def test_signup_page_has_labelled_fields_and_privacy_link(client):
    response = client.get(reverse("sessions:signup"))
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("full_name", "email", "phone", "password1", "password2", "time_zone", "consent"):
        assert f'for="id_{field}"' in html
    assert reverse("sessions:privacy") in html
    assert '<option value="Africa/Nairobi" selected>' in html


def test_signup_creates_a_client_logs_in_and_records_consent(client):
    response = client.post(reverse("sessions:signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:directory")
    user = User.objects.get(email="wanjiku@example.com")
    assert user.full_name == "Wanjiku Mwangi"
    assert user.phone == "+254712345678"
    assert user.role == User.Role.CLIENT
    assert user.privacy_consent_at is not None
    assert user.check_password(SIGNUP["password1"])
    assert client.session[SESSION_KEY] == str(user.pk)


def test_signup_goes_back_to_next(client):
    target = reverse("sessions:book") + "?therapist=1"
    response = client.post(reverse("sessions:signup"), {**SIGNUP, "next": target})
    assert response["Location"] == target


def test_signup_ignores_an_offsite_next(client):
    response = client.post(reverse("sessions:signup"), {**SIGNUP, "next": "https://evil.example/"})
    assert response["Location"] == reverse("sessions:directory")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"full_name": "   "}, "full_name", "This field is required"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"phone": "12345"}, "phone", "07XX XXX XXX"),
        ({"phone": "+255712345678"}, "phone", "Enter a Kenyan mobile number"),
        ({"password2": "something-else-2026"}, "password2", "The two passwords differ"),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"password1": "83749201938475", "password2": "83749201938475"}, "password1", "entirely numeric"),
        ({"password1": "wanjiku@example.co", "password2": "wanjiku@example.co"}, "password1", "too similar"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Select a valid choice"),
        ({"consent": ""}, "consent", "agree to the terms of use and the privacy notice"),
    ],
)
def test_signup_validation_errors_show_next_to_the_field(client, changes, field, message):
    response = client.post(reverse("sessions:signup"), {**SIGNUP, **changes})
    assert response.status_code == 200
    assert message in _field_error(response, field)
    assert not User.objects.exists()


def test_signup_refuses_an_email_already_used_in_any_case(client):
    ClientFactory(email="wanjiku@example.com")
    response = client.post(reverse("sessions:signup"), SIGNUP)
    assert "already exists" in _field_error(response, "email")
    assert User.objects.count() == 1


def test_signup_when_logged_in_goes_home(client):
    client.force_login(ClientFactory())
    assert client.get(reverse("sessions:signup"))["Location"] == reverse("sessions:home")


# --- Log in and out -----------------------------------------------------------------------


def _login(client, email, password=PASSWORD, **extra):
    return client.post(reverse("sessions:login"), {"username": email, "password": password}, **extra)


def test_login_page_renders(client):
    response = client.get(reverse("sessions:login"))
    assert response.status_code == 200
    assert 'for="id_username"' in response.content.decode()
    assert reverse("sessions:password_reset") in response.content.decode()


def test_login_with_email_in_any_case_rotates_the_session(client):
    user = ClientFactory(email="amani@example.com")
    client.get(reverse("sessions:login"))
    session = client.session
    session["before"] = "kept"
    session.save()
    before = session.session_key
    response = _login(client, "AMANI@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:home")
    assert client.session.session_key != before  # session fixation: a fresh key on login
    assert client.session[SESSION_KEY] == str(user.pk)


def test_login_goes_back_to_next(client):
    ClientFactory(email="amani@example.com")
    target = reverse("sessions:my_sessions")
    response = client.post(
        reverse("sessions:login"), {"username": "amani@example.com", "password": PASSWORD, "next": target}
    )
    assert response["Location"] == target


def test_login_wrong_password_says_so(client):
    ClientFactory(email="amani@example.com")
    response = _login(client, "amani@example.com", "wrong-password")
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize(
    "data, field",
    [({"username": "", "password": "x"}, "username"), ({"username": "a@b.co", "password": ""}, "password")],
)
def test_login_missing_fields(client, data, field):
    response = client.post(reverse("sessions:login"), data)
    assert "required" in _field_error(response, field)


def test_login_locks_the_account_after_five_failures_without_checking_the_password(client):
    ClientFactory(email="amani@example.com")
    for _ in range(5):
        assert _login(client, "amani@example.com", "wrong-password").status_code == 200
    with mock.patch("django.contrib.auth.forms.authenticate") as authenticate:
        response = _login(client, "amani@example.com")  # the right password, but locked
    authenticate.assert_not_called()
    assert response.status_code == 429
    assert re.search(r"Too many attempts, try again in \d+ minutes?\.", response.content.decode())
    assert SESSION_KEY not in client.session
    # Another account from the same address is not locked by it.
    ClientFactory(email="other@example.com")
    assert _login(client, "other@example.com").status_code == 302


def test_a_good_login_resets_the_account_counter(client):
    ClientFactory(email="amani@example.com")
    for _ in range(4):
        _login(client, "amani@example.com", "wrong-password")
    assert _login(client, "amani@example.com").status_code == 302
    client.post(reverse("sessions:logout"))
    for _ in range(4):
        _login(client, "amani@example.com", "wrong-password")
    assert _login(client, "amani@example.com").status_code == 302


def test_login_locks_an_address_after_twenty_failures(client):
    ClientFactory(email="victim@example.com")
    for n in range(20):
        _login(client, f"guess{n}@example.com", "wrong-password", REMOTE_ADDR="10.1.1.1")
    response = _login(client, "victim@example.com", REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    # The account itself is fine from another address.
    assert _login(client, "victim@example.com", REMOTE_ADDR="10.2.2.2").status_code == 302


def test_logout_needs_post(client):
    client.force_login(ClientFactory())
    assert client.get(reverse("sessions:logout")).status_code == 405
    response = client.post(reverse("sessions:logout"))
    assert response["Location"] == reverse("sessions:home")
    assert SESSION_KEY not in client.session


def test_nav_links_for_anonymous_and_logged_in(client):
    html = client.get(reverse("sessions:home")).content.decode()
    assert reverse("sessions:login") in html and reverse("sessions:signup") in html
    client.force_login(ClientFactory())
    html = client.get(reverse("sessions:home")).content.decode()
    assert reverse("sessions:my_sessions") in html and reverse("sessions:profile") in html
    assert f'<form method="post" action="{reverse("sessions:logout")}"' in html


# --- Password reset and change ------------------------------------------------------------


def test_password_reset_by_email_end_to_end(client):
    user = ClientFactory(email="amani@example.com")
    response = client.post(reverse("sessions:password_reset"), {"email": "Amani@example.com"})
    assert response["Location"] == reverse("sessions:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["amani@example.com"]
    assert "therap" not in (message.subject + message.body).lower()
    link = re.search(r"https?://[^/]+(/password-reset/[^\s]+/)", message.body).group(1)
    response = client.get(link)  # Django swaps the token into the session and redirects
    assert response.status_code == 302
    form_url = response["Location"]
    response = client.post(form_url, {"new_password1": "mpya-kabisa-2026", "new_password2": "different-2026"})
    assert "didn’t match" in _field_error(response, "new_password2")
    response = client.post(form_url, {"new_password1": "mpya-kabisa-2026", "new_password2": "mpya-kabisa-2026"})
    assert response["Location"] == reverse("sessions:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("mpya-kabisa-2026")
    assert client.get(reverse("sessions:password_reset_complete")).status_code == 200


def test_password_reset_for_an_unknown_email_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("sessions:password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("sessions:password_reset_done")
    assert mail.outbox == []
    assert client.get(reverse("sessions:password_reset_done")).status_code == 200


def test_password_reset_bad_link(client):
    response = client.get(reverse("sessions:password_reset_confirm", args=["MQ", "bad-token"]))
    assert response.status_code == 200
    assert "expired or was already used" in response.content.decode()


def test_password_reset_form_errors(client):
    response = client.post(reverse("sessions:password_reset"), {"email": "nope"})
    assert "valid email" in _field_error(response, "email")


def test_password_change(client):
    user = ClientFactory()
    client.force_login(user)
    url = reverse("sessions:password_change")
    assert client.get(url).status_code == 200
    response = client.post(url, {"old_password": "wrong", "new_password1": "x", "new_password2": "x"})
    assert "incorrectly" in _field_error(response, "old_password")
    response = client.post(
        url, {"old_password": PASSWORD, "new_password1": "mpya-kabisa-2026", "new_password2": "mpya-kabisa-2026"}
    )
    assert response["Location"] == reverse("sessions:profile")
    user.refresh_from_db()
    assert user.check_password("mpya-kabisa-2026")


# --- Profile and privacy ------------------------------------------------------------------


def test_profile_needs_login(client):
    response = client.get(reverse("sessions:profile"))
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:login") + "?next=" + reverse("sessions:profile")


def test_profile_shows_and_saves(client):
    user = ClientFactory(full_name="Old Name", phone="+254700000001")
    client.force_login(user)
    response = client.get(reverse("sessions:profile"))
    assert "Old Name" in response.content.decode()
    response = client.post(
        reverse("sessions:profile"),
        {"full_name": "New Name", "email": "NEW@example.com", "phone": "0110 123456", "time_zone": "Europe/London"},
    )
    assert response["Location"] == reverse("sessions:profile")
    user.refresh_from_db()
    assert (user.full_name, user.email, user.phone, user.time_zone) == (
        "New Name",
        "new@example.com",
        "+254110123456",
        "Europe/London",
    )
    # Times now show in the new zone.
    assert "Europe/London" in client.get(reverse("sessions:profile")).content.decode()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"full_name": ""}, "full_name", "required"),
        ({"phone": "0812 345 678"}, "phone", "Enter a Kenyan mobile number"),
        ({"email": "taken@example.com"}, "email", "Another account already uses this email"),
        ({"time_zone": "Nowhere/Land"}, "time_zone", "Select a valid choice"),
    ],
)
def test_profile_errors(client, changes, field, message):
    ClientFactory(email="taken@example.com")
    user = ClientFactory(full_name="Kept", email="me@example.com", phone="+254700000001")
    client.force_login(user)
    data = {"full_name": "Kept", "email": "me@example.com", "phone": "0700000001", "time_zone": "Africa/Nairobi"}
    response = client.post(reverse("sessions:profile"), {**data, **changes})
    assert response.status_code == 200
    assert message in _field_error(response, field)
    user.refresh_from_db()
    assert user.email == "me@example.com"


def test_therapist_can_edit_profile_too(client):
    therapist = TherapistProfileFactory()
    client.force_login(therapist.user)
    assert client.get(reverse("sessions:profile")).status_code == 200


def test_privacy_notice(client):
    response = client.get(reverse("sessions:privacy"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Data Protection Act, 2019" in html
    for heading in ("What we keep", "Why we keep it", "Who sees it", "Your rights"):
        assert heading in html
    assert "mailto:" in html


def test_password_change_needs_login(client):
    response = client.get(reverse("sessions:password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sessions:login") + "?next=")


def test_home_page_invites_to_browse_and_sign_up(client):
    html = client.get(reverse("sessions:home")).content.decode()
    assert reverse("sessions:directory") in html and reverse("sessions:signup") in html
    client.force_login(ClientFactory())
    html = client.get(reverse("sessions:home")).content.decode()
    assert reverse("sessions:my_sessions") in html


def test_signup_empty_post_shows_every_required_error(client):
    response = client.post(reverse("sessions:signup"), {})
    assert response.status_code == 200
    for field in ("full_name", "email", "phone", "password1", "password2", "consent"):
        _field_error(response, field)
