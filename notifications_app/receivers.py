"""Signal receivers, connected in NotificationsAppConfig.ready()."""

from __future__ import annotations

import logging

from django.db import transaction

from . import dispatch, services

logger = logging.getLogger(__name__)


def on_session_changed(sender, *, session_id: int, action: str, **kwargs) -> None:
    """sessions_app sends this after the change committed: publish ONE task that sends its emails.

    The request does no more than that publish; the rows were logged with the
    change (on_session_event_created) and the worker logs any still missing.
    Never raises: the change is already committed and its caller must not see a
    mail problem. What fails here is logged, and requeue_stale_notifications
    picks up rows whose task was not queued.
    """
    if action not in services.ACTION_NOTIFICATIONS:
        return
    try:
        dispatch.task_send(dispatch.NOTIFY_SESSION_CHANGE, session_id, action)
    except Exception:
        logger.exception("Could not queue emails for session %s after %r.", session_id, action)


def on_session_event_created(sender, *, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """A session change is being written: log its emails in the same transaction, so they commit with it.

    Logged only after the commit (on_session_changed), they would be lost to a
    worker killed between that commit and the insert, a receipt among them.
    Sending still waits for the commit; requeue_stale_notifications queues again
    a row whose task never reached the broker. A failure here must not undo the
    change: it is rolled back to its savepoint and the task on_session_changed
    publishes logs it again in the worker.
    """
    if not created or raw:
        return
    try:
        with transaction.atomic():
            services.notifications_queue_for_session_change(
                session_id=instance.session_id, action=instance.action, enqueue=False
            )
    except Exception:
        logger.exception(
            "Could not log emails for session %s with %r; retrying after commit.", instance.session_id, instance.action
        )


def on_tracking(sender, *, event, esp_name: str, **kwargs) -> None:
    """anymail's tracking webhook: record delivered, bounced… on the email it is about."""
    detail = event.description or event.mta_response or event.reject_reason or ""
    services.notification_apply_tracking(
        message_id=event.message_id or "", event_type=event.event_type, timestamp=event.timestamp, detail=str(detail)
    )
