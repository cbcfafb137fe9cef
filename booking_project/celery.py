"""The Celery app. Tasks live in each app's tasks.py; every periodic schedule is here."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "booking_project.settings")

app = Celery("booking_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
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
}
