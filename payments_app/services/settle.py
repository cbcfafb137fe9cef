"""Settling a push: apply Daraja's final answer, ask for it, time out, sweep, and the staff review.

``payment_apply_result`` is the one place a Daraja answer changes anything
(whether it came via a callback, the poller, the status endpoint or the
sweeper). Money follows pretix's ``OrderPayment.confirm``: lock the attempt,
re-read it, return at once if it is already final, and only then change it. The
STK Push Query, an authenticated call we make, is the truth; a stored callback
contributes the receipt number and amount, and only when they match the attempt.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from sessions_app.exceptions import IllegalTransition, NotAllowed
from sessions_app.models import User
from sessions_app.services import session_payments as session_services

from .. import daraja, selectors
from ..models import MpesaCallback, PaymentAttempt
from .common import (
    A,
    CallbackReading,
    E,
    O,
    _event,
    _flag,
    _lock_attempt,
    _mark_callbacks,
    _stale_created_after,
    callback_read,
    logger,
)

TIMEOUT_REASON = "No final answer from M-Pesa by the deadline: check the paybill statement."
TIMEOUT_MESSAGE = (
    "We did not hear back from M-Pesa in time. If money left your account we will match it and confirm "
    "your session; otherwise please try again."
)


# --- Applying Daraja's answer --------------------------------------------------------------


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
    attempt and it is flagged for a refund. Failure records the plain reason on
    the session. (A callback whose amount does not match never gets here: it is
    ignored and flagged on its own, see mpesa_callback_process.)
    """
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        _apply_locked(attempt=locked, result=result, source=source, source_ip=source_ip, callback=callback)
    return locked


def _apply_locked(
    *,
    attempt: PaymentAttempt,
    result: daraja.StkResult,
    source: str,
    source_ip: str | None = None,
    callback: MpesaCallback | None = None,
    reading: CallbackReading | None = None,
) -> None:
    """payment_apply_result's work, for a caller already holding the attempt's row lock in its transaction."""
    locked = attempt  # locked and re-read by the caller
    if locked.is_final:
        _apply_late(attempt=locked, source=source, source_ip=source_ip, callback=callback, reading=reading)
        return
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
        _apply_success(attempt=locked, result=result, source=source, tag=tag, callback=callback, reading=reading)
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


def _hold_paid_for_review(
    *, attempt: PaymentAttempt, reason: str, message: str, source: str, callback: MpesaCallback | None
) -> None:
    """Money Daraja confirmed that cannot confirm the session: keep it on record and flag it for staff."""
    attempt.message = message
    _flag(attempt=attempt, reason=reason, source=source, callback=callback)
    attempt.save()
    _mark_callbacks(attempt=attempt, callback=callback, outcome=O.REVIEW, note=reason)


def _apply_success(
    *,
    attempt: PaymentAttempt,
    result: daraja.StkResult,
    source: str,
    tag: str,
    callback: MpesaCallback | None,
    reading: CallbackReading | None,
) -> None:
    details = _callback_details(attempt=attempt, reading=reading)
    with_receipt = next((d for d in details if d.receipt_number), None)
    source_ip = callback.source_ip if callback else None
    if with_receipt:
        attempt.mpesa_receipt_number = with_receipt.receipt_number
        attempt.payer_phone = with_receipt.phone or ""
        attempt.paid_amount = with_receipt.amount
        attempt.transaction_date = with_receipt.transaction_date
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


def _apply_late(
    *,
    attempt: PaymentAttempt,
    source: str,
    source_ip: str | None,
    callback: MpesaCallback | None,
    reading: CallbackReading | None = None,
) -> None:
    """An answer for an attempt already settled: change nothing, except fill in a missing receipt."""
    details = _callback_details(attempt=attempt, reading=reading)
    with_receipt = next((d for d in details if d.receipt_number), None)
    note = f"Already {attempt.get_status_display().lower()}."
    if attempt.status == A.SUCCEEDED and attempt.mpesa_receipt_number is None and with_receipt:
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


def _callback_details(*, attempt: PaymentAttempt, reading: CallbackReading | None = None) -> list[daraja.StkResult]:
    """Trusted success details (amount, receipt, payer) from the callbacks stored for this push, oldest first.

    ``reading`` is the triggering callback, already parsed and judged: it is used as it is, not read again.
    """
    details = []
    for cb in selectors.callbacks_for_checkout(checkout_request_id=attempt.checkout_request_id or ""):
        if cb.result_code != 0:
            continue
        if reading is not None and cb.pk == reading.callback_id:
            read = reading
        else:
            read = callback_read(callback=cb, attempt=attempt)
        if read.details is not None:
            details.append(read.details)
    return details


# --- Asking Daraja, timing out, sweeping ------------------------------------------------------


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


def payments_settle_stuck(*, now: dt.datetime | None = None) -> int:
    """Beat: settle (or give up on) every attempt past its deadline. Safe to run twice."""
    count = 0
    for attempt in selectors.attempts_stuck(now=now):
        before = attempt.status
        if payment_check(attempt=attempt, source="sweeper").status != before:
            count += 1
    return count


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
