"""Reads for notifications: which reminders are due, which emails are stuck, what a session change is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import F, QuerySet

from sessions_app.models import Session, SessionEvent

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


def session_change_subject(*, session_id: int, action: str) -> tuple[Session, SessionEvent | None] | None:
    """The session (with both people) and, for a failed payment, the event a change's emails are about.

    None when a payment failure has no event (yet) to key its email by.
    """
    session = Session.objects.select_related("client", "therapist__user").get(pk=session_id)
    event = None
    if action == "payment_failed":
        event = session.events.filter(action="payment_failed").order_by("-at", "-id").first()
        if event is None:
            return None
    return session, event


def notification_ids_queued(
    *, session: Session, kinds: Iterable[str], event: SessionEvent | None = None
) -> QuerySet[Notification, int]:
    """Ids of the session's emails of these kinds (about this event, if given) still waiting to go, oldest first."""
    rows = Notification.objects.filter(session=session, kind__in=list(kinds), status=Notification.Status.QUEUED)
    if event is not None:
        rows = rows.filter(event=event)
    return rows.order_by("pk").values_list("pk", flat=True)
