"""Indexes for reads that must stay flat as sessions and their events grow (issue 21).

CONCURRENTLY: these tables are the platform's biggest (500 k sessions, 2.6 M events at the bench's
large size); a plain CREATE INDEX would block every booking and every state change while it builds.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("sessions_app", "0004_audit_entry")]

    operations = [
        # The admin's sessions list: ORDER BY start DESC, id DESC LIMIT 100 (read backwards), with
        # or without the date filter's start__gte/start__lt; without it, a sort of the whole table.
        AddIndexConcurrently(
            model_name="session", index=models.Index(fields=["start", "id"], name="session_start_id_idx")
        ),
        # The reminders job (notifications_app.selectors.sessions_due_for_reminder):
        # status = 'confirmed' AND start > now + 1 h AND start <= now + 24 h; and the admin's
        # sessions list filtered by status, newest first.
        AddIndexConcurrently(
            model_name="session", index=models.Index(fields=["status", "start"], name="session_status_start_idx")
        ),
        # The admin's session events list: ORDER BY at DESC, id DESC LIMIT 100 (read backwards).
        AddIndexConcurrently(
            model_name="sessionevent", index=models.Index(fields=["at", "id"], name="session_event_at_id_idx")
        ),
    ]
