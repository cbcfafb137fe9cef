"""Writes for M-Pesa payments.

``payment_initiate`` sends one STK Push per attempt; ``payment_apply_result``
is the one place a Daraja answer changes anything (whether it came via a
callback, the poller, the status endpoint or the sweeper). Money follows
pretix's ``OrderPayment.confirm``: lock the attempt, re-read it, return at once
if it is already final, and only then change it. A callback is only a trigger:
the STK Push Query, an authenticated call we make, is the truth; the callback
contributes the receipt number and amount, which must match the attempt.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from sessions_app import ratelimit
from sessions_app import services as session_services
from sessions_app.exceptions import IllegalTransition, NotAllowed, ValidationFailed
from sessions_app.models import Session, User
from sessions_app.phone import InvalidPhone, mask, normalize_msisdn

from . import daraja, selectors
from .models import MpesaCallback, PaymentAttempt, PaymentEvent

logger = logging.getLogger(__name__)

A = PaymentAttempt.Status
S = Session.Status
P = Session.PaymentStatus
E = PaymentEvent.Kind
O = MpesaCallback.Outcome  # noqa: E741

PUSH_WINDOW_SECONDS = 600
CALLBACK_MAX_TRIES = 10
TIMEOUT_REASON = "No final answer from M-Pesa by the deadline: check the paybill statement."
TIMEOUT_MESSAGE = (
    "We did not hear back from M-Pesa in time. If money left your account we will match it and confirm "
    "your session; otherwise please try again."
)
MISMATCH_MESSAGE = (
    "M-Pesa reported a different amount from the session's price, so we could not confirm it. "
    "Our team will check and contact you."
)


class NotSettledYet(Exception):
    """Daraja has no final answer yet (or could not be reached): ask again later."""


def _stale_created_after() -> dt.timedelta:
    """A push still 'created' after this long crashed mid-way (the push itself times out well before)."""
    return dt.timedelta(seconds=settings.DARAJA_TIMEOUT_SECONDS * 3 + 30)


def _event(
    *,
    kind: str,
    source: str,
    attempt: PaymentAttempt | None = None,
    session_id: int | None = None,
    callback: MpesaCallback | None = None,
    actor: User | None = None,
    source_ip: str | None = None,
    message: str = "",
    data: dict | None = None,
    at: dt.datetime | None = None,
) -> PaymentEvent:
    return PaymentEvent.objects.create(
        **({"at": at} if at is not None else {}),
        kind=kind,
        attempt=attempt,
        session_id=session_id or (attempt.session_id if attempt else None),
        callback=callback,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        source=source[:32],
        source_ip=source_ip or None,
        message=message[:500],
        data=data or {},
    )


def _lock_attempt(attempt: PaymentAttempt | int) -> PaymentAttempt:
    pk = attempt.pk if isinstance(attempt, PaymentAttempt) else attempt
    return PaymentAttempt.objects.select_for_update().get(pk=pk)


def _flag(*, attempt: PaymentAttempt, reason: str, source: str, callback: MpesaCallback | None = None) -> None:
    """Mark for staff (caller holds the row lock and saves)."""
    attempt.needs_review = True
    attempt.review_reason = reason[:255]
    attempt.reviewed_at = None
    attempt.reviewed_by = None
    _event(kind=E.FLAGGED, attempt=attempt, callback=callback, source=source, message=reason)
    logger.warning("Payment %s flagged for review: %s", attempt.pk, reason)


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
            payment_check(attempt=stuck, source="initiate")

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
            _abandon_created(attempt=in_flight, source="initiate")
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
    from .tasks import poll_payment

    if poll_payment.app.conf.task_always_eager:
        # No broker, no countdowns: the callback and the status endpoint settle it instead.
        return
    try:
        poll_payment.apply_async(args=[attempt_id], countdown=settings.MPESA_POLL_FIRST_DELAY_SECONDS)
    except Exception:  # noqa: BLE001 - the push is out; the stuck-payment sweeper settles it instead
        logger.exception("Could not queue the status poll for payment %s", attempt_id)


def _abandon_created(*, attempt: PaymentAttempt, source: str) -> None:
    """A push that crashed between the committed row and Daraja's answer."""
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        if locked.status != A.CREATED:
            return
        locked.status = A.FAILED
        locked.result_code = "not_sent"
        locked.message = "The payment request did not go through. Please try again."
        locked.completed_at = timezone.now()
        _flag(
            attempt=locked,
            reason="The request may have reached M-Pesa but no checkout id was recorded: check the statement.",
            source=source,
        )
        locked.save()


