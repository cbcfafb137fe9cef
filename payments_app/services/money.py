"""Money owed back: open a case for a payment no live session keeps, close it once, and the credit ledger.

The contract the rest of payments_app builds on:

- ``money_case_open`` is the one way a case starts. It is idempotent per payment attempt (the unique
  constraint is the backstop; the attempt's row lock is the plan): a second call for the same attempt
  returns the case already there.
- A case closes exactly once, by ``_case_close`` under its row lock: refunded (a ``Refund`` that
  succeeded), credited (a ``CreditEntry`` granted from it) or applied (to another booking of the same
  client). Closing a closed case returns it unchanged.
- ``credit_grant`` appends a positive ledger line; the balance is ``selectors.credit_balance``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sessions_app.models import Session, User

from ..models import CreditEntry, MoneyCase, PaymentAttempt, PaymentEvent, Refund
from .common import _event

logger = logging.getLogger("payments_app.services")

C = MoneyCase.Status
E = PaymentEvent.Kind


class MoneyError(Exception):
    """A money action that cannot be done; ``message`` can be shown to a person, ``field`` names the input."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def money_case_open(
    *,
    attempt: PaymentAttempt,
    kind: str,
    amount: int,
    reason: str,
    source: str,
    session: Session | None = None,
) -> MoneyCase:
    """Open the case for ``attempt`` (caller holds the attempt's row lock), or return the one already open.

    ``session`` is the session the money was meant for (default: the attempt's); ``amount`` is what is
    owed back, in whole KES.
    """
    existing = MoneyCase.objects.filter(attempt=attempt).first()
    if existing is not None:
        return existing
    if amount <= 0:
        raise MoneyError("A money case needs an amount above zero.", field="amount")
    session = session or attempt.session
    case = MoneyCase.objects.create(
        attempt=attempt,
        session=session,
        client_id=session.client_id,
        kind=kind,
        amount=amount,
        phone=attempt.payer_phone or attempt.phone,
        receipt=attempt.mpesa_receipt_number or "",
        reason=reason[:255],
    )
    _event(
        kind=E.FLAGGED,
        attempt=attempt,
        source=source,
        message=f"Money case {case.pk} opened: KES {amount:,}. {reason}",
        data={"money_case": case.pk, "kind": kind, "amount": amount},
    )
    logger.warning("Money case %s opened for payment %s: %s", case.pk, attempt.pk, reason)
    return case


def _lock_case(case: MoneyCase | int) -> MoneyCase:
    pk = case.pk if isinstance(case, MoneyCase) else case
    return MoneyCase.objects.select_for_update().get(pk=pk)


def _case_close(
    *,
    case: MoneyCase,
    status: str,
    actor: User | None,
    note: str,
    source: str,
    refund_reference: str = "",
    applied_to: Session | None = None,
) -> MoneyCase:
    """Close a locked case once. Caller holds the case's row lock (``_lock_case``) inside a transaction."""
    if status not in MoneyCase.CLOSED_STATUSES:
        raise ValueError(f"{status!r} does not close a case")
    if not case.is_open:
        return case
    case.status = status
    case.resolved_at = timezone.now()
    case.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
    case.resolution_note = note[:255]
    case.refund_reference = refund_reference
    case.applied_to = applied_to
    case.save()
    _event(
        kind=E.REVIEWED,
        attempt=case.attempt,
        actor=actor,
        source=source,
        message=f"Money case {case.pk} {case.get_status_display().lower()}: {note}"[:500],
        data={"money_case": case.pk, "status": status, "reference": refund_reference},
    )
    return case


def money_case_mark_refunded(*, refund: Refund, source: str) -> MoneyCase:
    """A refund succeeded (the Reversal's result, or staff's manual record): close its case as refunded."""
    with transaction.atomic():
        case = _lock_case(refund.case_id)
        return _case_close(
            case=case,
            status=C.REFUNDED,
            actor=refund.requested_by,
            note=f"Refunded KES {refund.amount:,} ({refund.get_method_display()}), reference {refund.mpesa_reference}.",
            source=source,
            refund_reference=refund.mpesa_reference,
        )


def credit_grant(
    *,
    client: User,
    amount: int,
    reason: str,
    actor: User | None,
    case: MoneyCase | None = None,
) -> CreditEntry:
    """Append a granted line to ``client``'s ledger. ``reason`` is required (it is what the client reads)."""
    reason = (reason or "").strip()
    if not reason:
        raise MoneyError("Say why the credit is granted.", field="reason")
    if not isinstance(amount, int) or amount <= 0:
        raise MoneyError("Credit must be a whole number of KES above zero.", field="amount")
    return CreditEntry.objects.create(
        client=client,
        kind=CreditEntry.Kind.GRANTED,
        amount=amount,
        case=case,
        reason=reason[:255],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
