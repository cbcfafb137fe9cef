"""The system check refuses a callback set-up Daraja would reject (issue 22); the project's own configs pass."""

import pytest

from payments_app.checks import check_callback_url


def _ids(settings):
    return [error.id for error in check_callback_url()]


def test_the_test_and_default_configs_pass(settings):
    assert _ids(settings) == []
    settings.DARAJA_CALLBACK_BASE_URL = "http://127.0.0.1:8000"
    settings.MPESA_CALLBACK_SECRET = "dev-callback-secret"  # the default in settings
    assert _ids(settings) == []
    settings.MPESA_CALLBACK_SECRET = "test-callback-secret-5f1c"  # payments_app/tests/conftest.py
    settings.DARAJA_CALLBACK_BASE_URL = "https://book.example.com"  # .env.example
    assert _ids(settings) == []


@pytest.mark.parametrize("secret", ["mpesa-secret", "x-QUERY-y", "cmd1", "exec9", "no-sql-here", "has/slash", ""])
def test_a_secret_daraja_would_reject_is_refused(settings, secret):
    settings.MPESA_CALLBACK_SECRET = secret
    assert _ids(settings) == ["payments_app.E001"]


@pytest.mark.parametrize(
    "base", ["https://mpesa.example.com", "https://abc.ngrok-free.app", "https://x.ngrok.io", "book.example.com"]
)
def test_a_base_url_daraja_would_reject_is_refused(settings, base):
    settings.DARAJA_CALLBACK_BASE_URL = base
    assert _ids(settings) == ["payments_app.E002"]


def test_production_daraja_needs_an_https_callback(settings):
    settings.DARAJA_BASE_URL = "https://api.safaricom.co.ke"
    settings.DARAJA_CALLBACK_BASE_URL = "http://book.example.com"
    assert _ids(settings) == ["payments_app.E003"]
    settings.DARAJA_CALLBACK_BASE_URL = "https://book.example.com"
    assert _ids(settings) == []
