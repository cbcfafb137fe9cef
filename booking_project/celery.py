"""The Celery app. Tasks live in each app's tasks.py; every periodic schedule is here."""

import logging.config
import os

from celery import Celery, signals
from celery.schedules import crontab

from . import observability  # noqa: F401 - connects the signals that carry the request id into tasks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "booking_project.settings")

app = Celery("booking_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect(weak=False)
def _use_django_logging(**kwargs):
    """With LOG_FORMAT=json the worker and beat log through settings.LOGGING (one JSON line per event,
    redacted, with the request id) instead of Celery's own plain handler."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


if os.environ.get("LOG_FORMAT", "").strip().lower() != "json":
    signals.setup_logging.disconnect(_use_django_logging)
# Each periodic run is claimed in the shared cache before it is sent, so a second beat sends nothing.
app.conf.beat_scheduler = "booking_project.beat:SingleBeatScheduler"

app.conf.beat_schedule = {
    "expire-stale-sessions": {"task": "sessions_app.tasks.expire_stale_sessions", "schedule": 60.0},
    "sweep-stuck-payments": {"task": "payments_app.tasks.sweep_stuck_payments", "schedule": 60.0},
    "sweep-unprocessed-callbacks": {"task": "payments_app.tasks.sweep_unprocessed_callbacks", "schedule": 60.0},
    "send-session-reminders": {"task": "notifications_app.tasks.send_due_reminders", "schedule": crontab(minute="*/5")},
    "requeue-stale-notifications": {
        "task": "notifications_app.tasks.requeue_stale_notifications",
        "schedule": crontab(minute="*/10"),
    },
    # Nightly, in the quiet hour (Africa/Nairobi): what is past its retention period goes.
    "apply-retention": {"task": "sessions_app.tasks.apply_retention", "schedule": crontab(hour=3, minute=17)},
}
