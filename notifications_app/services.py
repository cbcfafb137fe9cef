"""Writes for notifications: queue the emails a session change calls for, send one, log the outcome.

Exactly-once per (session, recipient, kind) rests on two things: the unique
constraint on ``Notification`` (queueing twice finds the existing row) and the
send step, which locks the row, returns at once unless it is still queued, and
marks it sent in the same transaction. A task run twice, or two workers racing,
therefore send one email. The remaining window, a worker dying after the
provider accepted the message but before the commit, resends on redelivery:
for a receipt, twice is better than never.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.utils import make_msgid

from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import AnymailAPIError
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import cache
from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone

from sessions_app.exceptions import NotAllowed
from sessions_app.models import Session, SessionEvent, User

from . import dispatch, selectors
from .emails import build_message
from .links import site_host
from .models import Notification

logger = logging.getLogger(__name__)

K = Notification.Kind
CLIENT, THERAPIST = "client", "therapist"

# Who hears about which session change (the action names of sessions_app.services).
ACTION_NOTIFICATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "request": ((THERAPIST, K.THERAPIST_NEW_REQUEST), (CLIENT, K.CLIENT_REQUEST_RECEIVED)),
    "approve": ((CLIENT, K.CLIENT_APPROVED),),
    "decline": ((CLIENT, K.CLIENT_DECLINED),),
    "payment_failed": ((CLIENT, K.CLIENT_PAYMENT_FAILED),),
    # One email to the client carries both the receipt and the calendar invite.
    "confirm": ((CLIENT, K.CLIENT_CONFIRMED), (THERAPIST, K.THERAPIST_PAYMENT_RECEIVED)),
    "cancel": ((CLIENT, K.CLIENT_CANCELLED), (THERAPIST, K.THERAPIST_CANCELLED)),
    "expire": ((CLIENT, K.CLIENT_EXPIRED),),
    "refund": ((CLIENT, K.CLIENT_REFUNDED),),
}


class NotificationSendError(Exception):
    """A transient failure (SMTP, network, provider API): worth retrying later."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        # A 4xx means the request itself is wrong (bad key, bad address): retrying won't help.
        return status is None or status >= 500 or status in (408, 429)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        # 4xx: try again later; 5xx: the server refuses for good.
        return exc.smtp_code < 500
    # SMTPException, timeouts and refused connections are all OSErrors.
    return isinstance(exc, OSError | SoftTimeLimitExceeded)


def _enqueue(notification_id: int) -> None:
    dispatch.task_send(dispatch.SEND_NOTIFICATION, notification_id)


# --- Queueing --------------------------------------------------------------------------------


def notification_queue(
    *, session: Session, recipient: User, kind: str, event: SessionEvent | None = None, enqueue: bool = True
) -> Notification | None:
    """Log one email and queue its sending once this transaction commits.

    Returns the new row, or None when this kind already went (or is going) to
    this recipient for this session (or this event, for repeatable kinds).
    With ``enqueue=False`` only the row is written: the caller sends it (the
    session-change task does, see notifications_prepare_for_session_change).
    """
    if not recipient.is_active or not recipient.email:
        return None
    lookup = {"session": session, "recipient": recipient, "kind": kind}
    if kind in Notification.PER_EVENT_KINDS:
        if event is None:
            raise ValueError(f"{kind} notifications need the session event they are about.")
        lookup["event"] = event
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(**lookup)
        if not created:
            return None
        if enqueue:
            transaction.on_commit(lambda: _enqueue(notification.pk), robust=True)
    return notification


def _session_change_targets(*, session_id: int, action: str) -> tuple[Session, SessionEvent | None] | None:
    if not ACTION_NOTIFICATIONS.get(action):
        return None
    return selectors.session_change_subject(session_id=session_id, action=action)


def notifications_queue_for_session_change(*, session_id: int, action: str, enqueue: bool = True) -> list[Notification]:
    """Queue what one announced session change calls for (see ACTION_NOTIFICATIONS).

    ``enqueue=False`` logs the rows only (inside the change's own transaction);
    the one task published after the commit sends them.
    """
    targets = _session_change_targets(session_id=session_id, action=action)
    if targets is None:
        return []
    session, event = targets
    queued = []
    for role, kind in ACTION_NOTIFICATIONS[action]:
        recipient = session.client if role == CLIENT else session.therapist.user
        notification = notification_queue(session=session, recipient=recipient, kind=kind, event=event, enqueue=enqueue)
        if notification is not None:
            queued.append(notification)
    return queued


