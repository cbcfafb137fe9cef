"""Writes for the session domain: the state machine and everything that changes a session.

Every transition goes through ``_transition``: one transaction, the row locked
with ``select_for_update`` and re-read, the actor checked, the move checked
against ``TRANSITIONS``, one ``SessionEvent`` written, and ``session_changed``
announced once the transaction commits. An illegal move raises
``IllegalTransition`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import ratelimit
from .exceptions import IllegalTransition, NotAllowed, SlotUnavailable, ValidationFailed
from .models import (
    AuditEntry,
    Session,
    SessionEvent,
    SessionType,
    TherapistNote,
    TherapistProfile,
    TimeOff,
    User,
    WeeklyAvailability,
)
from .selectors import sessions_outside_availability, slot_is_free
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
    # Abuse limit: each well-formed attempt counts (replays of an idempotency key do not).
    ratelimit.hit(
        scope="booking-client",
        ident=str(client.pk),
        limit=settings.BOOKING_REQUESTS_PER_DAY,
        window=24 * 60 * 60,
        message=f"You have made {settings.BOOKING_REQUESTS_PER_DAY} booking requests today, the daily limit. "
        "Please try again tomorrow.",
    )

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


def session_record_receipt(*, session: Session | int, checkout_request_id: str, receipt_number: str) -> bool:
    """Fill in the M-Pesa receipt of a session STK Query confirmed before the callback brought it.

    Only for that payment (same checkout id) and only once; returns whether it was recorded.
    """
    with transaction.atomic():
        locked = _lock(session)
        if (
            locked.payment_status != P.PAID
            or locked.mpesa_checkout_request_id != checkout_request_id
            or locked.mpesa_receipt_number
        ):
            return False
        locked.mpesa_receipt_number = receipt_number
        locked.save(update_fields=["mpesa_receipt_number", "updated_at"])
        _record(
            session=locked,
            action="receipt",
            actor=None,
            from_status=locked.status,
            from_payment_status=locked.payment_status,
            note=f"M-Pesa receipt {receipt_number}.",
            source="daraja",
        )
    return True


def session_mark_refunded(
    *, session: Session | int, actor: User, note: str = "", source_ip: str | None = None
) -> Session:
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
            source_ip=source_ip,
        )
    return locked


# --- Accounts -----------------------------------------------------------------------------

_TIME_ZONES = {name for name, _ in User._meta.get_field("time_zone").choices}


def _account_fields(*, full_name: str, phone: str, time_zone: str) -> dict:
    from .phone import InvalidPhone, to_e164

    full_name = " ".join((full_name or "").split())
    if not full_name:
        raise ValidationFailed("Please enter your name.", field="full_name")
    try:
        phone = to_e164(phone)
    except InvalidPhone as exc:
        raise ValidationFailed(exc.message, field="phone")
    if time_zone not in _TIME_ZONES:
        raise ValidationFailed("Choose a time zone from the list.", field="time_zone")
    return {"full_name": full_name[:150], "phone": phone, "time_zone": time_zone}


def user_signup(
    *,
    email: str,
    full_name: str,
    phone: str,
    password: str,
    time_zone: str = "Africa/Nairobi",
    privacy_consent: bool,
) -> User:
    """A new client account. Consent to the privacy notice is required, and its time is kept."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    if not privacy_consent:
        raise ValidationFailed("Please agree to the privacy notice to create an account.", field="consent")
    email = (email or "").strip().lower()
    if not email:
        raise ValidationFailed("Please enter your email.", field="email")
    fields = _account_fields(full_name=full_name, phone=phone, time_zone=time_zone)
    try:
        validate_password(password, user=User(email=email, full_name=fields["full_name"]))
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password")
    duplicate = ValidationFailed("An account with this email already exists.", field="email")
    if User.objects.filter(email__iexact=email).exists():
        raise duplicate
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email,
                password=password,
                role=User.Role.CLIENT,
                privacy_consent_at=timezone.now(),
                **fields,
            )
    except IntegrityError:
        raise duplicate


def user_update_profile(*, user: User, full_name: str, phone: str, time_zone: str, email: str | None = None) -> User:
    """A person edits their own name, phone, time zone and (optionally) email."""
    fields = _account_fields(full_name=full_name, phone=phone, time_zone=time_zone)
    if email is not None:
        email = email.strip().lower()
        if not email:
            raise ValidationFailed("Please enter your email.", field="email")
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise ValidationFailed("Another account already uses this email.", field="email")
        fields["email"] = email
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            for name, value in fields.items():
                setattr(locked, name, value)
            locked.save(update_fields=list(fields))
    except IntegrityError:
        raise ValidationFailed("Another account already uses this email.", field="email")
    for name, value in fields.items():
        setattr(user, name, value)
    return user


