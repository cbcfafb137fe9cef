"""System checks that refuse, with DEBUG off, the local defaults that would fail silently in production.

Each is an Error with a one-line fix. They run with every management command (so `manage.py migrate`,
the release step, stops on them) and with `check --deploy`. With DEBUG on (`make run`) they are quiet.
The development secret key is refused by sessions_app.checks (booking.E001).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
UNDELIVERED_EMAIL_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
)


@register(Tags.caches)
def refuse_per_process_cache(app_configs=None, **kwargs) -> list[Error]:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.DEBUG or backend not in PER_PROCESS_CACHES:
        return []
    return [
        Error(
            "The cache is per process (no REDIS_URL): rate limits, lockouts and the Daraja token are not shared.",
            hint="Set REDIS_URL=redis://<host>:6379/0.",
            id="booking.E002",
        )
    ]


@register()
def refuse_in_process_tasks(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    if settings.CELERY_BROKER_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
        return []
    return [
        Error(
            "Celery tasks run in-process (no CELERY_BROKER_URL): no beat, so nothing expires, "
            "no reminder goes out and no sweeper runs.",
            hint="Set CELERY_BROKER_URL=redis://<host>:6379/1 (and leave CELERY_TASK_ALWAYS_EAGER unset), "
            "then run a worker and one beat.",
            id="booking.E003",
        )
    ]


@register()
def refuse_undelivered_email(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    if settings.DEBUG:
        return errors
    if settings.EMAIL_BACKEND in UNDELIVERED_EMAIL_BACKENDS:
        errors.append(
            Error(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no email is delivered.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS) for SMTP, "
                "or EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend with its ANYMAIL_* variables.",
                id="booking.E004",
            )
        )
    if settings.EMAIL_USE_TLS and settings.EMAIL_USE_SSL:
        errors.append(
            Error(
                "EMAIL_USE_TLS and EMAIL_USE_SSL are both on: SMTP refuses to send.",
                hint="Set only one: EMAIL_USE_TLS=true for port 587, or EMAIL_USE_SSL=true for port 465.",
                id="booking.E006",
            )
        )
    return errors


@register(Tags.security)
def refuse_callback_base_without_https(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    base = getattr(settings, "DARAJA_CALLBACK_BASE_URL", "") or ""
    parts = urlsplit(base)
    if parts.scheme == "https" and parts.hostname:
        return []
    shown = repr(base) if base else "missing"
    return [
        Error(
            f"DARAJA_CALLBACK_BASE_URL is {shown}: Daraja's payment results need a public https address.",
            hint="Set DARAJA_CALLBACK_BASE_URL=https://<your public host>.",
            id="booking.E005",
        )
    ]