def notifications_prepare_for_session_change(*, session_id: int, action: str) -> list[int]:
    """The worker's half of a session change: log any email still missing, return the ids still queued.

    Safe to run twice: the unique constraints make the logging find the rows
    already there, and notification_send sends a row only while it is queued.
    """
    notifications_queue_for_session_change(session_id=session_id, action=action, enqueue=False)
    targets = _session_change_targets(session_id=session_id, action=action)
    if targets is None:
        return []
    session, event = targets
    kinds = [kind for _, kind in ACTION_NOTIFICATIONS[action]]
    return list(selectors.notification_ids_queued(session=session, kinds=kinds, event=event))


STAFF_ALERT_INTERVAL = dt.timedelta(hours=1)


def notifications_staff_payment_alert(*, session_id: int, now: dt.datetime | None = None) -> list[Notification]:
    """Tell every active staff member that M-Pesa refused our set-up, at most once an hour across the site.

    ``session_id`` is the booking whose payment hit the problem (the email names it
    and links the admin's list of payments needing attention). An alert within the
    last hour, for any booking, holds this one back: the first says all there is to say.
    """
    now = now or timezone.now()
    if Notification.objects.filter(kind=K.STAFF_PAYMENT_ALERT, created_at__gt=now - STAFF_ALERT_INTERVAL).exists():
        return []
    # Two workers alerting at once: the cache key lets one through (the row check above survives a cache flush).
    if not cache.add("notifications:staff-payment-alert", 1, timeout=int(STAFF_ALERT_INTERVAL.total_seconds())):
        return []
    session = Session.objects.get(pk=session_id)
    queued = []
    for staff in User.objects.filter(is_staff=True, is_active=True).exclude(email="").order_by("pk"):
        notification = notification_queue(session=session, recipient=staff, kind=K.STAFF_PAYMENT_ALERT)
        if notification is not None:
            queued.append(notification)
    if not queued:
        logger.warning("M-Pesa set-up problem on booking %s: no staff member with an email to alert.", session_id)
    return queued


def reminders_queue_due(*, now: dt.datetime | None = None) -> int:
    """Queue the 24-hour and 1-hour reminders now due. Each goes once (the unique constraint)."""
    now = now or timezone.now()
    count = 0
    for kind in selectors.REMINDER_WINDOWS:
        for session in selectors.sessions_due_for_reminder(kind=kind, now=now):
            if notification_queue(session=session, recipient=session.client, kind=kind) is not None:
                count += 1
    return count