# --- Applying Daraja's answer --------------------------------------------------------------


def _callback_details(*, attempt: PaymentAttempt) -> list[daraja.StkResult]:
    """Success details (amount, receipt, payer) from the callbacks stored for this push."""
    details = []
    for cb in selectors.callbacks_for_checkout(checkout_request_id=attempt.checkout_request_id or ""):
        if cb.result_code != 0:
            continue
        try:
            parsed = daraja.parse_callback(cb.payload)
        except daraja.CallbackInvalid:
            continue
        # A callback whose details do not match the push is not trusted (see mpesa_callback_process).
        if parsed.metadata and not _mismatch(attempt=attempt, details=[parsed]):
            details.append(parsed)
    return details


def _mismatch(*, attempt: PaymentAttempt, details: list[daraja.StkResult]) -> str:
    for d in details:
        if "Amount" in d.metadata and d.amount != attempt.amount:
            return f"Amount mismatch: M-Pesa reported {d.amount_raw!r}, the attempt asked for KES {attempt.amount:,}."
        if (
            d.merchant_request_id
            and attempt.merchant_request_id
            and d.merchant_request_id != attempt.merchant_request_id
        ):
            return "Merchant request id in the callback does not match the push."
    return ""


def _mark_callbacks(*, attempt: PaymentAttempt, callback: MpesaCallback | None, outcome: str, note: str) -> None:
    """Close the triggering callback with ``outcome`` and any other pending ones for this push as duplicates."""
    now = timezone.now()
    if callback is not None:
        MpesaCallback.objects.filter(pk=callback.pk).update(
            processed_at=now, outcome=outcome, attempt=attempt, note=note[:255]
        )
    if attempt.checkout_request_id:
        MpesaCallback.objects.filter(
            checkout_request_id=attempt.checkout_request_id, processed_at__isnull=True
        ).exclude(pk=getattr(callback, "pk", None)).update(
            processed_at=now, outcome=O.DUPLICATE, attempt=attempt, note="Settled by an earlier answer."
        )


def payment_apply_result(
    *,
    attempt: PaymentAttempt | int,
    result: daraja.StkResult,
    source: str,
    source_ip: str | None = None,
    callback: MpesaCallback | None = None,
) -> PaymentAttempt:
    """Apply Daraja's final answer for one push, exactly once. ``result`` must come from STK Query.

    Success confirms the session via ``session_mark_paid``; if the session can no
    longer be confirmed (expired, cancelled, already paid) the money stays on the
    attempt and it is flagged for a refund. An amount that does not match is not
    paid, only flagged. Failure records the plain reason on the session.
    """
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        if locked.is_final:
            _apply_late(attempt=locked, source=source, source_ip=source_ip, callback=callback)
            return locked
        if result.checkout_request_id != locked.checkout_request_id:
            raise ValueError("The result is for another checkout request.")
        was_unknown = locked.status == A.UNKNOWN
        if was_unknown and locked.review_reason == TIMEOUT_REASON:
            locked.needs_review = False
            locked.review_reason = ""
        locked.result_code = str(result.result_code)
        locked.result_desc = result.result_desc[:255]
        locked.completed_at = timezone.now()
        tag = f"daraja:{source}"
        if result.succeeded:
            _apply_success(attempt=locked, result=result, source=source, tag=tag, callback=callback)
        else:
            locked.status = A.FAILED
            locked.message = result.message
            locked.save()
            session_services.session_payment_failed(
                session=locked.session_id,
                checkout_request_id=locked.checkout_request_id,
                result_code=str(result.result_code),
                result_desc=result.message,
                source=tag,
            )
            _event(
                kind=E.FAILED,
                attempt=locked,
                callback=callback,
                source=source,
                source_ip=source_ip,
                message=f"{result.result_code}: {result.message}",
                data={"result_code": result.result_code, "result_desc": result.result_desc},
            )
            _mark_callbacks(attempt=locked, callback=callback, outcome=O.FAILED, note=result.result_desc)
            logger.info("Payment %s failed with ResultCode %s", locked.pk, result.result_code)
    return locked


