"""What the payment services share: the audit row, the attempt's row lock, the review flag, closing callbacks,
and the one reading of a stored callback (parsed once, judged once against its push)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sessions_app.models import Session, User

from .. import daraja, dispatch
from ..models import MpesaCallback, PaymentAttempt, PaymentEvent

# One logger for the package, under the name it had as services.py, so log filters keep matching.
logger = logging.getLogger("payments_app.services")

A = PaymentAttempt.Status
S = Session.Status
P = Session.PaymentStatus
E = PaymentEvent.Kind
O = MpesaCallback.Outcome  # noqa: E741


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


# --- Replies that could not be used as they were ------------------------------------------------

MAX_PROBLEM_PAYLOAD = 8000  # characters of JSON kept on the attempt and in the event


def _storable(raw: Any) -> Any:
    """``raw`` as a jsonb column takes it: no NaN or infinity, no NUL character, not too long."""
    if raw is None:
        return None
    try:
        text = json.dumps(raw, allow_nan=False, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return {"text": repr(raw)[:MAX_PROBLEM_PAYLOAD]}
    if "\\u0000" in text or "\x00" in text:
        return {"text": text.replace("\\u0000", "").replace("\x00", "")[:MAX_PROBLEM_PAYLOAD]}
    if len(text) > MAX_PROBLEM_PAYLOAD:
        return {"text": text[:MAX_PROBLEM_PAYLOAD]}
    return json.loads(text)


def _note_problem(
    *,
    attempt: PaymentAttempt,
    error_class: str,
    description: str,
    raw: Any,
    source: str,
    callback: MpesaCallback | None = None,
) -> None:
    """Keep a reply that could not be used as it was on the attempt, with its raw body (caller holds the lock
    and saves). Every one is also an event; a configuration problem alerts staff once the transaction commits."""
    payload = _storable(raw)
    attempt.problem_class = error_class
    attempt.problem = description[:255]
    attempt.problem_payload = payload
    attempt.problem_at = timezone.now()
    _event(
        kind=E.ANOMALY,
        attempt=attempt,
        callback=callback,
        source=source,
        message=f"{error_class}: {description}",
        data={"class": error_class, "raw": payload},
    )
    logger.warning("Payment %s: unusable reply from M-Pesa (%s): %s", attempt.pk, error_class, description)
    if error_class == daraja.CONFIGURATION:
        session_id = attempt.session_id
        transaction.on_commit(lambda: _alert_staff(session_id), robust=True)


def _note_error(*, attempt: PaymentAttempt, error: daraja.DarajaError, source: str, callback=None) -> None:
    description = f"{error.error_code} {error.error_message}".strip() or type(error).__name__
    _note_problem(
        attempt=attempt,
        error_class=error.error_class,
        description=description,
        raw=error.raw,
        source=source,
        callback=callback,
    )


# notifications_app's task, queued by name (payments_app imports nothing of notifications_app: docs/design.md).
STAFF_PAYMENT_ALERT = "notifications_app.tasks.send_staff_payment_alert"


def _alert_staff(session_id: int) -> None:
    """Email staff about a configuration problem; notifications_app holds it to once an hour."""
    try:
        dispatch.delay(STAFF_PAYMENT_ALERT, session_id)
    except Exception:  # noqa: BLE001 - the problem is recorded and shown in the admin; the email is a courtesy
        logger.exception("Could not queue the staff alert for booking %s", session_id)


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


# --- Reading a stored callback ----------------------------------------------------------------


def _mismatch(*, attempt: PaymentAttempt, result: daraja.StkResult) -> str:
    """Why a callback's success details do not belong to this push ("" when they do)."""
    if "Amount" in result.metadata and result.amount != attempt.amount:
        return f"Amount mismatch: M-Pesa reported {result.amount_raw!r}, the attempt asked for KES {attempt.amount:,}."
    if (
        result.merchant_request_id
        and attempt.merchant_request_id
        and result.merchant_request_id != attempt.merchant_request_id
    ):
        return "Merchant request id in the callback does not match the push."
    return ""


@dataclass(frozen=True)
class CallbackReading:
    """One stored callback, parsed once and judged once against its push; everything after uses only this.

    ``result`` is the parsed body (None if it is not an STK callback). ``untrusted``
    says why a success callback's details do not match the push ("" if they do, or
    if it carries no details to judge). ``details`` is what a settle may copy onto
    the attempt: the receipt, amount and payer of a trusted success callback.
    """

    callback_id: int
    succeeded: bool  # the stored ResultCode is 0
    result: daraja.StkResult | None
    untrusted: str = ""

    @property
    def description(self) -> str:
        return self.result.result_desc if self.result is not None else ""

    @property
    def details(self) -> daraja.StkResult | None:
        if not self.succeeded or self.result is None or not self.result.metadata or self.untrusted:
            return None
        return self.result


def callback_read(*, callback: MpesaCallback, attempt: PaymentAttempt | None) -> CallbackReading:
    """Parse ``callback``'s payload once and judge it once against ``attempt`` (the push it names, if any)."""
    try:
        result = daraja.parse_callback(callback.payload)
    except daraja.CallbackInvalid:
        result = None
    succeeded = daraja.result_code_text(callback.result_code) == "0"
    untrusted = ""
    if attempt is not None and succeeded and result is not None and result.metadata:
        untrusted = _mismatch(attempt=attempt, result=result)
    return CallbackReading(callback_id=callback.pk, succeeded=succeeded, result=result, untrusted=untrusted)
