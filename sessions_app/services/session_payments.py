"""The payment moves of a session, driven by payments_app: the only module of sessions_app it calls.

Each function applies one row of ``sessions.MOVES`` (pay, payment_failed, confirm, receipt,
refund) through the same ``_transition`` as every status move: locked, checked, one event,
announced on commit.
"""

from __future__ import annotations

from django.utils import timezone

from ..models import Session, User
from .sessions import _transition

P = Session.PaymentStatus


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
    """An M-Pesa push went out for this approved session: its payment is processing."""

    def apply(locked: Session) -> None:
        locked.payment_attempts += 1

    return _transition(
        session=session,
        action="pay",
        actor=actor,
        note="M-Pesa request sent.",
        source=source,
        source_ip=source_ip,
        apply=apply,
        payment_method="mpesa",
        mpesa_phone=phone,
        mpesa_checkout_request_id=checkout_request_id,
        mpesa_merchant_request_id=merchant_request_id,
        mpesa_result_code="",
        mpesa_result_desc="",
        payment_initiated_at=timezone.now(),
    )


def session_payment_failed(
    *, session: Session | int, checkout_request_id: str, result_code: str, result_desc: str, source: str = "daraja"
) -> Session | None:
    """The current attempt failed. A stale attempt's failure (another push since) changes nothing."""
    return _transition(
        session=session,
        action="payment_failed",
        actor=None,
        when=lambda locked: (
            locked.payment_status == P.PROCESSING and locked.mpesa_checkout_request_id == checkout_request_id
        ),
        note=f"{result_code}: {result_desc}"[:2000],
        source=source,
        mpesa_result_code=str(result_code)[:16],
        mpesa_result_desc=(result_desc or "")[:255],
    )


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
    """Confirm a session whose payment Daraja confirmed (the "confirm" move). Exactly once.

    Returns the session when this call confirmed it; None when it was already
    paid (a duplicate). Raises IllegalTransition when the session can no longer
    be confirmed (expired, cancelled): the caller keeps the money on record for
    a refund.
    """

    def apply(locked: Session) -> None:
        locked.mpesa_phone = phone or locked.mpesa_phone
        if merchant_request_id:
            locked.mpesa_merchant_request_id = merchant_request_id

    return _transition(
        session=session,
        action="confirm",
        actor=None,
        when=lambda locked: locked.payment_status not in (P.PAID, P.REFUNDED),
        note=f"M-Pesa receipt {receipt_number}.",
        source=source,
        apply=apply,
        payment_method="mpesa",
        mpesa_receipt_number=receipt_number,
        mpesa_amount=amount,
        mpesa_checkout_request_id=checkout_request_id,
        mpesa_result_code="0",
        mpesa_result_desc="Paid",
        payment_verified_at=timezone.now(),
    )


def session_record_receipt(*, session: Session | int, checkout_request_id: str, receipt_number: str) -> bool:
    """Fill in the M-Pesa receipt of a session STK Query confirmed before the callback brought it.

    Only for that payment (same checkout id) and only once; returns whether it was recorded.
    """
    recorded = _transition(
        session=session,
        action="receipt",
        actor=None,
        when=lambda locked: (
            locked.payment_status == P.PAID
            and locked.mpesa_checkout_request_id == checkout_request_id
            and not locked.mpesa_receipt_number
        ),
        note=f"M-Pesa receipt {receipt_number}.",
        source="daraja",
        mpesa_receipt_number=receipt_number,
    )
    return recorded is not None


def session_mark_refunded(
    *, session: Session | int, actor: User, note: str = "", source_ip: str | None = None
) -> Session:
    """Staff record that a paid session's money went back to the client."""
    return _transition(
        session=session,
        action="refund",
        actor=actor,
        note=note or "Refund recorded by staff.",
        source="admin",
        source_ip=source_ip,
        refund_due=False,
    )