def _hold_paid_for_review(
    *, attempt: PaymentAttempt, reason: str, message: str, source: str, callback: MpesaCallback | None
) -> None:
    """Money Daraja confirmed that cannot confirm the session: keep it on record and flag it for staff."""
    attempt.message = message
    _flag(attempt=attempt, reason=reason, source=source, callback=callback)
    attempt.save()
    _mark_callbacks(attempt=attempt, callback=callback, outcome=O.REVIEW, note=reason)


def _apply_success(
    *, attempt: PaymentAttempt, result: daraja.StkResult, source: str, tag: str, callback: MpesaCallback | None
) -> None:
    details = _callback_details(attempt=attempt)
    with_receipt = next((d for d in details if d.receipt_number), None)
    source_ip = callback.source_ip if callback else None
    mismatch = _mismatch(attempt=attempt, details=details)
    if with_receipt:
        attempt.mpesa_receipt_number = with_receipt.receipt_number
        attempt.payer_phone = with_receipt.phone or ""
        attempt.paid_amount = with_receipt.amount
        attempt.transaction_date = with_receipt.transaction_date
    if mismatch:
        attempt.status = A.REVIEW
        attempt.message = MISMATCH_MESSAGE
        _flag(attempt=attempt, reason=mismatch, source=source, callback=callback)
        _save_with_receipt(attempt=attempt, source=source)
        session_services.session_payment_failed(
            session=attempt.session_id,
            checkout_request_id=attempt.checkout_request_id,
            result_code="amount_mismatch",
            result_desc=MISMATCH_MESSAGE,
            source=tag,
        )
        _mark_callbacks(attempt=attempt, callback=callback, outcome=O.REVIEW, note=mismatch)
        return

    attempt.status = A.SUCCEEDED
    attempt.message = "Paid."
    if attempt.paid_amount is None:
        attempt.paid_amount = attempt.amount  # confirmed by STK Query for the amount we pushed
    _save_with_receipt(attempt=attempt, source=source)
    try:
        with transaction.atomic():
            confirmed = session_services.session_mark_paid(
                session=attempt.session_id,
                receipt_number=attempt.mpesa_receipt_number,
                amount=attempt.paid_amount,
                phone=attempt.payer_phone or attempt.phone,
                checkout_request_id=attempt.checkout_request_id,
                merchant_request_id=attempt.merchant_request_id,
                source=tag,
            )
    except IllegalTransition as exc:
        _hold_paid_for_review(
            attempt=attempt,
            reason=f"Paid after the session could no longer be confirmed ({exc.message}): refund due.",
            message="We received your payment, but this session was no longer open, so it will be refunded.",
            source=source,
            callback=callback,
        )
        return
    except IntegrityError:
        _hold_paid_for_review(
            attempt=attempt,
            reason="Receipt number already recorded on another session: check before confirming.",
            message="We received your payment; our team will check it and confirm your session.",
            source=source,
            callback=callback,
        )
        return
    if confirmed is None:
        _hold_paid_for_review(
            attempt=attempt,
            reason="Duplicate payment: the session was already paid by another M-Pesa payment; refund this one.",
            message="This session was already paid, so this payment will be refunded.",
            source=source,
            callback=callback,
        )
        return
    _event(
        kind=E.SUCCEEDED,
        attempt=attempt,
        callback=callback,
        source=source,
        source_ip=source_ip,
        message=f"Paid KES {attempt.paid_amount:,}, receipt {attempt.mpesa_receipt_number or 'not yet received'}.",
        data={"receipt": attempt.mpesa_receipt_number, "amount": attempt.paid_amount},
    )
    _mark_callbacks(attempt=attempt, callback=callback, outcome=O.PAID, note=result.result_desc)
    logger.info("Payment %s confirmed for session %s", attempt.pk, attempt.session_id)


