"""Reads of sessions: who sees which, their timelines, and what cancelling one now would mean."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import Session, TherapistProfile, User


def sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """Only one's own: a client's bookings, or a therapist's appointments."""
    qs = Session.objects.select_related("client", "therapist__user", "session_type")
    if not user.is_authenticated:
        return qs.none()
    if user.is_therapist:
        return qs.filter(therapist=user.therapist_profile)
    return qs.filter(client=user)


def session_get_visible(*, user: User, pk: int) -> Session | None:
    return sessions_visible_to(user=user).filter(pk=pk).first()


def sessions_for_client(*, client: User, upcoming: bool | None = None) -> QuerySet[Session]:
    qs = Session.objects.filter(client=client).select_related("therapist__user", "session_type")
    now = timezone.now()
    if upcoming is True:
        qs = qs.filter(end__gt=now, status__in=Session.SLOT_HOLDING).order_by("start")
    elif upcoming is False:
        qs = qs.filter(Q(end__lte=now) | ~Q(status__in=Session.SLOT_HOLDING)).order_by("-start")
    return qs


def sessions_for_therapist(
    *,
    therapist: TherapistProfile,
    status: Iterable[str] | None = None,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
) -> QuerySet[Session]:
    qs = Session.objects.filter(therapist=therapist).select_related("client", "session_type")
    if status is not None:
        qs = qs.filter(status__in=list(status))
    if start_from is not None:
        qs = qs.filter(start__gte=start_from)
    if start_to is not None:
        qs = qs.filter(start__lt=start_to)
    return qs.order_by("start")


def session_timeline(*, session: Session) -> QuerySet:
    return session.events.select_related("actor").order_by("at", "id")


def sessions_booked_ahead(*, therapist: TherapistProfile) -> QuerySet[Session]:
    """A therapist's slot-holding sessions not over yet, soonest first."""
    return (
        Session.objects.filter(therapist=therapist, status__in=Session.SLOT_HOLDING, end__gt=timezone.now())
        .select_related("client", "session_type")
        .order_by("start", "id")
    )


def session_respond_by(*, start: dt.datetime, therapist: TherapistProfile, now: dt.datetime) -> dt.datetime:
    """48 h (configurable), or before the minimum notice ahead of the session, whichever is first.

    A request made right at the notice boundary still gets two hours (never past the start).
    """
    ttl = now + dt.timedelta(hours=settings.BOOKING_REQUEST_TTL_HOURS)
    before_notice = start - dt.timedelta(hours=therapist.min_notice_hours)
    floor = min(now + dt.timedelta(hours=2), start)
    return max(min(ttl, before_notice), floor)


def session_cancellation_policy(*, session: Session, actor: User | None, now: dt.datetime | None = None) -> dict:
    """What cancelling now means, shown before the person confirms.

    Paid sessions are refunded when the therapist (or staff) cancels, or when the
    client cancels at least BOOKING_FREE_CANCEL_HOURS before the start.
    """
    now = now or timezone.now()
    hours = settings.BOOKING_FREE_CANCEL_HOURS
    paid = session.payment_status == Session.PaymentStatus.PAID
    by_client = actor is not None and session.client_id == actor.pk
    early = session.start - now >= dt.timedelta(hours=hours)
    refund = paid and (not by_client or early)
    if not paid:
        summary = "Nothing has been paid, so there is nothing to refund."
    elif refund:
        summary = f"You will be refunded KES {session.mpesa_amount or session.amount_kes:,} to your M-Pesa."
    else:
        summary = f"Cancelling less than {hours} hours before the start is not refunded."
    return {"refund": refund, "summary": summary, "free_cancel_hours": hours}
