"""Signal receivers, connected in NotificationsAppConfig.ready()."""

from __future__ import annotations

import logging

from . import services

logger = logging.getLogger(__name__)


def on_session_changed(sender, *, session_id: int, action: str, **kwargs) -> None:
    """sessions_app sends this after the change committed: queue the emails it calls for.

    Never raises: the change is already committed and its caller must not see a
    mail problem. What fails here is logged, and requeue_stale_notifications
    picks up rows whose task was not queued.
    """
    try:
        services.notifications_for_session_change(session_id=session_id, action=action)
    except Exception:
        logger.exception("Could not queue emails for session %s after %r.", session_id, action)


def on_tracking(sender, *, event, esp_name: str, **kwargs) -> None:
    """anymail's tracking webhook: record delivered, bounced… on the email it is about."""
    detail = event.description or event.mta_response or event.reject_reason or ""
    services.notification_apply_tracking(
        message_id=event.message_id or "", event_type=event.event_type, timestamp=event.timestamp, detail=str(detail)
    )