def _save_with_receipt(*, attempt: PaymentAttempt, source: str) -> None:
    """Save; a receipt number already used by another attempt is dropped and flagged, never overwritten."""
    try:
        with transaction.atomic():
            attempt.save()
    except IntegrityError:
        receipt = attempt.mpesa_receipt_number
        attempt.mpesa_receipt_number = None
        _flag(attempt=attempt, reason=f"Receipt {receipt} is already recorded on another payment.", source=source)
        attempt.save()


def _apply_late(*, attempt: PaymentAttempt, source: str, source_ip: str | None, callback: MpesaCallback | None) -> None:
    """An answer for an attempt already settled: change nothing, except fill in a missing receipt."""
    details = _callback_details(attempt=attempt)
    with_receipt = next((d for d in details if d.receipt_number), None)
    note = f"Already {attempt.get_status_display().lower()}."
    mismatch = _mismatch(attempt=attempt, details=details)
    if mismatch and attempt.status == A.SUCCEEDED and not attempt.needs_review:
        _flag(attempt=attempt, reason=f"Late callback: {mismatch}", source=source, callback=callback)
        attempt.save()
    elif attempt.status == A.SUCCEEDED and attempt.mpesa_receipt_number is None and with_receipt and not mismatch:
        attempt.mpesa_receipt_number = with_receipt.receipt_number
        attempt.payer_phone = with_receipt.phone or attempt.payer_phone
        attempt.transaction_date = with_receipt.transaction_date
        _save_with_receipt(attempt=attempt, source=source)
        if attempt.mpesa_receipt_number:
            # The session was confirmed on STK Query's word before the receipt arrived.
            session_services.session_record_receipt(
                session=attempt.session_id,
                checkout_request_id=attempt.checkout_request_id,
                receipt_number=attempt.mpesa_receipt_number,
            )
            _event(
                kind=E.RECEIPT_RECORDED,
                attempt=attempt,
                callback=callback,
                source=source,
                source_ip=source_ip,
                message=f"Receipt {attempt.mpesa_receipt_number}.",
            )
            note = "Receipt recorded."
    if callback is not None:
        _event(kind=E.DUPLICATE, attempt=attempt, callback=callback, source=source, source_ip=source_ip, message=note)
        logger.info("Late or duplicate callback %s for payment %s: %s", callback.pk, attempt.pk, note)
    _mark_callbacks(attempt=attempt, callback=callback, outcome=O.DUPLICATE, note=note)


def payment_check(
    *,
    attempt: PaymentAttempt,
    source: str,
    actor: User | None = None,
    source_ip: str | None = None,
    min_interval: float | None = None,
) -> PaymentAttempt:
    """Ask Daraja (STK Query) about a push still waiting, and apply a final answer.

    ``min_interval`` (seconds) keeps callers such as the status endpoint from
    hammering Daraja: within it, the attempt is returned as it is. Past the
    deadline with no final answer the attempt becomes "no answer" and the
    session's payment Failed, so nothing stays Processing.
    """
    attempt.refresh_from_db()
    if attempt.status == A.CREATED:
        if attempt.initiated_at < timezone.now() - _stale_created_after():
            _abandon_created(attempt=attempt, source=source)
            attempt.refresh_from_db()
        return attempt
    if attempt.status not in (A.PROCESSING, A.UNKNOWN) or not attempt.checkout_request_id:
        return attempt
    if min_interval:
        from django.core.cache import cache

        if not cache.add(f"mpesa:query:{attempt.pk}", 1, timeout=min_interval):
            return attempt
    try:
        result = daraja.client().stk_query(checkout_request_id=attempt.checkout_request_id)
    except daraja.DarajaPending:
        result = None
    except daraja.DarajaError as exc:
        logger.warning("STK Query for payment %s failed: %s %s", attempt.pk, exc.error_code, exc.error_message)
        result = None
    if result is not None:
        return payment_apply_result(attempt=attempt, result=result, source=source, source_ip=source_ip)
    if attempt.status == A.PROCESSING and timezone.now() >= selectors.attempt_deadline(attempt=attempt):
        return _time_out(attempt=attempt, source=source)
    return attempt


