"""Celery tasks: thin, take ids, safe to run twice (the send re-checks the row under a lock).

Tasks call services; services never import this module, they publish a task
by its name through dispatch.py. The retry policy lives here.
"""

from __future__ import annotations

import logging
import random

from billiard.einfo import ExceptionInfo
from celery import Task, shared_task

from . import services
from .models import Notification

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BACKOFF_BASE = 30  # seconds; doubled on each retry
# Well under the broker's visibility timeout (3600 s), so a message waiting for
# its countdown is never redelivered to a second worker meanwhile.
RETRY_BACKOFF_MAX = 600


def retry_countdown(retries: int) -> int:
    """30 s, 60 s, 120 s, 240 s, 480 s (capped), with a little jitter so retries don't stampede."""
    base = min(RETRY_BACKOFF_BASE * 2**retries, RETRY_BACKOFF_MAX)
    return base + random.randint(0, max(1, base // 10))


def _send_notification_failed(
    self: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: ExceptionInfo
) -> None:
    """send_notification's failure hook: when its retries ran out on a transient error, the email failed.

    Any other failure (a bug, the database away) leaves the row queued, for
    requeue_stale_notifications to try again later.
    """
    if isinstance(exc, services.NotificationSendError):
        notification_id = args[0] if args else kwargs["notification_id"]
        services.notification_failed(notification_id=notification_id, error=str(exc))


@shared_task(
    bind=True,
    name="notifications_app.tasks.send_notification",
    max_retries=MAX_RETRIES,
    acks_late=True,
    on_failure=_send_notification_failed,
)
def send_notification(self, notification_id: int) -> str:
    try:
        return services.notification_send(notification_id=notification_id).status
    except Notification.DoesNotExist:
        logger.warning("Notification %s no longer exists.", notification_id)
        return "missing"
    except services.NotificationSendError as exc:
        # Past MAX_RETRIES, retry() raises exc itself: the task fails and its failure hook runs.
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries))


@shared_task(name="notifications_app.tasks.notify_session_change", acks_late=True)
def notify_session_change(session_id: int, action: str) -> int:
    """One message per committed session change: log its emails if still missing, then send them here.

    The request publishes only this (ids and the action); the rows were normally
    logged in the change's own transaction already. A send that fails for a
    transient reason goes on as send_notification at its first retry, with the
    same backoff and the same number of attempts in all. Returns how many were
    handled. Safe to run twice (see notifications_prepare_for_session_change).
    """
    ids = services.notifications_prepare_for_session_change(session_id=session_id, action=action)
    for notification_id in ids:
        try:
            services.notification_send(notification_id=notification_id)
        except Notification.DoesNotExist:
            logger.warning("Notification %s no longer exists.", notification_id)
        except services.NotificationSendError:
            send_notification.apply_async(args=[notification_id], countdown=retry_countdown(0), retries=1)
        except Exception:
            logger.exception("Notification %s could not be sent here; queued on its own.", notification_id)
            send_notification.delay(notification_id)
    return len(ids)


@shared_task(name="notifications_app.tasks.send_due_reminders", acks_late=True)
def send_due_reminders() -> int:
    """Beat, every 5 minutes: the 24-hour and 1-hour reminders, each once per confirmed session."""
    return services.reminders_queue_due()


@shared_task(name="notifications_app.tasks.requeue_stale_notifications", acks_late=True)
def requeue_stale_notifications() -> int:
    """Beat: re-queue emails whose task message was lost (broker down at commit time)."""
    return services.notifications_requeue_stale()


@shared_task(name="notifications_app.tasks.send_staff_payment_alert", acks_late=True)
def send_staff_payment_alert(session_id: int) -> int:
    """payments_app queues this by name when M-Pesa refuses our set-up: alert staff (at most once an hour)."""
    return len(services.notifications_staff_payment_alert(session_id=session_id))
