"""user_authenticate: the login lockout rule the login page and the token endpoint share."""

import pytest

from sessions_app import ratelimit
from sessions_app.exceptions import InvalidCredentials, RateLimited, ValidationFailed
from sessions_app.services import users

from ..factories import PASSWORD, ClientFactory

pytestmark = pytest.mark.django_db


def _wrong(email, ip="10.0.0.1"):
    with pytest.raises(InvalidCredentials):
        users.user_authenticate(email=email, password="not-the-password", ip=ip)


def test_good_credentials_sign_in_whatever_the_case_and_spaces():
    user = ClientFactory(email="amina@example.com")
    assert users.user_authenticate(email="  Amina@Example.COM ", password=PASSWORD, ip="10.0.0.1") == user


def test_a_wrong_password_or_unknown_email_is_invalid_credentials():
    ClientFactory(email="amina@example.com")
    _wrong("amina@example.com")
    _wrong("nobody@example.com")


def test_an_inactive_account_cannot_sign_in():
    ClientFactory(email="gone@example.com", is_active=False)
    _wrong("gone@example.com")


@pytest.mark.parametrize("email,password,field", [("", PASSWORD, "email"), ("a@example.com", "", "password")])
def test_an_empty_field_is_refused_and_not_counted(email, password, field):
    with pytest.raises(ValidationFailed) as caught:
        users.user_authenticate(email=email, password=password, ip="10.0.0.1")
    assert not isinstance(caught.value, InvalidCredentials)
    assert caught.value.field == field
    assert ratelimit.count(scope="login-ip", ident="10.0.0.1", window=users.LOGIN_WINDOW) == 0


def test_the_account_locks_after_five_failures_and_the_password_is_then_not_checked():
    ClientFactory(email="amina@example.com")
    for attempt in range(users.LOGIN_ACCOUNT_LIMIT):
        _wrong("amina@example.com", ip=f"10.0.0.{attempt}")
    with pytest.raises(RateLimited) as caught:
        users.user_authenticate(email="amina@example.com", password=PASSWORD, ip="10.9.9.9")
    assert caught.value.message.startswith("Too many attempts, try again in ")
    assert 0 < caught.value.retry_after <= users.LOGIN_WINDOW


def test_the_address_locks_after_twenty_failures_for_every_account():
    ClientFactory(email="amina@example.com")
    for n in range(users.LOGIN_IP_LIMIT):
        _wrong(f"someone{n}@example.com", ip="10.0.0.7")
    with pytest.raises(RateLimited):
        users.user_authenticate(email="amina@example.com", password=PASSWORD, ip="10.0.0.7")
    # Another address is not locked.
    assert users.user_authenticate(email="amina@example.com", password=PASSWORD, ip="10.0.0.8").email == (
        "amina@example.com"
    )


def test_a_good_login_clears_the_account_counter():
    ClientFactory(email="amina@example.com")
    for _ in range(users.LOGIN_ACCOUNT_LIMIT - 1):
        _wrong("amina@example.com")
    users.user_authenticate(email="amina@example.com", password=PASSWORD, ip="10.0.0.1")
    assert ratelimit.count(scope="login-account", ident="amina@example.com", window=users.LOGIN_WINDOW) == 0
    _wrong("amina@example.com")  # counted afresh: one failure, no lock
    assert users.user_authenticate(email="amina@example.com", password=PASSWORD, ip="10.0.0.2")
