from celery import shared_task

from . import services
from .services.retention import retention_apply


@shared_task(name="sessions_app.tasks.expire_stale_sessions")
def expire_stale_sessions() -> int:
    """Beat task: expire unanswered requests and unpaid approvals. Safe to run twice."""
    return services.sessions_expire_due()


@shared_task(name="sessions_app.tasks.apply_retention")
def apply_retention() -> dict:
    """Beat task, nightly: anonymise or delete what is past its retention period. Safe to run twice."""
    return retention_apply()


@shared_task(name="sessions_app.tasks.send_account_email", autoretry_for=(OSError,), retry_backoff=30, max_retries=5)
def send_account_email(kind: str, user_id: int, context: dict) -> bool:
    """An account email (verification link, new-device sign-in), rendered at sending time (issue 18)."""
    from .services import signin

    return signin.account_email_send(kind=kind, user_id=user_id, context=context)
