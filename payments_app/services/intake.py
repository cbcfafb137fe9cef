"""Starting a payment and taking a callback in: initiate, push, record the callback.

Tasks are queued on commit through ``payments_app.dispatch``, by name: nothing
here imports a tasks module (tasks import services, not the other way round).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sessions_app import ratelimit
from sessions_app.exceptions import IllegalTransition, NotAllowed, ValidationFailed
from sessions_app.models import Session, User
from sessions_app.phone import InvalidPhone, mask, normalize_msisdn
from sessions_app.services import session_payments as session_services

from .. import daraja, dispatch, selectors
from ..models import MpesaCallback, PaymentAttempt
from . import settle
from .common import A, E, P, S, _event, _flag, _lock_attempt, _note_error, _stale_created_after, logger

PUSH_WINDOW_SECONDS = 600
POLL_PAYMENT = "payments_app.tasks.poll_payment"
PROCESS_CALLBACK = "payments_app.tasks.process_callback"


# --- Starting a payment --------------------------------------------------------------------


def payment_initiate(
    *, session: Session | int, phone: str, actor: User, source: str = "web", source_ip: str | None = None
) -> PaymentAttempt:
    """Send an STK Push for an approved session, or return the attempt already waiting.

    The returned attempt carries ``reused=True`` when no new push was sent.
    Raises ValidationFailed (field "phone"), NotAllowed, IllegalTransition (409)
    or RateLimited (429); a refusal from Daraja gives a failed attempt instead.
    """
    try:
        msisdn = normalize_msisdn(phone)
    except InvalidPhone as exc:
        raise ValidationFailed(exc.message, field="phone")
    session_pk = session.pk if isinstance(session, Session) else session

    # An attempt still in flight past its deadline is settled (or given up) first.
    for stuck in PaymentAttempt.objects.filter(session_id=session_pk, status__in=PaymentAttempt.IN_FLIGHT):
        if stuck.initiated_at < timezone.now() - dt.timedelta(seconds=settings.MPESA_POLL_DEADLINE_SECONDS):
            settle.payment_check(attempt=stuck, source="initiate")

    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=session_pk)
        if actor is None or locked.client_id != actor.pk:
            raise NotAllowed("Only the session's client can pay for it.")
        in_flight = selectors.attempt_in_flight(session=locked)
        if (
            in_flight
            and in_flight.status == A.CREATED
            and in_flight.initiated_at < timezone.now() - _stale_created_after()
        ):
            settle._abandon_created(attempt=in_flight, source="initiate")
            in_flight = None
        if in_flight is not None:
            in_flight.reused = True
            return in_flight
        if locked.status != S.APPROVED:
            if locked.status == S.PENDING_APPROVAL:
                raise IllegalTransition("You can pay once the therapist has approved this session.")
            raise IllegalTransition(f"This session is {locked.get_status_display()}; there is nothing to pay.")
        if locked.payment_status not in (P.PENDING, P.FAILED):
            raise IllegalTransition(f"This session's payment is already {locked.get_payment_status_display()}.")
        ratelimit.hit(
            scope="stk-push-session",
            ident=str(locked.pk),
            limit=settings.MPESA_STK_PUSHES_PER_SESSION,
            window=PUSH_WINDOW_SECONDS,
            message="Too many payment requests for this session. Please wait a few minutes and try again.",
        )
        attempt = PaymentAttempt.objects.create(
            session=locked,
            initiated_by=actor,
            phone=msisdn,
            amount=locked.amount_kes,
            account_reference=daraja.account_reference(locked.reference),
            status=A.CREATED,
        )
        _event(
            kind=E.INITIATED,
            attempt=attempt,
            actor=actor,
            source=source,
            source_ip=source_ip,
            message=f"KES {attempt.amount:,} to {mask(msisdn)}.",
        )
    # The row is committed before the push: a crash after this point can never resend it.
    attempt = _push(attempt=attempt, actor=actor, source=source, source_ip=source_ip)
    attempt.reused = False
    return attempt


def _push(*, attempt: PaymentAttempt, actor: User, source: str, source_ip: str | None) -> PaymentAttempt:
    try:
        accepted = daraja.client().stk_push(
            phone=attempt.phone, amount=attempt.amount, reference=attempt.account_reference
        )
    except daraja.DarajaError as exc:
        logger.warning("STK Push for attempt %s failed: %s %s", attempt.pk, exc.error_code, exc.error_message)
        with transaction.atomic():
            locked = _lock_attempt(attempt)
            if locked.status != A.CREATED:
                return locked
            locked.status = A.FAILED
            locked.result_code = exc.error_code[:32]
            locked.result_desc = exc.error_message[:255]
            locked.message = exc.user_message[:255]
            locked.completed_at = timezone.now()
            if exc.error_class == daraja.CONFIGURATION or isinstance(exc, daraja.DarajaUnexpectedReply):
                _note_error(attempt=locked, error=exc, source=source)
            if isinstance(exc, daraja.DarajaUnexpectedReply):
                # Accepted without a usable checkout id: the prompt may have gone out and money may come.
                _flag(attempt=locked, reason=f"Push reply could not be used: {exc}", source=source)
            locked.save()
            _event(
                kind=E.PUSH_FAILED,
                attempt=locked,
                actor=actor,
                source=source,
                source_ip=source_ip,
                message=locked.message,
                data={"error_code": exc.error_code, "error_message": exc.error_message},
            )
        return locked

    with transaction.atomic():
        locked = _lock_attempt(attempt)
        locked.checkout_request_id = accepted.checkout_request_id
        locked.merchant_request_id = accepted.merchant_request_id
        locked.status = A.PROCESSING
        locked.message = "Check your phone and enter your M-Pesa PIN."
        locked.save()
        _event(
            kind=E.PUSH_SENT,
            attempt=locked,
            actor=actor,
            source=source,
            source_ip=source_ip,
            message=accepted.customer_message,
            data={"checkout_request_id": accepted.checkout_request_id},
        )
        try:
            session_services.session_payment_processing(
                session=locked.session_id,
                actor=actor,
                phone=locked.phone,
                checkout_request_id=locked.checkout_request_id,
                merchant_request_id=locked.merchant_request_id,
                source=source,
                source_ip=source_ip,
            )
        except IllegalTransition as exc:
            # The push is out; if money comes it is kept and flagged, never lost.
            _flag(
                attempt=locked, reason=f"The session changed while the request was sent: {exc.message}", source=source
            )
            locked.save()
        attempt_id = locked.pk
        transaction.on_commit(lambda: _schedule_poll(attempt_id))
    return locked


def _schedule_poll(attempt_id: int) -> None:
    if dispatch.eager():
        # No broker, no countdowns: the callback and the status endpoint settle it instead.
        return
    try:
        dispatch.apply_async(POLL_PAYMENT, args=[attempt_id], countdown=settings.MPESA_POLL_FIRST_DELAY_SECONDS)
    except Exception:  # noqa: BLE001 - the push is out; the stuck-payment sweeper settles it instead
        logger.exception("Could not queue the status poll for payment %s", attempt_id)


# --- Taking a callback in -------------------------------------------------------------------


def mpesa_callback_record(*, payload: dict, parsed: daraja.StkResult, source_ip: str | None) -> MpesaCallback:
    """Store the raw callback and commit it, before anything else looks at it; then queue processing.

    Only that: the "callback received" event and the copy of the payload onto
    the attempt are written by the task (callbacks._callback_received), so
    Daraja's request costs one lookup, one insert and one publish.
    """
    with transaction.atomic():
        attempt_id = (
            PaymentAttempt.objects.filter(checkout_request_id=parsed.checkout_request_id)
            .values_list("pk", flat=True)
            .first()
        )
        callback = MpesaCallback.objects.create(
            source_ip=source_ip,
            checkout_request_id=parsed.checkout_request_id,
            merchant_request_id=parsed.merchant_request_id,
            result_code=parsed.result_code,
            payload=payload,
            attempt_id=attempt_id,
        )
        callback_id = callback.pk
        transaction.on_commit(lambda: _queue_callback(callback_id))
    return callback


def _queue_callback(callback_id: int) -> None:
    try:
        dispatch.delay(PROCESS_CALLBACK, callback_id)
    except Exception:  # noqa: BLE001 - the callback is stored; the callback sweeper queues it again
        logger.exception("Could not queue processing of callback %s", callback_id)
