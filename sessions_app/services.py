"""Writes for the session domain: the state machine and everything that changes a session.

Every transition goes through ``_transition``: one transaction, the row locked
with ``select_for_update`` and re-read, the actor checked, the move checked
against ``TRANSITIONS``, one ``SessionEvent`` written, and ``session_changed``
announced once the transaction commits. An illegal move raises
``IllegalTransition`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .exceptions import IllegalTransition, NotAllowed, SlotUnavailable, ValidationFailed
from .models import Session, SessionEvent, SessionType, TherapistProfile, User
from .selectors import slot_is_free
from .signals import session_changed

S = Session.Status
P = Session.PaymentStatus

CLIENT, THERAPIST, STAFF, SYSTEM = "client", "therapist", "staff", "system"


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    actors: frozenset[str]
    verb: str


def _move(sources, target, actors, verb) -> Move:
    return Move(frozenset(sources), target, frozenset(actors), verb)


# The whole state machine of shared/DESIGN.md, as a table.
TRANSITIONS: dict[str, Move] = {
    "approve": _move({S.PENDING_APPROVAL}, S.APPROVED, {THERAPIST, STAFF}, "approve"),
    "decline": _move({S.PENDING_APPROVAL}, S.DECLINED, {THERAPIST, STAFF}, "decline"),
    "expire": _move({S.PENDING_APPROVAL, S.APPROVED}, S.EXPIRED, {SYSTEM, STAFF}, "expire"),
    "cancel": _move({S.PENDING_APPROVAL, S.APPROVED, S.CONFIRMED}, S.CANCELLED, {CLIENT, THERAPIST, STAFF}, "cancel"),
    "confirm": _move({S.APPROVED}, S.CONFIRMED, {SYSTEM, STAFF}, "confirm"),
    "start": _move({S.CONFIRMED}, S.IN_PROGRESS, {THERAPIST, STAFF}, "start"),
    "complete": _move({S.IN_PROGRESS}, S.COMPLETED, {THERAPIST, STAFF}, "complete"),
    "mark_no_show": _move({S.CONFIRMED}, S.NO_SHOW, {THERAPIST, STAFF}, "mark as no-show"),
}

# payment_status moves: pending -> processing -> paid, processing -> failed -> processing,
# paid -> refunded. A payment Daraja confirms late may land on a failed attempt's session.
PAYMENT_MOVES: dict[str, frozenset[str]] = {
    P.PENDING: frozenset({P.PROCESSING}),
    P.PROCESSING: frozenset({P.PAID, P.FAILED}),
    P.FAILED: frozenset({P.PROCESSING, P.PAID}),
    P.PAID: frozenset({P.REFUNDED}),
    P.REFUNDED: frozenset(),
}

# How long before the start a therapist may press Start.
START_EARLY_MINUTES = 15


def allowed_actions(*, session: Session, user: User | None) -> set[str]:
    """The transitions this user may apply to this session now (for buttons and API hints)."""
    roles = _roles(session=session, user=user)
    return {
        name
        for name, move in TRANSITIONS.items()
        if session.status in move.sources and roles & move.actors and name not in {"confirm", "expire"}
    }


def _roles(*, session: Session, user: User | None) -> set[str]:
    if user is None:
        return {SYSTEM}
    roles = set()
    if user.is_staff:
        roles.add(STAFF)
    if session.client_id == user.pk:
        roles.add(CLIENT)
    profile = getattr(user, "therapist_profile", None) if user.role == User.Role.THERAPIST else None
    if profile is not None and session.therapist_id == profile.pk:
        roles.add(THERAPIST)
    return roles


def _lock(session: Session | int) -> Session:
    pk = session.pk if isinstance(session, Session) else session
    return Session.objects.select_for_update().get(pk=pk)


def _record(
    *,
    session: Session,
    action: str,
    actor: User | None,
    from_status: str,
    from_payment_status: str,
    note: str = "",
    source: str = "",
    source_ip: str | None = None,
) -> SessionEvent:
    event = SessionEvent.objects.create(
        session=session,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=session.status,
        from_payment_status=from_payment_status,
        to_payment_status=session.payment_status,
        note=note[:2000],
        source=source or ("system" if actor is None else "web"),
        source_ip=source_ip,
    )
    session_id, to_status, actor_id = session.pk, session.status, getattr(actor, "pk", None)
    transaction.on_commit(
        lambda: session_changed.send(
            sender=Session,
            session_id=session_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor_id,
        )
    )
    return event


def _transition(
    *,
    session: Session | int,
    action: str,
    actor: User | None,
    note: str = "",
    source: str = "",
    source_ip: str | None = None,
    check=None,
    **changes,
) -> Session:
    move = TRANSITIONS[action]
    with transaction.atomic():
        locked = _lock(session)
        if not _roles(session=locked, user=actor) & move.actors:
            raise NotAllowed(f"You cannot {move.verb} this session.")
        if locked.status not in move.sources:
            raise IllegalTransition(f"You cannot {move.verb} a session that is {locked.get_status_display()}.")
        if check is not None:
            check(locked)
        from_status, from_payment = locked.status, locked.payment_status
        locked.status = move.target
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save()
        _record(
            session=locked,
            action=action,
            actor=actor,
            from_status=from_status,
            from_payment_status=from_payment,
            note=note,
            source=source,
            source_ip=source_ip,
        )
    if isinstance(session, Session):
        session.refresh_from_db()
    return locked


def _required(reason: str, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Please give a reason.", field=field)
    if len(reason) > 1000:
        raise ValidationFailed("Please keep the reason under 1000 characters.", field=field)
    return reason


# --- Requesting ---------------------------------------------------------------------------


def respond_by_for(*, start: dt.datetime, therapist: TherapistProfile, now: dt.datetime) -> dt.datetime:
    """48 h (configurable), or before the minimum notice ahead of the session, whichever is first.

    A request made right at the notice boundary still gets two hours (never past the start).
    """
    ttl = now + dt.timedelta(hours=settings.BOOKING_REQUEST_TTL_HOURS)
    before_notice = start - dt.timedelta(hours=therapist.min_notice_hours)
    floor = min(now + dt.timedelta(hours=2), start)
    return max(min(ttl, before_notice), floor)


def session_request(
    *,
    client: User,
    therapist: TherapistProfile,
    session_type: SessionType,
    start: dt.datetime,
    notes: str = "",
    idempotency_key: str | None = None,
    source: str = "web",
    source_ip: str | None = None,
) -> Session:
    """A client asks for a slot. Returns the existing session when the idempotency key was used."""
    if not client.is_authenticated or client.role != User.Role.CLIENT:
        raise NotAllowed("Only client accounts can book sessions.")
    if idempotency_key:
        existing = Session.objects.filter(idempotency_key=idempotency_key, client=client).first()
        if existing:
            return existing
    if session_type.therapist_id != therapist.pk or not session_type.is_active:
        raise ValidationFailed("That session type is not offered by this therapist.", field="session_type")
    if timezone.is_naive(start):
        raise ValidationFailed("Give the start time with its time zone offset.", field="start")
    notes = (notes or "").strip()
    if len(notes) > 2000:
        raise ValidationFailed("Please keep your notes under 2000 characters.", field="notes")

    now = timezone.now()
    try:
        with transaction.atomic():
            # Serialise bookings per therapist: the buffer rule spans rows the
            # exclusion constraint cannot see.
            locked_therapist = TherapistProfile.objects.select_for_update().get(pk=therapist.pk)
            if (
                not locked_therapist.accepting_new_clients
                and not Session.objects.filter(therapist=therapist, client=client).exists()
            ):
                raise ValidationFailed("This therapist is not taking new clients just now.", field="therapist")
            if not slot_is_free(therapist=locked_therapist, session_type=session_type, start=start):
                raise SlotUnavailable()
            session = Session.objects.create(
                client=client,
                therapist=locked_therapist,
                session_type=session_type,
                start=start,
                end=start + dt.timedelta(minutes=session_type.duration_minutes),
                amount_kes=session_type.price_kes,
                client_notes=notes,
                respond_by=respond_by_for(start=start, therapist=locked_therapist, now=now),
                idempotency_key=idempotency_key or None,
            )
            _record(
                session=session,
                action="request",
                actor=client,
                from_status="",
                from_payment_status="",
                source=source,
                source_ip=source_ip,
            )
    except IntegrityError as exc:
        # The exclusion constraint (or the idempotency key) is the backstop.
        if idempotency_key:
            existing = Session.objects.filter(idempotency_key=idempotency_key, client=client).first()
            if existing:
                return existing
        raise SlotUnavailable() from exc
    return session


# --- Therapist decisions ------------------------------------------------------------------


def session_approve(
    *, session: Session | int, actor: User, source: str = "web", source_ip: str | None = None
) -> Session:
    now = timezone.now()

    def check(locked: Session) -> None:
        if locked.start <= now:
            raise IllegalTransition("This session's time has passed; it can no longer be approved.")

    locked_start = session.start if isinstance(session, Session) else Session.objects.get(pk=session).start
    pay_by = min(now + dt.timedelta(hours=settings.BOOKING_PAYMENT_WINDOW_HOURS), locked_start)
    return _transition(
        session=session, action="approve", actor=actor, check=check, pay_by=pay_by, source=source, source_ip=source_ip
    )


def session_decline(
    *, session: Session | int, actor: User, reason: str, source: str = "web", source_ip: str | None = None
) -> Session:
    reason = _required(reason)
    return _transition(
        session=session,
        action="decline",
        actor=actor,
        note=reason,
        decline_reason=reason,
        source=source,
        source_ip=source_ip,
    )


def cancellation_policy(*, session: Session, actor: User | None, now: dt.datetime | None = None) -> dict:
    """What cancelling now means, shown before the person confirms.

    Paid sessions are refunded when the therapist (or staff) cancels, or when the
    client cancels at least BOOKING_FREE_CANCEL_HOURS before the start.
    """
    now = now or timezone.now()
    hours = settings.BOOKING_FREE_CANCEL_HOURS
    paid = session.payment_status == P.PAID
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


def session_cancel(
    *, session: Session | int, actor: User, reason: str, source: str = "web", source_ip: str | None = None
) -> Session:
    reason = _required(reason)
    now = timezone.now()
    refund = {}

    def check(locked: Session) -> None:
        if locked.status == S.CONFIRMED and locked.start <= now:
            raise IllegalTransition("This session has already started; it can no longer be cancelled.")
        refund["due"] = cancellation_policy(session=locked, actor=actor, now=now)["refund"]

    with transaction.atomic():
        locked = _transition(
            session=session,
            action="cancel",
            actor=actor,
            check=check,
            note=reason,
            cancel_reason=reason,
            cancelled_by=actor,
            source=source,
            source_ip=source_ip,
        )
        if refund.get("due"):
            Session.objects.filter(pk=locked.pk).update(refund_due=True)
            locked.refund_due = True
    return locked


def session_expire(*, session: Session | int, now: dt.datetime | None = None) -> Session | None:
    """Expire a request nobody answered, or an approval left unpaid. Safe to run twice.

    Returns the session when it expired, None when it no longer should (answered,
    paid, or a payment still in flight: the payment sweeper settles that first).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(session)
        due = (locked.status == S.PENDING_APPROVAL and locked.respond_by <= now) or (
            locked.status == S.APPROVED
            and locked.pay_by is not None
            and locked.pay_by <= now
            and locked.payment_status in (P.PENDING, P.FAILED)
        )
        if not due:
            return None
        note = "No answer in time." if locked.status == S.PENDING_APPROVAL else "Not paid in time."
        return _transition(session=locked, action="expire", actor=None, note=note, source="system")


