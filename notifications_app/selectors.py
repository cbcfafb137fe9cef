"""Reads for notifications: which reminders are due, which emails are stuck, a session's email log."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, QuerySet

from sessions_app.models import Session

from .models import Notification

K = Notification.Kind

# kind -> (how long before the start it becomes due, when the next reminder takes over)
REMINDER_WINDOWS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    K.REMINDER_24H: (dt.timedelta(hours=24), dt.timedelta(hours=1)),
    K.REMINDER_1H: (dt.timedelta(hours=1), dt.timedelta(0)),
}

# Longer than any retry backoff of send_notification (tasks.RETRY_BACKOFF_MAX).
STALE_AFTER = dt.timedelta(minutes=20)


def sessions_due_for_reminder(*, kind: str, now: dt.datetime) -> QuerySet[Session]:
    """Confirmed sessions inside this reminder's window that have not had it yet.

    A session confirmed after its window opened is skipped: the confirmation
    email it just received already carries the time.
    """
    lead, until = REMINDER_WINDOWS[kind]
    return (
        Session.objects.filter(status=Session.Status.CONFIRMED, start__gt=now + until, start__lte=now + lead)
        .exclude(payment_verified_at__gt=F("start") - lead)
        .exclude(notifications__kind=kind)
        .select_related("client")
        .order_by("start")
    )


def notifications_stale(*, now: dt.datetime) -> QuerySet[Notification]:
    """Emails still queued long after their last change: their task message was lost."""
    return Notification.objects.filter(status=Notification.Status.QUEUED, updated_at__lt=now - STALE_AFTER)


def notifications_for_session(*, session: Session) -> QuerySet[Notification]:
    return Notification.objects.filter(session=session).select_related("recipient").order_by("created_at", "id")
