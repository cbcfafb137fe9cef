"""Reads for payments. Nothing here writes."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from sessions_app.models import Session, User

from .models import CreditEntry, MoneyCase, MpesaCallback, PaymentAttempt, PaymentEvent


def session_for_payer(*, user: User, pk: int) -> Session | None:
    """The session if ``user`` is its client (only the client pays; anyone else gets None -> 404)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Session.objects.select_related("therapist__user", "session_type").filter(pk=pk, client=user).first()


def attempt_for_payer(*, user: User, checkout_request_id: str) -> PaymentAttempt | None:
    if not getattr(user, "is_authenticated", False) or not checkout_request_id:
        return None
    return (
        PaymentAttempt.objects.select_related("session")
        .filter(checkout_request_id=checkout_request_id, session__client=user)
        .first()
    )


def attempt_latest(*, session: Session) -> PaymentAttempt | None:
    return PaymentAttempt.objects.filter(session=session).order_by("-initiated_at", "-id").first()


def attempt_in_flight(*, session: Session) -> PaymentAttempt | None:
    return (
        PaymentAttempt.objects.filter(session=session, status__in=PaymentAttempt.IN_FLIGHT)
        .order_by("-initiated_at", "-id")
        .first()
    )


def attempt_deadline(*, attempt: PaymentAttempt) -> dt.datetime:
    return attempt.initiated_at + dt.timedelta(seconds=settings.MPESA_POLL_DEADLINE_SECONDS)


def attempts_stuck(*, now: dt.datetime | None = None) -> QuerySet[PaymentAttempt]:
    """Attempts Daraja has not settled by the deadline (and pushes left half-sent)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.MPESA_POLL_DEADLINE_SECONDS)
    return PaymentAttempt.objects.filter(status__in=PaymentAttempt.IN_FLIGHT, initiated_at__lt=cutoff).order_by(
        "initiated_at"
    )


def callbacks_unprocessed(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> QuerySet[MpesaCallback]:
    now = now or timezone.now()
    return MpesaCallback.objects.filter(processed_at__isnull=True, received_at__lt=now - older_than).order_by(
        "received_at"
    )


def callbacks_for_checkout(*, checkout_request_id: str) -> QuerySet[MpesaCallback]:
    return MpesaCallback.objects.filter(checkout_request_id=checkout_request_id).order_by("received_at", "id")


def payment_events_for(*, session: Session) -> QuerySet[PaymentEvent]:
    return PaymentEvent.objects.filter(session=session).select_related("actor").order_by("at", "id")


def credit_balance(*, client: User) -> int:
    """The client's session credit in KES: the sum of their ledger (append-only lines, no balance field)."""
    return CreditEntry.objects.filter(client=client).aggregate(total=Sum("amount"))["total"] or 0


def money_cases_open() -> QuerySet:
    """Open money cases, oldest first (staff's queue)."""
    return (
        MoneyCase.objects.filter(status__in=MoneyCase.OPEN_STATUSES)
        .select_related("session", "client", "attempt")
        .order_by("opened_at", "id")
    )
