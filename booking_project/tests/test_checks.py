"""With DEBUG off the system checks refuse the local defaults that would fail silently in production."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.checks import Error, run_checks
from django.test import override_settings

from booking_project.settings import DEV_SECRET_KEY

PRODUCTION = {
    "DEBUG": False,
    "SECRET_KEY": "p" * 60,
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://r:6379/0"}},
    "CELERY_BROKER_URL": "redis://r:6379/1",
    "CELERY_TASK_ALWAYS_EAGER": False,
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_USE_TLS": True,
    "EMAIL_USE_SSL": False,
    "DARAJA_CALLBACK_BASE_URL": "https://book.example.com",
}
OURS = ("booking.",)


def _ours(**changes) -> list[Error]:
    with override_settings(**{**PRODUCTION, **changes}):
        return [m for m in run_checks(include_deployment_checks=False) if m.id.startswith(OURS)]


def test_production_settings_pass():
    assert _ours() == []


@pytest.mark.parametrize(
    ("changes", "expected_id", "words"),
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "booking.E001", "development key"),
        (
            {"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}},
            "booking.E002",
            "REDIS_URL",
        ),
        ({"CELERY_BROKER_URL": ""}, "booking.E003", "CELERY_BROKER_URL"),
        ({"CELERY_TASK_ALWAYS_EAGER": True}, "booking.E003", "in-process"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "booking.E004", "console"),
        ({"EMAIL_USE_SSL": True}, "booking.E006", "both on"),
        ({"DARAJA_CALLBACK_BASE_URL": ""}, "booking.E005", "missing"),
        ({"DARAJA_CALLBACK_BASE_URL": "http://book.example.com"}, "booking.E005", "https"),
    ],
)
def test_each_mistake_is_refused_as_an_error_with_its_fix(changes, expected_id, words):
    errors = _ours(**changes)
    assert [e.id for e in errors] == [expected_id]
    error = errors[0]
    assert error.is_serious() and words in error.msg + (error.hint or "")
    assert error.hint and "\n" not in error.hint and error.hint.startswith("Set ")


def test_with_debug_on_the_local_defaults_are_quiet():
    local = {
        "DEBUG": True,
        "SECRET_KEY": DEV_SECRET_KEY,
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": True,
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "DARAJA_CALLBACK_BASE_URL": "http://127.0.0.1:8000",
    }
    assert _ours(**local) == []


def test_the_test_settings_silence_only_the_local_environment_checks():
    """Tests run DEBUG off on purpose with memory cache and eager tasks; the secret-key check stays armed."""
    assert set(settings.SILENCED_SYSTEM_CHECKS) == {"booking.E002", "booking.E003", "booking.E004", "booking.E005"}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "REDIS_", "CELERY_"))}
    clean.pop("DARAJA_CALLBACK_BASE_URL", None)
    clean.update({"DJANGO_SETTINGS_MODULE": "booking_project.settings", "DATABASE_URL": "sqlite:////tmp/s19.sqlite3"})
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_clean_clone_without_debug_refuses_every_local_default():
    """Nothing set at all: DEBUG is off, and `manage.py check` (and migrate, and runserver) stop."""
    result = _manage("check", env={})
    assert result.returncode != 0
    for check_id in ("booking.E001", "booking.E002", "booking.E003", "booking.E004", "booking.E005"):
        assert check_id in result.stderr, result.stderr


def test_make_run_environment_passes():
    result = _manage("check", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x" * 60 + "-production-grade-secret-0123456789",
    "DJANGO_ALLOWED_HOSTS": "book.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    "EMAIL_HOST": "smtp.example.net",
    "EMAIL_PORT": "587",
    "EMAIL_USE_TLS": "true",
    "DARAJA_CALLBACK_BASE_URL": "https://book.example.com",
}


def test_check_deploy_passes_with_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr and "ERRORS" not in result.stderr