def sessions_expire_due(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = list(
        Session.objects.filter(status=S.PENDING_APPROVAL, respond_by__lte=now).values_list("pk", flat=True)
    ) + list(
        Session.objects.filter(
            status=S.APPROVED, pay_by__lte=now, payment_status__in=(P.PENDING, P.FAILED)
        ).values_list("pk", flat=True)
    )
    return sum(1 for pk in ids if session_expire(session=pk, now=now) is not None)


# --- Running the session ------------------------------------------------------------------


def session_start(*, session: Session | int, actor: User, source: str = "web", source_ip: str | None = None) -> Session:
    now = timezone.now()

    def check(locked: Session) -> None:
        if now < locked.start - dt.timedelta(minutes=START_EARLY_MINUTES):
            raise IllegalTransition(f"A session can be started from {START_EARLY_MINUTES} minutes before its time.")
        if now > locked.end:
            raise IllegalTransition("This session's time is over; mark it completed or as a no-show instead.")

    return _transition(session=session, action="start", actor=actor, check=check, source=source, source_ip=source_ip)


def session_complete(
    *, session: Session | int, actor: User, source: str = "web", source_ip: str | None = None
) -> Session:
    return _transition(session=session, action="complete", actor=actor, source=source, source_ip=source_ip)


def session_mark_no_show(
    *, session: Session | int, actor: User, source: str = "web", source_ip: str | None = None
) -> Session:
    now = timezone.now()

    def check(locked: Session) -> None:
        if now < locked.start:
            raise IllegalTransition("A no-show can only be recorded once the session's time has begun.")

    return _transition(
        session=session, action="mark_no_show", actor=actor, check=check, source=source, source_ip=source_ip
    )


def session_set_meeting_link(*, session: Session | int, actor: User, link: str) -> Session:
    with transaction.atomic():
        locked = _lock(session)
        if THERAPIST not in _roles(session=locked, user=actor) and STAFF not in _roles(session=locked, user=actor):
            raise NotAllowed("Only the session's therapist can set its link.")
        if locked.session_type.mode != SessionType.Mode.ONLINE:
            raise ValidationFailed("Only online sessions have a meeting link.", field="meeting_link")
        if locked.status not in (S.APPROVED, S.CONFIRMED, S.IN_PROGRESS):
            raise IllegalTransition("The link can be set on an approved, confirmed or running session.")
        locked.meeting_link = link
        locked.save(update_fields=["meeting_link", "updated_at"])
        _record(
            session=locked,
            action="set_link",
            actor=actor,
            from_status=locked.status,
            from_payment_status=locked.payment_status,
            note="Meeting link set.",
        )
    return locked


# --- Payment status (driven by payments_app) ----------------------------------------------


def _payment_move(*, locked: Session, to: str) -> None:
    if to not in PAYMENT_MOVES[locked.payment_status]:
        raise IllegalTransition(f"Payment cannot go from {locked.get_payment_status_display()} to {P(to).label}.")


def session_payment_processing(
    *,
    session: Session | int,
    actor: User | None,
    phone: str,
    checkout_request_id: str,
    merchant_request_id: str,
    source: str = "web",
    source_ip: str | None = None,
) -> Session:
    with transaction.atomic():
        locked = _lock(session)
        if locked.status != S.APPROVED:
            raise IllegalTransition(f"Only an approved session can be paid; this one is {locked.get_status_display()}.")
        _payment_move(locked=locked, to=P.PROCESSING)
        from_payment = locked.payment_status
        locked.payment_status = P.PROCESSING
        locked.payment_method = "mpesa"
        locked.mpesa_phone = phone
        locked.mpesa_checkout_request_id = checkout_request_id
        locked.mpesa_merchant_request_id = merchant_request_id
        locked.mpesa_result_code = ""
        locked.mpesa_result_desc = ""
        locked.payment_initiated_at = timezone.now()
        locked.payment_attempts += 1
        locked.save()
        _record(
            session=locked,
            action="payment_processing",
            actor=actor,
            from_status=locked.status,
            from_payment_status=from_payment,
            note="M-Pesa request sent.",
            source=source,
            source_ip=source_ip,
        )
    return locked


def session_payment_failed(
    *, session: Session | int, checkout_request_id: str, result_code: str, result_desc: str, source: str = "daraja"
) -> Session | None:
    """The current attempt failed. A stale attempt's failure (another push since) changes nothing."""
    with transaction.atomic():
        locked = _lock(session)
        if locked.payment_status != P.PROCESSING or locked.mpesa_checkout_request_id != checkout_request_id:
            return None
        locked.payment_status = P.FAILED
        locked.mpesa_result_code = str(result_code)[:16]
        locked.mpesa_result_desc = (result_desc or "")[:255]
        locked.save()
        _record(
            session=locked,
            action="payment_failed",
            actor=None,
            from_status=locked.status,
            from_payment_status=P.PROCESSING,
            note=f"{result_code}: {result_desc}"[:2000],
            source=source,
        )
    return locked


def session_mark_paid(
    *,
    session: Session | int,
    receipt_number: str,
    amount: int,
    phone: str,
    checkout_request_id: str,
    merchant_request_id: str = "",
    source: str = "daraja",
) -> Session | None:
    """Confirm a session whose payment Daraja confirmed. Exactly once.

    Returns the session when this call confirmed it; None when it was already
    paid (a duplicate). Raises IllegalTransition when the session can no longer
    be confirmed (expired, cancelled): the caller keeps the money on record for
    a refund.
    """
    with transaction.atomic():
        locked = _lock(session)
        if locked.payment_status in (P.PAID, P.REFUNDED):
            return None
        if locked.status != S.APPROVED:
            raise IllegalTransition(f"Payment received for a session that is {locked.get_status_display()}.")
        _payment_move(locked=locked, to=P.PAID)
        from_status, from_payment = locked.status, locked.payment_status
        locked.status = S.CONFIRMED
        locked.payment_status = P.PAID
        locked.payment_method = "mpesa"
        locked.mpesa_receipt_number = receipt_number
        locked.mpesa_amount = amount
        locked.mpesa_phone = phone or locked.mpesa_phone
        locked.mpesa_checkout_request_id = checkout_request_id
        if merchant_request_id:
            locked.mpesa_merchant_request_id = merchant_request_id
        locked.mpesa_result_code = "0"
        locked.mpesa_result_desc = "Paid"
        locked.payment_verified_at = timezone.now()
        locked.save()
        _record(
            session=locked,
            action="confirm",
            actor=None,
            from_status=from_status,
            from_payment_status=from_payment,
            note=f"M-Pesa receipt {receipt_number}.",
            source=source,
        )
    return locked


def session_mark_refunded(*, session: Session | int, actor: User, note: str = "") -> Session:
    with transaction.atomic():
        locked = _lock(session)
        if not actor.is_staff:
            raise NotAllowed("Only staff can record a refund.")
        _payment_move(locked=locked, to=P.REFUNDED)
        locked.payment_status = P.REFUNDED
        locked.refund_due = False
        locked.save()
        _record(
            session=locked,
            action="refund",
            actor=actor,
            from_status=locked.status,
            from_payment_status=P.PAID,
            note=note or "Refund recorded by staff.",
            source="admin",
        )
    return locked
