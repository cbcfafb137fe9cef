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

from django.db import DatabaseError, IntegrityError, transaction
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
    _note_error,
    _note_problem,
    _stale_created_after,
    callback_read,
    logger,
)

TIMEOUT_REASON = "No final answer from M-Pesa by the deadline: check the paybill statement."
TIMEOUT_MESSAGE = (
    "We did not hear back from M-Pesa in time. If money left your account we will match it and confirm "
    "your session; otherwise please try again."
)
ATTENTION_PREFIX = "Needs attention: "
ATTENTION_MESSAGE = (
    "We could not confirm this payment with M-Pesa automatically. Our team is checking it: if money left "
    "your account we will confirm your session; otherwise please try again later."
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
        # Not about this push: nothing in it is used (the push is asked about again; see payment_check).
        _note_problem(
            attempt=locked,
            error_class=daraja.TRANSIENT,
            description=f"Answer for another checkout request ({result.checkout_request_id[:64]!r}): not used.",
            raw={"CheckoutRequestID": result.checkout_request_id, "ResultCode": result.result_code},
            source=source,
            callback=callback,
        )
        locked.save()
        return
    if locked.status in (A.UNKNOWN, A.REVIEW) and (
        locked.review_reason == TIMEOUT_REASON or locked.review_reason.startswith(ATTENTION_PREFIX)
    ):
        locked.needs_review = False
        locked.review_reason = ""
    if not result.succeeded and (result.error_class == daraja.CONFIGURATION or not result.known_code):
        configuration = result.error_class == daraja.CONFIGURATION
        _note_problem(
            attempt=locked,
            error_class=result.error_class,
            description=(
                f"ResultCode {result.result_code}: {result.result_desc}"
                + ("" if configuration else " (a code we do not know: shown to the client as a plain failure)")
            ),
            raw={"ResultCode": result.result_code, "ResultDesc": result.result_desc},
            source=source,
            callback=callback,
        )
        if configuration:
            _flag(
                attempt=locked,
                reason=f"M-Pesa set-up problem, ResultCode {result.result_code}: {result.result_desc}",
                source=source,
                callback=callback,
            )
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
        if daraja.result_code_text(cb.result_code) != "0":
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
    deadline with no final answer the attempt becomes "no answer" (or "needs
    attention" when Daraja only sent replies that could not be used) and the
    session's payment Failed, so nothing stays Processing. A configuration error
    (our set-up is wrong) stops the asking at once: "needs attention", staff alerted.

    Never raises for what Daraja sends: anything unexpected is recorded on the
    attempt and the attempt is returned as it stands (a database failure still raises).
    """
    try:
        return _check(attempt=attempt, source=source, source_ip=source_ip, min_interval=min_interval)
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - one odd answer must not break a status page or a sweep
        logger.exception("Checking payment %s failed", attempt.pk)
        with transaction.atomic():
            locked = _lock_attempt(attempt)
            _note_problem(
                attempt=locked,
                error_class=daraja.TRANSIENT,
                description=f"Could not apply M-Pesa's answer: {type(exc).__name__}: {exc}"[:255],
                raw=None,
                source=source,
            )
            locked.save()
        return locked


def _check(
    *, attempt: PaymentAttempt, source: str, source_ip: str | None, min_interval: float | None
) -> PaymentAttempt:
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
        if exc.error_class == daraja.CONFIGURATION:
            return _needs_attention(attempt=attempt, source=source, error=exc)
        if _worth_recording(exc):
            with transaction.atomic():
                locked = _lock_attempt(attempt)
                _note_error(attempt=locked, error=exc, source=source)
                locked.save()
            attempt.refresh_from_db()
    if result is not None:
        return payment_apply_result(attempt=attempt, result=result, source=source, source_ip=source_ip)
    if attempt.status == A.PROCESSING and timezone.now() >= selectors.attempt_deadline(attempt=attempt):
        if attempt.problem_class and attempt.problem_at and attempt.problem_at >= attempt.initiated_at:
            return _needs_attention(attempt=attempt, source=source, error=None)
        return _time_out(attempt=attempt, source=source)
    return attempt


def _worth_recording(error: daraja.DarajaError) -> bool:
    """Odd replies are kept for staff; the ordinary "ask again later" ones (busy, timeout, token) are not."""
    return not isinstance(error, daraja.DarajaPending | daraja.DarajaUnavailable | daraja.DarajaInvalidToken)


def _needs_attention(*, attempt: PaymentAttempt, source: str, error: daraja.DarajaError | None) -> PaymentAttempt:
    """Stop asking: staff settle this push from the statement. The session's payment is Failed, so the client
    is not left waiting (a late valid answer still applies, as for "no answer")."""
    with transaction.atomic():
        locked = _lock_attempt(attempt)
        if locked.status not in (A.PROCESSING, A.UNKNOWN):
            return locked
        if error is not None:
            _note_error(attempt=locked, error=error, source=source)
        what = locked.problem or "no usable answer"
        reason = f"{ATTENTION_PREFIX}{what}"
        was_processing = locked.status == A.PROCESSING
        locked.status = A.REVIEW
        locked.message = (
            ATTENTION_MESSAGE if locked.problem_class != daraja.CONFIGURATION else (daraja.CONFIGURATION_MESSAGE)
        )
        _flag(attempt=locked, reason=reason, source=source)
        locked.save()
        if was_processing:
            session_services.session_payment_failed(
                session=locked.session_id,
                checkout_request_id=locked.checkout_request_id,
                result_code="attention",
                result_desc=locked.message,
                source=f"daraja:{source}",
            )
        _event(kind=E.NEEDS_ATTENTION, attempt=locked, source=source, message=reason)
    return locked


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
    """Beat: settle (or give up on) every attempt past its deadline. Safe to run twice.

    An attempt that cannot be settled (anything raises, the database included) is
    skipped, logged and, where the database allows, flagged for staff; the sweep
    goes on with the rest. Returns how many attempts changed status.
    """
    count = 0
    skipped: list[int] = []
    for attempt in selectors.attempts_stuck(now=now):
        before = attempt.status
        try:
            if payment_check(attempt=attempt, source="sweeper").status != before:
                count += 1
        except Exception as exc:  # noqa: BLE001 - one attempt must not stop the sweep
            skipped.append(attempt.pk)
            logger.exception("Sweep skipped payment %s", attempt.pk)
            _flag_skipped(attempt=attempt, error=exc)
    if skipped:
        logger.error("Sweep could not settle %s payment(s): %s", len(skipped), skipped)
    return count


def _flag_skipped(*, attempt: PaymentAttempt, error: Exception) -> None:
    try:
        with transaction.atomic():
            locked = _lock_attempt(attempt)
            _flag(
                attempt=locked,
                reason=f"The sweep could not settle this payment: {type(error).__name__}",
                source="sweeper",
            )
            locked.save()
    except Exception:  # noqa: BLE001 - already logged above; the next sweep tries again
        logger.exception("Could not flag payment %s", attempt.pk)


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
