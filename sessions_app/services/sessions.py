"""The session's state machine: one table for every move, status and payment, and the one function applying it.

Every move goes through ``_transition``: one transaction, the row locked with
``select_for_update`` and re-read, the actor checked, the status and payment status
checked against the row of ``MOVES``, one ``SessionEvent`` written, and
``session_changed`` announced once the transaction commits. An illegal move raises
``IllegalTransition`` (a wrong actor ``NotAllowed``) and changes nothing.

This module holds the moves a person makes: request, approve, decline, cancel, expire,
start, complete, no-show, the meeting link. The payment rows are applied by
``session_payments`` (the only module payments_app calls).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import ratelimit
from ..exceptions import IllegalTransition, NotAllowed, SlotUnavailable, ValidationFailed
from ..models import Session, SessionEvent, SessionType, TherapistProfile, User
from ..selectors.privacy import intake_needed
from ..selectors.sessions import session_cancellation_policy, session_respond_by
from ..selectors.slots import slot_is_free
from ..signals import session_changed
from .intake_forms import IntakeInvalid, intake_answers_clean, intake_answers_save

S = Session.Status
P = Session.PaymentStatus

CLIENT, THERAPIST, STAFF, SYSTEM = "client", "therapist", "staff", "system"

# How a row is offered to people. STATUS: a button on the pages and in the API's ``allowed_actions``.
# PAGE: a form of its own on a page (paying, the meeting link), not in the API's list. Rows offered
# as neither (confirm, expire, the payment results, refund) are the system's or staff's in the admin.
STATUS, PAGE = "status", "page"
ANY_STATUS = frozenset(S.values)


@dataclass(frozen=True)
class Requirement:
    """Something about the session, besides its status, that a move needs (e.g. an online session)."""

    holds: Callable[[Session], bool]
    message: str
    field: str


@dataclass(frozen=True)
class Move:
    """One row of the state machine."""

    sources: frozenset[str]  # statuses the move starts from
    target: str | None  # the status after it; None: unchanged
    actors: frozenset[str]
    verb: str
    payment_sources: frozenset[str] | None = None  # payment statuses it starts from; None: any
    payment_target: str | None = None  # the payment status after it; None: unchanged
    event: str = ""  # the SessionEvent action written, when it is not the row's name
    offer: str = ""  # STATUS, PAGE or "" (never offered)
    forbidden: str = ""  # the NotAllowed message, when not "You cannot <verb> this session."
    refused: str = ""  # the IllegalTransition message for a wrong status; {status} is filled in
    requires: Requirement | None = None


def _row(sources, target, actors, verb, *, payment_sources=None, **kw) -> Move:
    payment_sources = None if payment_sources is None else frozenset(payment_sources)
    return Move(frozenset(sources), target, frozenset(actors), verb, payment_sources=payment_sources, **kw)


def _is_online(session: Session) -> bool:
    return session.session_type.mode == SessionType.Mode.ONLINE


# The whole state machine of docs/design.md, as a table. Payment status moves: pending -> processing
# -> paid, processing -> failed -> processing, paid -> refunded; a payment Daraja confirms late may
# land on a failed attempt's session (failed -> paid).
MOVES: dict[str, Move] = {
    # status moves
    "approve": _row({S.PENDING_APPROVAL}, S.APPROVED, {THERAPIST, STAFF}, "approve", offer=STATUS),
    "decline": _row({S.PENDING_APPROVAL}, S.DECLINED, {THERAPIST, STAFF}, "decline", offer=STATUS),
    "expire": _row({S.PENDING_APPROVAL, S.APPROVED}, S.EXPIRED, {SYSTEM, STAFF}, "expire"),
    "cancel": _row(
        {S.PENDING_APPROVAL, S.APPROVED, S.CONFIRMED}, S.CANCELLED, {CLIENT, THERAPIST, STAFF}, "cancel", offer=STATUS
    ),
    "confirm": _row(
        {S.APPROVED},
        S.CONFIRMED,
        {SYSTEM, STAFF},
        "confirm",
        payment_sources={P.PROCESSING, P.FAILED},
        payment_target=P.PAID,
        refused="Payment received for a session that is {status}.",
    ),
    "start": _row({S.CONFIRMED}, S.IN_PROGRESS, {THERAPIST, STAFF}, "start", offer=STATUS),
    "complete": _row({S.IN_PROGRESS}, S.COMPLETED, {THERAPIST, STAFF}, "complete", offer=STATUS),
    "mark_no_show": _row({S.CONFIRMED}, S.NO_SHOW, {THERAPIST, STAFF}, "mark as no-show", offer=STATUS),
    # moves that keep the status
    "set_link": _row(
        {S.APPROVED, S.CONFIRMED, S.IN_PROGRESS},
        None,
        {THERAPIST, STAFF},
        "set the link of",
        offer=PAGE,
        forbidden="Only the session's therapist can set its link.",
        refused="The link can be set on an approved, confirmed or running session.",
        requires=Requirement(_is_online, "Only online sessions have a meeting link.", "meeting_link"),
    ),
    "pay": _row(
        {S.APPROVED},
        None,
        {CLIENT},
        "pay for",
        payment_sources={P.PENDING, P.FAILED},
        payment_target=P.PROCESSING,
        event="payment_processing",
        offer=PAGE,
        forbidden="Only the session's client can pay for it.",
        refused="Only an approved session can be paid; this one is {status}.",
    ),
    "payment_failed": _row(
        ANY_STATUS, None, {SYSTEM}, "fail the payment of", payment_sources={P.PROCESSING}, payment_target=P.FAILED
    ),
    "receipt": _row(ANY_STATUS, None, {SYSTEM}, "record a receipt on", payment_sources={P.PAID}),
    "refund": _row(
        ANY_STATUS,
        None,
        {STAFF},
        "refund",
        payment_sources={P.PAID},
        payment_target=P.REFUNDED,
        forbidden="Only staff can record a refund.",
    ),
}

# The names the API's ``allowed_actions`` may hold (its schema's enum), and the page-only ones.
STATUS_ACTIONS = frozenset(name for name, move in MOVES.items() if move.offer == STATUS)
PAGE_ACTIONS = frozenset(name for name, move in MOVES.items() if move.offer == PAGE)

# How long before the start a therapist may press Start.
START_EARLY_MINUTES = 15


def allowed_actions(*, session: Session, user: User | None) -> set[str]:
    """The moves this user may make on this session now: the buttons on the pages.

    Status moves (``STATUS_ACTIONS``) and the page-only ones (``PAGE_ACTIONS``): "pay" (the
    client, approved, not paid or failed) and "set_link" (the session's therapist, online,
    approved to running). The API's ``allowed_actions`` lists the status moves among them.
    """
    offers = {STATUS, PAGE}
    roles = _roles(session=session, user=user)
    return {
        name
        for name, move in MOVES.items()
        if move.offer in offers
        and roles & move.actors
        and session.status in move.sources
        and (move.payment_sources is None or session.payment_status in move.payment_sources)
        and (move.requires is None or move.requires.holds(session))
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
    when: Callable[[Session], bool] | None = None,
    check: Callable[[Session], None] | None = None,
    apply: Callable[[Session], None] | None = None,
    **changes,
) -> Session | None:
    """Apply the row ``MOVES[action]``; returns the locked, changed session.

    ``when(locked)`` false: nothing to do (a duplicate or stale call), returns None.
    ``check(locked)`` raises to refuse on a rule of the move's own (a time, a deadline).
    ``changes`` are set on the row, then ``apply(locked)`` for changes that depend on it.
    """
    move = MOVES[action]
    with transaction.atomic():
        locked = _lock(session)
        if when is not None and not when(locked):
            return None
        if not _roles(session=locked, user=actor) & move.actors:
            raise NotAllowed(move.forbidden or f"You cannot {move.verb} this session.")
        if move.requires is not None and not move.requires.holds(locked):
            raise ValidationFailed(move.requires.message, field=move.requires.field)
        if locked.status not in move.sources:
            refused = move.refused or f"You cannot {move.verb} a session that is {{status}}."
            raise IllegalTransition(refused.format(status=locked.get_status_display()))
        if move.payment_sources is not None and locked.payment_status not in move.payment_sources:
            raise IllegalTransition(
                f"Payment cannot go from {locked.get_payment_status_display()} to {P(move.payment_target).label}."
                if move.payment_target
                else f"You cannot {move.verb} a session whose payment is {locked.get_payment_status_display()}."
            )
        if check is not None:
            check(locked)
        from_status, from_payment = locked.status, locked.payment_status
        if move.target is not None:
            locked.status = move.target
        if move.payment_target is not None:
            locked.payment_status = move.payment_target
        for field, value in changes.items():
            setattr(locked, field, value)
        if apply is not None:
            apply(locked)
        locked.save()
        _record(
            session=locked,
            action=move.event or action,
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


EMAIL_UNCONFIRMED = (
    "Please confirm your email address before booking: open the link we emailed you, or ask for a new one "
    "from your profile."
)


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
    intake: dict | None = None,
) -> Session:
    """A client asks for a slot. Returns the existing session when the idempotency key was used.

    ``intake``: answers to the session type's intake form, keyed ``q<question id>``; required on the
    client's first request with this therapist when the type has a form (IntakeInvalid names each
    wrong answer), refused otherwise.
    """
    if not client.is_authenticated or client.role != User.Role.CLIENT:
        raise NotAllowed("Only client accounts can book sessions.")
    if client.email_verified_at is None:  # issue 18: services.signin
        raise NotAllowed(EMAIL_UNCONFIRMED)
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
    questions = intake_needed(client=client, session_type=session_type)
    if not questions and intake:
        raise IntakeInvalid({"intake": "No intake questions are asked for this booking; leave intake out."})
    answers = intake_answers_clean(questions=questions, raw=intake) if questions else {}
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
                respond_by=session_respond_by(start=start, therapist=locked_therapist, now=now),
                idempotency_key=idempotency_key or None,
            )
            if answers:
                intake_answers_save(session=session, questions=questions, answers=answers)
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


def session_cancel(
    *, session: Session | int, actor: User, reason: str, source: str = "web", source_ip: str | None = None
) -> Session:
    reason = _required(reason)
    now = timezone.now()
    refund = {}

    def check(locked: Session) -> None:
        if locked.status == S.CONFIRMED and locked.start <= now:
            raise IllegalTransition("This session has already started; it can no longer be cancelled.")
        refund["due"] = session_cancellation_policy(session=locked, actor=actor, now=now)["refund"]

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


def session_meeting_link_set(*, session: Session | int, actor: User, link: str) -> Session:
    """The session's therapist (or staff) sets the link of an online session, approved to running."""
    return _transition(session=session, action="set_link", actor=actor, note="Meeting link set.", meeting_link=link)