def notifications_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Queue again any email still waiting long after its last attempt (its task message was lost)."""
    ids = list(selectors.notifications_stale(now=now or timezone.now()).values_list("pk", flat=True))
    for pk in ids:
        transaction.on_commit(lambda pk=pk: _enqueue(pk), robust=True)
    return len(ids)


# --- Sending ---------------------------------------------------------------------------------


def _still_relevant(notification: Notification, now: dt.datetime) -> str:
    """Empty when the email should still go; otherwise why it should not."""
    session = notification.session
    if notification.kind in (K.REMINDER_24H, K.REMINDER_1H):
        if session.status != Session.Status.CONFIRMED or session.start <= now:
            return f"The session is {session.get_status_display().lower()} now; no reminder needed."
    elif notification.kind == K.CLIENT_PAYMENT_FAILED and (
        session.status != Session.Status.APPROVED or session.payment_status == Session.PaymentStatus.PAID
    ):
        return f"The session is {session.get_status_display().lower()} now; the failure no longer matters."
    return ""


def notification_send(*, notification_id: int) -> Notification:
    """Send one queued email, exactly once. Raises NotificationSendError for a transient failure.

    The row stays locked while the message is handed to the backend, so a second
    worker waits and then finds it sent. Each attempt is counted and its error
    kept even when the attempt fails.
    """
    transient: Exception | None = None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient", "session__client", "session__therapist__user", "session__session_type")
            .get(pk=notification_id)
        )
        if notification.status != Notification.Status.QUEUED:
            return notification
        now = timezone.now()
        skip = _still_relevant(notification, now)
        if skip:
            notification.status = Notification.Status.SKIPPED
            notification.last_error = skip
            notification.save(update_fields=["status", "last_error", "updated_at"])
            return notification

        notification.attempts += 1
        try:
            connection = get_connection()
            own_id = None if isinstance(connection, AnymailBaseBackend) else make_msgid(domain=site_host())
            message = build_message(
                notification=notification, connection=connection, headers={"Message-ID": own_id} if own_id else None
            )
            notification.subject = message.subject[:200]
            notification.to_email = notification.recipient.email
            message.send()
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if _is_transient(exc):
                transient = NotificationSendError(notification.last_error)
                transient.__cause__ = exc
                logger.warning(
                    "Notification %s attempt %s failed, will retry: %s",
                    notification.pk,
                    notification.attempts,
                    type(exc).__name__,
                )
            else:
                notification.status = Notification.Status.FAILED
                logger.exception("Notification %s failed for good.", notification.pk)
            notification.save()
        else:
            status = getattr(message, "anymail_status", None)
            provider_id = getattr(status, "message_id", None) if status is not None else None
            if isinstance(provider_id, set):
                provider_id = next(iter(provider_id), None)
            if provider_id is None or provider_id == "":
                provider_id = own_id or ""
            notification.provider_message_id = str(provider_id)[:255]
            notification.status = Notification.Status.SENT
            notification.sent_at = now
            # last_error is kept: with attempts > 1 it tells what the retries were about.
            notification.save()
    if transient is not None:
        raise transient
    return notification


def notification_failed(*, notification_id: int, error: str) -> Notification:
    """Retries ran out (send_notification's failure hook): mark the email failed; staff can resend it."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status == Notification.Status.QUEUED:
            notification.status = Notification.Status.FAILED
            notification.last_error = (error or notification.last_error)[:2000]
            notification.save(update_fields=["status", "last_error", "updated_at"])
            logger.error("Notification %s failed after %s attempts.", notification.pk, notification.attempts)
    return notification


def notification_resend(*, notification: Notification | int, actor: User) -> Notification:
    """Staff send one email again (a failed one, or one the person says never arrived).

    Raises NotAllowed for anyone but staff.
    """
    if not actor.is_staff:
        raise NotAllowed("Only staff can resend emails.")
    pk = notification.pk if isinstance(notification, Notification) else notification
    with transaction.atomic():
        locked = Notification.objects.select_for_update().get(pk=pk)
        locked.status = Notification.Status.QUEUED
        locked.last_error = ""
        locked.provider_message_id = ""
        locked.delivery_status = ""
        locked.delivery_detail = ""
        locked.delivery_updated_at = None
        locked.sent_at = None
        locked.save()
        transaction.on_commit(lambda: _enqueue(locked.pk), robust=True)
    logger.info("Notification %s queued again by staff user %s.", locked.pk, actor.pk)
    return locked


# --- Provider tracking -----------------------------------------------------------------------

TRACKED_EVENTS = frozenset(
    {
        "queued",
        "sent",
        "rejected",
        "failed",
        "bounced",
        "deferred",
        "delivered",
        "autoresponded",
        "opened",
        "clicked",
        "complained",
        "unsubscribed",
        "subscribed",
    }
)


def notification_apply_tracking(
    *, message_id: str, event_type: str, timestamp: dt.datetime | None = None, detail: str = ""
) -> int:
    """Record a provider's delivery event on the email it is about. Returns how many rows changed.

    Events can arrive out of order; an event older than the one already recorded is ignored.
    """
    if not message_id or event_type not in TRACKED_EVENTS:
        return 0
    timestamp = timestamp or timezone.now()
    changed = 0
    with transaction.atomic():
        for notification in Notification.objects.select_for_update().filter(provider_message_id=message_id):
            if notification.delivery_updated_at and timestamp < notification.delivery_updated_at:
                continue
            notification.delivery_status = event_type
            notification.delivery_detail = (detail or "")[:255]
            notification.delivery_updated_at = timestamp
            notification.save(update_fields=["delivery_status", "delivery_detail", "delivery_updated_at", "updated_at"])
            changed += 1
    return changed
