"""Test settings: PostgreSQL always (production runs on it), locmem email, eager tasks."""

import hashlib

from . import *  # noqa: F403
from . import BASE_DIR, env


def _schema_fingerprint() -> str:
    """A short hash of every migration file: the test database's name carries it.

    pytest runs with --reuse-db, which keeps a test database's schema between runs. A database made
    by another checkout (another branch, a later commit) may hold columns this code does not know,
    and inserts then fail on them; with the schema in the name, other migrations mean another database.
    """
    digest = hashlib.sha256()
    for path in sorted(BASE_DIR.glob("*/migrations/0*.py")):
        digest.update(str(path.relative_to(BASE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


DATABASES = {
    "default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/booking"),
}
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_schema_fingerprint()}"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_BROKER_URL = ""
CELERY_TASK_ALWAYS_EAGER = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DARAJA_BASE_URL = "http://daraja.invalid"
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdef"
# Tests run with DEBUG off on purpose, yet with a memory cache, eager tasks, the locmem outbox and an http
# callback: the production checks that refuse those (booking_project/checks.py, tested by calling them in
# booking_project/tests/test_checks.py) are silenced for the management commands tests start.
SILENCED_SYSTEM_CHECKS = ["booking.E002", "booking.E003", "booking.E004", "booking.E005"]
# No collectstatic before tests: plain storage, so {% static %} needs no manifest.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