# --- Availability and dashboard -----------------------------------------------------------
# A therapist's own settings: weekly hours, time off, booking rules, session types, private
# notes. None of these ever cancels or moves a booked session; a change that touches booked
# sessions returns them in ``ChangeResult.affected`` so the therapist is told and decides.

MAX_RANGES_PER_DAY = 8
_PROFILE_TIME_ZONES = frozenset(name for name, _ in TherapistProfile._meta.get_field("time_zone").choices)
NOTE_MAX_CHARS = 10_000


@dataclass(frozen=True)
class ChangeResult:
    """What a therapist's change did: the row made or changed, and the booked sessions it touches."""

    obj: object | None = None
    affected: tuple[Session, ...] = ()


def _lock_profile(therapist: TherapistProfile) -> TherapistProfile:
    return TherapistProfile.objects.select_for_update().get(pk=therapist.pk)


def _own(therapist: TherapistProfile, row, what: str) -> None:
    if row.therapist_id != therapist.pk:
        raise NotAllowed(f"That {what} is not yours.")


def _outside_ids(therapist: TherapistProfile) -> set[int]:
    return {session.pk for session in sessions_outside_availability(therapist=therapist)}


def _newly_outside(therapist: TherapistProfile, before: set[int]) -> list[Session]:
    return [session for session in sessions_outside_availability(therapist=therapist) if session.pk not in before]


def _booked_ahead(therapist: TherapistProfile) -> QuerySet[Session]:
    return (
        Session.objects.filter(therapist=therapist, status__in=Session.SLOT_HOLDING, end__gt=timezone.now())
        .select_related("client", "session_type")
        .order_by("start", "id")
    )


def _check_weekday(weekday) -> int:
    if weekday not in WeeklyAvailability.Weekday.values:
        raise ValidationFailed("Choose a day of the week.", field="weekday")
    return int(weekday)


def _clean_day_ranges(ranges: Sequence[tuple[dt.time, dt.time]], *, weekday: int) -> list[tuple[dt.time, dt.time]]:
    day = WeeklyAvailability.Weekday(weekday).label
    cleaned = []
    for start_time, end_time in ranges:
        if not isinstance(start_time, dt.time) or not isinstance(end_time, dt.time):
            raise ValidationFailed("Give a start and an end time.", field="start_time")
        start_time = start_time.replace(second=0, microsecond=0, tzinfo=None)
        end_time = end_time.replace(second=0, microsecond=0, tzinfo=None)
        if end_time <= start_time:
            raise ValidationFailed("The end time must be after the start time.", field="end_time")
        cleaned.append((start_time, end_time))
    cleaned.sort()
    for (start_1, end_1), (start_2, end_2) in itertools.pairwise(cleaned):
        if start_2 < end_1:
            raise ValidationFailed(
                f"{start_2:%H:%M}–{end_2:%H:%M} overlaps {start_1:%H:%M}–{end_1:%H:%M} on {day}.", field="start_time"
            )
    if len(cleaned) > MAX_RANGES_PER_DAY:
        raise ValidationFailed(f"At most {MAX_RANGES_PER_DAY} time ranges a day.", field="start_time")
    return cleaned


def availability_set_weekly_hours(
    *, therapist: TherapistProfile, weekday: int, ranges: Sequence[tuple[dt.time, dt.time]]
) -> ChangeResult:
    """Replace one weekday's hours (in the therapist's zone) with ``ranges``: several a day, none overlapping.

    ``affected``: booked sessions ahead that this change leaves outside the hours (they stay booked).
    """
    weekday = _check_weekday(weekday)
    cleaned = _clean_day_ranges(ranges, weekday=weekday)
    with transaction.atomic():
        # The same lock session_request takes: no booking is judged against half-changed hours.
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        WeeklyAvailability.objects.filter(therapist=locked, weekday=weekday).delete()
        rows = WeeklyAvailability.objects.bulk_create(
            [
                WeeklyAvailability(therapist=locked, weekday=weekday, start_time=start, end_time=end)
                for start, end in cleaned
            ]
        )
        return ChangeResult(obj=rows, affected=tuple(_newly_outside(locked, before)))


