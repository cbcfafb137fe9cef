"""Writes for M-Pesa payments, by sub-domain; the names callers use are re-exported here.

- ``intake``: start a payment (initiate, push) and take a callback in (record it).
- ``callbacks``: process a stored callback (settle, ignore, abandon).
- ``settle``: apply Daraja's answer, ask for it, time out, sweep, staff review.
- ``common``: the audit row, the row lock, the review flag, and the one reading of a callback.

Nothing here imports a tasks module: tasks are queued on commit through
``payments_app.dispatch``, by name.
"""

from .callbacks import mpesa_callback_abandon, mpesa_callback_process
from .common import CallbackReading, NotSettledYet, callback_read
from .intake import PUSH_WINDOW_SECONDS, mpesa_callback_record, payment_initiate
from .settle import (
    TIMEOUT_MESSAGE,
    TIMEOUT_REASON,
    payment_apply_result,
    payment_check,
    payment_mark_reviewed,
    payments_settle_stuck,
)

__all__ = [
    "PUSH_WINDOW_SECONDS",
    "TIMEOUT_MESSAGE",
    "TIMEOUT_REASON",
    "CallbackReading",
    "NotSettledYet",
    "callback_read",
    "mpesa_callback_abandon",
    "mpesa_callback_process",
    "mpesa_callback_record",
    "payment_apply_result",
    "payment_check",
    "payment_initiate",
    "payment_mark_reviewed",
    "payments_settle_stuck",
]
