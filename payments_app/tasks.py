"""Payment tasks: thin (ids in, a service call), idempotent, retried with backoff on transient errors.

Tasks import services; services never import this module (they queue these by
name through payments_app.dispatch). Every retry budget is set here.

Failure hooks: neither payment has a ``*_failed`` service for a task that runs
out of retries, on purpose. A poll that gives up leaves the attempt to
``sweep_stuck_payments`` (payment_check times it out at the deadline, so nothing
stays Processing); a callback that gives up stays stored and unprocessed, and
``sweep_unprocessed_callbacks`` queues it again until it has had
CALLBACK_MAX_TRIES tries, then calls the failed service, mpesa_callback_abandon.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from . import selectors, services
from .models import PaymentAttempt

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError,)
RETRY_BACKOFF = 5  # seconds, doubling: for TRANSIENT errors
POLL_MAX_RETRIES = 5
CALLBACK_MAX_RETRIES = 6  # per delivery chain, while Daraja has no final answer
CALLBACK_RETRY_MAX_COUNTDOWN = 60
CALLBACK_MAX_TRIES = 10  # over all deliveries (process_tries): then the sweeper abandons the callback
CALLBACK_SWEEP_AFTER = dt.timedelta(seconds=30)


@shared_task(
    bind=True,
    name="payments_app.tasks.poll_payment",
    autoretry_for=TRANSIENT,
    retry_backoff=RETRY_BACKOFF,
    max_retries=POLL_MAX_RETRIES,
    acks_late=True,
)
def poll_payment(self, attempt_id: int) -> str:
    """Ask STK Query about a push until Daraja gives a final answer or the deadline passes."""
    attempt = PaymentAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None or attempt.status != PaymentAttempt.Status.PROCESSING:
        return attempt.status if attempt else "missing"
    attempt = services.payment_check(attempt=attempt, source="poll")
    if attempt.status == PaymentAttempt.Status.PROCESSING and not self.app.conf.task_always_eager:
        remaining = (selectors.attempt_deadline(attempt=attempt) - timezone.now()).total_seconds()
        countdown = max(min(settings.MPESA_POLL_INTERVAL_SECONDS, remaining), 1.0)
        poll_payment.apply_async(args=[attempt_id], countdown=countdown)
    return attempt.status


@shared_task(
    bind=True,
    name="payments_app.tasks.process_callback",
    autoretry_for=TRANSIENT,
    retry_backoff=RETRY_BACKOFF,
    max_retries=CALLBACK_MAX_RETRIES,
    acks_late=True,
)
def process_callback(self, callback_id: int) -> str:
    """Settle the push a stored callback names (the callback is a trigger; STK Query is the truth)."""
    try:
        return services.mpesa_callback_process(callback_id=callback_id)
    except services.NotSettledYet:
        if self.app.conf.task_always_eager:
            return "pending"  # no countdowns in eager mode: the status endpoint settles it
        if self.request.retries >= CALLBACK_MAX_RETRIES:
            return "pending"  # retries exhausted: the callback sweeper picks it up again (see the module doc)
        countdown = min(RETRY_BACKOFF * 2**self.request.retries, CALLBACK_RETRY_MAX_COUNTDOWN)
        raise self.retry(countdown=countdown, max_retries=CALLBACK_MAX_RETRIES)


@shared_task(name="payments_app.tasks.sweep_unprocessed_callbacks", acks_late=True)
def sweep_unprocessed_callbacks() -> int:
    """Beat: re-queue stored callbacks whose processing never finished (a crash, a lost task)."""
    queued = 0
    for callback in selectors.callbacks_unprocessed(older_than=CALLBACK_SWEEP_AFTER)[:500]:
        if callback.process_tries >= CALLBACK_MAX_TRIES:
            services.mpesa_callback_abandon(callback_id=callback.pk)
        else:
            process_callback.delay(callback.pk)
            queued += 1
    return queued


@shared_task(name="payments_app.tasks.sweep_stuck_payments", acks_late=True)
def sweep_stuck_payments() -> int:
    """Beat: settle attempts left Processing past the deadline, so none stays Processing."""
    return services.payments_settle_stuck()