def weekly_hours_add(
    *, therapist: TherapistProfile, weekday: int, start_time: dt.time, end_time: dt.time
) -> ChangeResult:
    """Add one range of hours to a weekday, keeping the day's other ranges."""
    weekday = _check_weekday(weekday)
    with transaction.atomic():
        locked = _lock_profile(therapist)
        current = list(
            WeeklyAvailability.objects.filter(therapist=locked, weekday=weekday).values_list("start_time", "end_time")
        )
        if isinstance(start_time, dt.time) and isinstance(end_time, dt.time) and start_time < end_time:
            for other_start, other_end in current:
                if start_time < other_end and other_start < end_time:
                    day = WeeklyAvailability.Weekday(weekday).label
                    raise ValidationFailed(
                        f"That overlaps {other_start:%H:%M}–{other_end:%H:%M}, already set for {day}.",
                        field="start_time",
                    )
        result = availability_set_weekly_hours(
            therapist=locked, weekday=weekday, ranges=[*current, (start_time, end_time)]
        )
        added = next(
            (row for row in result.obj if (row.start_time, row.end_time) not in set(current)),
            None,
        )
        return ChangeResult(obj=added, affected=result.affected)


def weekly_hours_remove(*, therapist: TherapistProfile, hours: WeeklyAvailability) -> ChangeResult:
    _own(therapist, hours, "time range")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        WeeklyAvailability.objects.filter(pk=hours.pk, therapist=locked).delete()
        return ChangeResult(obj=hours, affected=tuple(_newly_outside(locked, before)))


def time_off_add(
    *, therapist: TherapistProfile, start: dt.datetime, end: dt.datetime, reason: str = ""
) -> ChangeResult:
    """Block a range of time. ``affected``: booked sessions inside it (they stay booked)."""
    if not isinstance(start, dt.datetime) or timezone.is_naive(start):
        raise ValidationFailed("Give the start with its date, time and zone.", field="start")
    if not isinstance(end, dt.datetime) or timezone.is_naive(end):
        raise ValidationFailed("Give the end with its date, time and zone.", field="end")
    if end <= start:
        raise ValidationFailed("The end must be after the start.", field="end")
    if end <= timezone.now():
        raise ValidationFailed("That time off is already over; give one that ends in the future.", field="end")
    if end - start > dt.timedelta(days=366):
        raise ValidationFailed("Time off can last at most a year at a time.", field="end")
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise ValidationFailed("Please keep the note under 200 characters.", field="reason")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        time_off = TimeOff.objects.create(therapist=locked, start=start, end=end, reason=reason)
        affected = tuple(_booked_ahead(locked).filter(start__lt=end, end__gt=start))
    return ChangeResult(obj=time_off, affected=affected)


def time_off_remove(*, therapist: TherapistProfile, time_off: TimeOff) -> ChangeResult:
    _own(therapist, time_off, "time off")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        TimeOff.objects.filter(pk=time_off.pk, therapist=locked).delete()
    return ChangeResult(obj=time_off)


def _bounded_int(value, *, field: str, low: int, high: int, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"Give the {label} as a whole number.", field=field)
    if not low <= value <= high:
        raise ValidationFailed(f"The {label} must be between {low} and {high}.", field=field)
    return value


def therapist_update_settings(
    *,
    therapist: TherapistProfile,
    buffer_minutes: int,
    min_notice_hours: int,
    max_advance_days: int,
    accepting_new_clients: bool,
    time_zone: str,
) -> ChangeResult:
    """Booking rules and time zone. The zone is also the therapist's own display zone.

    ``affected``: booked sessions ahead that a new zone puts outside the weekly hours, or that a
    longer buffer leaves too close to a neighbour (they stay booked).
    """
    buffer_minutes = _bounded_int(buffer_minutes, field="buffer_minutes", low=0, high=240, label="buffer")
    min_notice_hours = _bounded_int(
        min_notice_hours, field="min_notice_hours", low=0, high=24 * 14, label="minimum notice"
    )
    max_advance_days = _bounded_int(
        max_advance_days, field="max_advance_days", low=1, high=365, label="furthest booking date"
    )
    if max_advance_days * 24 <= min_notice_hours:
        raise ValidationFailed(
            "The furthest booking date must be further ahead than the minimum notice.", field="max_advance_days"
        )
    if time_zone not in _PROFILE_TIME_ZONES:
        raise ValidationFailed("Choose a time zone from the list.", field="time_zone")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        old_buffer = locked.buffer_minutes
        locked.buffer_minutes = buffer_minutes
        locked.min_notice_hours = min_notice_hours
        locked.max_advance_days = max_advance_days
        locked.accepting_new_clients = bool(accepting_new_clients)
        locked.time_zone = time_zone
        locked.save()
        User.objects.filter(pk=locked.user_id).update(time_zone=time_zone)
        affected = {session.pk: session for session in _newly_outside(locked, before)}
        if buffer_minutes > old_buffer:
            gap = dt.timedelta(minutes=buffer_minutes)
            for first, second in itertools.pairwise(_booked_ahead(locked)):
                if second.start - first.end < gap:
                    affected.setdefault(first.pk, first)
                    affected.setdefault(second.pk, second)
    return ChangeResult(obj=locked, affected=tuple(sorted(affected.values(), key=lambda s: (s.start, s.pk))))


