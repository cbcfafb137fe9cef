"""Settings read from the environment: SMTP, anymail providers, DEBUG off by default, hashed static files.

Each case imports booking_project.settings in a fresh interpreter with a chosen environment (the
settings are read once per process), with no .env file in the way.
"""

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name) for name in %r}, default=str))
"""


def _settings_with(env: dict[str, str], *names: str) -> dict:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EMAIL_", "ANYMAIL_", "MAILGUN_", "SENDGRID_", "STATICFILES_"))
    }
    base.update({"DJANGO_SETTINGS_MODULE": "booking_project.settings", "DATABASE_URL": "sqlite:////tmp/s.sqlite3"})
    base.update(env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE % (names,)],
        cwd=settings.BASE_DIR,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_smtp_is_configured_from_the_email_variables():
    """The reproduction of issue 19: with all five set, Django used to keep localhost, 25, no TLS."""
    values = _settings_with(
        {
            "EMAIL_HOST": "smtp.example.net",
            "EMAIL_PORT": "587",
            "EMAIL_HOST_USER": "mailer",
            "EMAIL_HOST_PASSWORD": "s3cret",
            "EMAIL_USE_TLS": "true",
        },
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
    )
    assert values == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.net",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "s3cret",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


def test_smtp_over_ssl_and_an_explicit_backend():
    values = _settings_with(
        {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "smtp.example.net",
            "EMAIL_PORT": "465",
            "EMAIL_USE_SSL": "true",
        },
        "EMAIL_BACKEND",
        "EMAIL_PORT",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
    )
    assert values == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_PORT": 465,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": True,
    }


def test_without_email_host_the_default_backend_is_the_console():
    values = _settings_with({}, "EMAIL_BACKEND", "EMAIL_HOST")
    assert values == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend", "EMAIL_HOST": "localhost"}


def test_any_anymail_provider_from_environment_variables_alone():
    values = _settings_with(
        {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "pm-token",
            "ANYMAIL_IGNORE_UNSUPPORTED_FEATURES": "true",
            "ANYMAIL_SEND_DEFAULTS": '{"tags": ["booking"]}',
            "ANYMAIL_WEBHOOK_SECRET": "user:pass",
            "MAILGUN_API_KEY": "mg-key",
        },
        "EMAIL_BACKEND",
        "ANYMAIL",
    )
    assert values["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert values["ANYMAIL"] == {
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "IGNORE_UNSUPPORTED_FEATURES": True,
        "SEND_DEFAULTS": {"tags": ["booking"]},
        "WEBHOOK_SECRET": "user:pass",
        "MAILGUN_API_KEY": "mg-key",
    }


def test_the_anymail_backend_sends_with_those_settings(settings):
    """The generic ANYMAIL dict is what anymail reads: a Postmark message is built with the env's token."""
    from django.core.mail import get_connection

    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "pm-token"}
    connection = get_connection("anymail.backends.postmark.EmailBackend")
    assert connection.server_token == "pm-token"


def test_debug_is_off_unless_set_and_static_files_are_hashed():
    values = _settings_with({}, "DEBUG", "STORAGES", "DATABASES")
    assert values["DEBUG"] is False
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True
    assert _settings_with({"DJANGO_DEBUG": "1"}, "DEBUG")["DEBUG"] is True
