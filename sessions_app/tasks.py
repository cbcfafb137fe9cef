from celery import shared_task

from . import services


@shared_task(name="sessions_app.tasks.expire_stale_sessions")
def expire_stale_sessions() -> int:
    """Beat task: expire unanswered requests and unpaid approvals. Safe to run twice."""
    return services.sessions_expire_due()