def session_type_save(
    *,
    therapist: TherapistProfile,
    session_type: SessionType | None = None,
    name: str,
    duration_minutes: int,
    price_kes: int,
    mode: str,
    is_active: bool = True,
) -> ChangeResult:
    """Create a session type, or change one. Booked sessions keep the duration and price they were booked with.

    ``affected``: booked sessions ahead of this type when its duration or price changed, or it was
    switched off (they stay as booked).
    """
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the session type a name.", field="name")
    if len(name) > 80:
        raise ValidationFailed("Please keep the name under 80 characters.", field="name")
    duration_minutes = _bounded_int(duration_minutes, field="duration_minutes", low=15, high=240, label="duration")
    price_kes = _bounded_int(price_kes, field="price_kes", low=1, high=250_000, label="price in KES")
    if mode not in SessionType.Mode.values:
        raise ValidationFailed("Choose online or in person.", field="mode")
    with transaction.atomic():
        if session_type is None:
            locked = SessionType(therapist=therapist)
            terms_changed = False
        else:
            _own(therapist, session_type, "session type")
            locked = SessionType.objects.select_for_update().get(pk=session_type.pk)
            terms_changed = (
                locked.duration_minutes != duration_minutes
                or locked.price_kes != price_kes
                or locked.mode != mode
                or (locked.is_active and not is_active)
            )
        locked.name = name
        locked.duration_minutes = duration_minutes
        locked.price_kes = price_kes
        locked.mode = mode
        locked.is_active = bool(is_active)
        locked.save()
        affected = tuple(_booked_ahead(therapist).filter(session_type=locked)) if terms_changed else ()
    return ChangeResult(obj=locked, affected=affected)


def session_type_set_active(*, therapist: TherapistProfile, session_type: SessionType, active: bool) -> ChangeResult:
    """Offer a session type again, or stop offering it. Sessions already booked with it stay."""
    _own(therapist, session_type, "session type")
    with transaction.atomic():
        locked = SessionType.objects.select_for_update().get(pk=session_type.pk)
        locked.is_active = bool(active)
        locked.save(update_fields=["is_active"])
        affected = () if active else tuple(_booked_ahead(therapist).filter(session_type=locked))
    return ChangeResult(obj=locked, affected=affected)


def _note_author(*, session: Session, actor: User) -> TherapistProfile:
    """Only the session's own therapist writes or reads its private notes (not staff, not the client)."""
    profile = getattr(actor, "therapist_profile", None) if actor.role == User.Role.THERAPIST else None
    if profile is None or session.therapist_id != profile.pk:
        raise NotAllowed("Only the session's therapist can keep private notes on it.")
    return profile


def _clean_note(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write the note first.", field="body")
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationFailed(f"Please keep a note under {NOTE_MAX_CHARS:,} characters.", field="body")
    return body


def therapist_note_add(*, session: Session, actor: User, body: str) -> TherapistNote:
    profile = _note_author(session=session, actor=actor)
    return TherapistNote.objects.create(session=session, therapist=profile, body=_clean_note(body))


def therapist_note_update(*, note: TherapistNote, actor: User, body: str) -> TherapistNote:
    profile = _note_author(session=note.session, actor=actor)
    if note.therapist_id != profile.pk:
        raise NotAllowed("Only the note's author can change it.")
    with transaction.atomic():
        locked = TherapistNote.objects.select_for_update().get(pk=note.pk)
        locked.body = _clean_note(body)
        locked.save(update_fields=["body", "updated_at"])
    return locked


def therapist_note_delete(*, note: TherapistNote, actor: User) -> None:
    profile = _note_author(session=note.session, actor=actor)
    if note.therapist_id != profile.pk:
        raise NotAllowed("Only the note's author can delete it.")
    TherapistNote.objects.filter(pk=note.pk, therapist=profile).delete()


# --- Audit ----------------------------------------------------------------------------------


def audit_record(
    *,
    actor: User | None,
    action: str,
    model: str,
    object_id: str = "",
    detail: str = "",
    path: str = "",
    source_ip: str | None = None,
) -> AuditEntry:
    """Append who read or changed what in the admin (Kenya DPA 2019: access to personal data is accounted for)."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        model=model,
        object_id=str(object_id)[:64],
        detail=detail[:500],
        path=path[:300],
        source_ip=source_ip,
    )
