"""Processing a stored M-Pesa callback: settle the push it names, ignore it, or abandon it.

A callback is only a trigger (pretix's Stripe webhook looks the charge up again):
the STK Push Query is the truth. The worker's path, once per delivery:

1. read the callback; stop if it is already processed; count the try;
2. look the attempt up by checkout id (no lock yet);
3. parse the payload once and judge it once against the attempt (``callback_read``);
4. unless the callback is untrusted or the attempt is already final, ask STK Query
   (HTTP, outside any lock);
5. in one transaction: lock the attempt (re-read), lock the callback, record its
   arrival, then act: unknown checkout, ignore, late answer, or apply the result.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import daraja
from ..models import MpesaCallback, PaymentAttempt, PaymentEvent
from . import settle
from .common import (
    CallbackReading,
    E,
    NotSettledYet,
    O,
    _event,
    _flag,
    _lock_attempt,
    _note_error,
    callback_read,
    logger,
)


def mpesa_callback_process(*, callback_id: int) -> str:
    """Settle the push a stored callback is about, via STK Query. Safe to run any number of times.

    Returns the callback's outcome; raises NotSettledYet while Daraja has no final answer.
    """
    callback = MpesaCallback.objects.get(pk=callback_id)
    if callback.processed_at is not None:
        return callback.outcome
    MpesaCallback.objects.filter(pk=callback_id).update(process_tries=F("process_tries") + 1)
    attempt = PaymentAttempt.objects.filter(checkout_request_id=callback.checkout_request_id).order_by("pk").first()
    reading = callback_read(callback=callback, attempt=attempt)
    result: daraja.StkResult | None = None
    pending: daraja.DarajaError | None = None
    if attempt is not None and not reading.untrusted and not attempt.is_final:
        try:
            result = daraja.client().stk_query(checkout_request_id=attempt.checkout_request_id)
        except daraja.DarajaError as exc:
            pending = exc

    with transaction.atomic():
        locked = _lock_attempt(attempt) if attempt is not None else None
        locked_callback = MpesaCallback.objects.select_for_update().get(pk=callback_id)
        _callback_received(attempt=locked, callback=locked_callback, reading=reading)
        if locked is None:
            return _callback_unknown(callback=locked_callback)
        if reading.untrusted:
            return _callback_ignore(attempt=locked, callback=locked_callback, reason=reading.untrusted)
        if result is None and pending is None:
            # Final when first read, so nothing was asked: a late answer (only a missing receipt is filled in).
            settle._apply_late(
                attempt=locked, source="callback", source_ip=callback.source_ip, callback=callback, reading=reading
            )
            return O.DUPLICATE
        if pending is not None and settle._worth_recording(pending) and pending.error_class != daraja.CONFIGURATION:
            _note_error(attempt=locked, error=pending, source="callback", callback=callback)
            locked.save()
        if result is not None:
            settle._apply_locked(
                attempt=locked,
                result=result,
                source="callback",
                source_ip=callback.source_ip,
                callback=callback,
                reading=reading,
            )
    if pending is not None and pending.error_class == daraja.CONFIGURATION:
        # Our set-up is wrong: asking again cannot help. Staff are alerted and settle it from the statement.
        settle._needs_attention(attempt=attempt, source="callback", error=pending)
        MpesaCallback.objects.filter(pk=callback_id, processed_at__isnull=True).update(
            processed_at=timezone.now(), outcome=O.REVIEW, attempt=attempt, note=f"Not settled: {pending}"[:255]
        )
        return O.REVIEW
    if pending is not None:
        # The arrival is committed above; the task asks again later.
        logger.info("Callback %s: Daraja has no final answer yet (%s)", callback_id, pending.error_code)
        raise NotSettledYet(str(pending))
    callback.refresh_from_db()
    return callback.outcome


def _callback_received(*, attempt: PaymentAttempt | None, callback: MpesaCallback, reading: CallbackReading) -> None:
    """Keep the callback's payload on the attempt and log its arrival, once each (caller holds both row locks).

    The payload is set on the locked attempt too, so the settle that follows
    saves it rather than overwriting it. The event carries the time the
    callback arrived, not the time it was processed.
    """
    if attempt is not None and attempt.callback_payload is None:
        attempt.callback_payload = callback.payload
        PaymentAttempt.objects.filter(pk=attempt.pk).update(callback_payload=callback.payload)
    if PaymentEvent.objects.filter(callback=callback, kind=E.CALLBACK_RECEIVED).exists():
        return
    _event(
        kind=E.CALLBACK_RECEIVED,
        attempt=attempt,
        callback=callback,
        source="daraja",
        source_ip=callback.source_ip,
        message=f"ResultCode {callback.result_code or '?'}: {reading.description}",
        at=callback.received_at,
    )


def _callback_unknown(*, callback: MpesaCallback) -> str:
    """No attempt has this checkout id: keep the callback for staff, change nothing (caller holds its lock)."""
    if callback.processed_at is not None:
        return callback.outcome
    callback.processed_at = timezone.now()
    callback.outcome = O.UNKNOWN_CHECKOUT
    callback.note = "No payment attempt has this checkout id; nothing changed."
    callback.save()
    _event(
        kind=E.UNKNOWN_CHECKOUT,
        callback=callback,
        source="daraja",
        source_ip=callback.source_ip,
        message=f"Callback for unknown checkout id {callback.checkout_request_id[:64]} (ResultCode {callback.result_code}).",
    )
    logger.warning("Callback %s is for an unknown checkout id", callback.pk)
    return O.UNKNOWN_CHECKOUT


def _callback_ignore(*, attempt: PaymentAttempt, callback: MpesaCallback, reason: str) -> str:
    """Keep an untrusted callback for staff and act on nothing it says: no session changes because of it.

    The push is still settled by what STK Query says (poller, status checks,
    sweeper, or a genuine callback), from details that match it. The caller
    holds both row locks.
    """
    if callback.processed_at is not None:
        return callback.outcome
    note = f"Ignored, does not match the push: {reason}"
    _flag(attempt=attempt, reason=note, source="callback", callback=callback)
    attempt.save()
    MpesaCallback.objects.filter(pk=callback.pk).update(
        processed_at=timezone.now(), outcome=O.REVIEW, attempt=attempt, note=note[:255]
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