def _time_out(*, attempt: PaymentAttempt, source: str) -> PaymentAttempt:
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        if locked.status != A.PROCESSING:
            return locked
        locked.status = A.UNKNOWN
        locked.message = TIMEOUT_MESSAGE
        _flag(attempt=locked, reason=TIMEOUT_REASON, source=source)
        locked.save()
        session_services.session_payment_failed(
            session=locked.session_id,
            checkout_request_id=locked.checkout_request_id,
            result_code="timeout",
            result_desc=TIMEOUT_MESSAGE,
            source=f"daraja:{source}",
        )
        _event(kind=E.TIMED_OUT, attempt=locked, source=source, message=TIMEOUT_MESSAGE)
    return locked


def payments_settle_stuck(*, now: dt.datetime | None = None) -> int:
    """Beat: settle (or give up on) every attempt past its deadline. Safe to run twice."""
    count = 0
    for attempt in selectors.attempts_stuck(now=now):
        before = attempt.status
        if payment_check(attempt=attempt, source="sweeper").status != before:
            count += 1
    return count


# --- Callbacks -----------------------------------------------------------------------------


def mpesa_callback_record(*, payload: dict, parsed: daraja.StkResult, source_ip: str | None) -> MpesaCallback:
    """Store the raw callback and commit it, before anything else looks at it; then queue processing.

    Only that: the "callback received" event and the copy of the payload onto
    the attempt are written by the task (_callback_received), so Daraja's
    request costs one lookup, one insert and one publish.
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


def _callback_received(*, callback: MpesaCallback) -> None:
    """The task's first step for a stored callback: keep its payload on the attempt, log its arrival. Once each.

    Runs before the attempt is read for settling, so the settle sees the payload.
    Locks the attempt, then the callback: the order every other writer uses.
    The event carries the time the callback arrived, not the time it was processed.
    """
    with transaction.atomic():
        attempt = (
            PaymentAttempt.objects.select_for_update()
            .filter(checkout_request_id=callback.checkout_request_id)
            .order_by("pk")
            .first()
        )
        locked = MpesaCallback.objects.select_for_update().get(pk=callback.pk)
        if attempt is not None and attempt.callback_payload is None:
            PaymentAttempt.objects.filter(pk=attempt.pk).update(callback_payload=locked.payload)
        if PaymentEvent.objects.filter(callback=locked, kind=E.CALLBACK_RECEIVED).exists():
            return
        try:
            desc = daraja.parse_callback(locked.payload).result_desc
        except daraja.CallbackInvalid:
            desc = ""
        _event(
            kind=E.CALLBACK_RECEIVED,
            attempt=attempt,
            callback=locked,
            source="daraja",
            source_ip=locked.source_ip,
            message=f"ResultCode {locked.result_code}: {desc}",
            at=locked.received_at,
        )


def _queue_callback(callback_id: int) -> None:
    from .tasks import process_callback

    try:
        process_callback.delay(callback_id)
    except Exception:  # noqa: BLE001 - the callback is stored; the callback sweeper queues it again
        logger.exception("Could not queue processing of callback %s", callback_id)


def mpesa_callback_process(*, callback_id: int) -> str:
    """Settle the push a stored callback is about, via STK Query. Safe to run any number of times.

    Returns the callback's outcome; raises NotSettledYet while Daraja has no final answer.
    """
    callback = MpesaCallback.objects.get(pk=callback_id)
    if callback.processed_at is not None:
        return callback.outcome
    MpesaCallback.objects.filter(pk=callback_id).update(process_tries=F("process_tries") + 1)
    _callback_received(callback=callback)
    attempt = PaymentAttempt.objects.filter(checkout_request_id=callback.checkout_request_id).first()
    if attempt is None:
        with transaction.atomic():
            locked = MpesaCallback.objects.select_for_update().get(pk=callback_id)
            if locked.processed_at is not None:
                return locked.outcome
            locked.processed_at = timezone.now()
            locked.outcome = O.UNKNOWN_CHECKOUT
            locked.note = "No payment attempt has this checkout id; nothing changed."
            locked.save()
            _event(
                kind=E.UNKNOWN_CHECKOUT,
                callback=locked,
                source="daraja",
                source_ip=locked.source_ip,
                message=f"Callback for unknown checkout id {locked.checkout_request_id[:64]} (ResultCode {locked.result_code}).",
            )
        logger.warning("Callback %s is for an unknown checkout id", callback_id)
        return O.UNKNOWN_CHECKOUT
    untrusted = _untrusted(attempt=attempt, callback=callback)
    if untrusted:
        return _callback_ignore(callback_id=callback_id, attempt=attempt, reason=untrusted)
    if attempt.is_final:
        result = daraja.parse_callback(callback.payload)
        payment_apply_result(
            attempt=attempt, result=result, source="callback", source_ip=callback.source_ip, callback=callback
        )
        return O.DUPLICATE
    try:
        result = daraja.client().stk_query(checkout_request_id=attempt.checkout_request_id)
    except daraja.DarajaError as exc:
        logger.info("Callback %s: Daraja has no final answer yet (%s)", callback_id, exc.error_code)
        raise NotSettledYet(str(exc))
    payment_apply_result(
        attempt=attempt, result=result, source="callback", source_ip=callback.source_ip, callback=callback
    )
    callback.refresh_from_db()
    return callback.outcome


def _untrusted(*, attempt: PaymentAttempt, callback: MpesaCallback) -> str:
    """Why a success callback cannot be trusted (its amount or ids do not match the push), or ""."""
    if callback.result_code != 0:
        return ""
    try:
        parsed = daraja.parse_callback(callback.payload)
    except daraja.CallbackInvalid:
        return ""
    return _mismatch(attempt=attempt, details=[parsed]) if parsed.metadata else ""


def _callback_ignore(*, callback_id: int, attempt: PaymentAttempt, reason: str) -> str:
    """Keep an untrusted callback for staff and act on nothing it says: no session changes because of it.

    The push is still settled by what STK Query says (poller, status checks,
    sweeper, or a genuine callback), from details that match it.
    """
    note = f"Ignored, does not match the push: {reason}"
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        callback = MpesaCallback.objects.select_for_update().get(pk=callback_id)
        if callback.processed_at is not None:
            return callback.outcome
        _flag(attempt=locked, reason=note, source="callback", callback=callback)
        locked.save()
        MpesaCallback.objects.filter(pk=callback_id).update(
            processed_at=timezone.now(), outcome=O.REVIEW, attempt=locked, note=note[:255]
        )
    return O.REVIEW


def mpesa_callback_abandon(*, callback_id: int) -> None:
    """Stop retrying a callback Daraja never settled; the attempt sweeper takes it from here."""
    with transaction.atomic():
        locked = MpesaCallback.objects.select_for_update().get(pk=callback_id)
        if locked.processed_at is not None:
            return
        locked.processed_at = timezone.now()
        locked.outcome = O.ABANDONED
        locked.note = f"No final answer after {locked.process_tries} tries."
        locked.save()
        _event(
            kind=E.FLAGGED,
            attempt=locked.attempt,
            session_id=locked.attempt.session_id if locked.attempt else None,
            callback=locked,
            source="sweeper",
            message=locked.note,
        )


# --- Staff -----------------------------------------------------------------------------------


def payment_mark_reviewed(
    *, attempt: PaymentAttempt, actor: User, note: str = "", source_ip: str | None = None
) -> PaymentAttempt:
    if not actor.is_staff:
        raise NotAllowed("Only staff can review payments.")
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        if not locked.needs_review:
            return locked
        locked.needs_review = False
        locked.reviewed_at = timezone.now()
        locked.reviewed_by = actor
        locked.save()
        _event(
            kind=E.REVIEWED,
            attempt=locked,
            actor=actor,
            source="admin",
            source_ip=source_ip,
            message=(note or f"Reviewed: {locked.review_reason}")[:500],
        )
    return locked
