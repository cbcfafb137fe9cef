"""Writes, one module a sub-domain (reads are in ``sessions_app.selectors``).

sessions.py          the one table of moves (MOVES) and _transition; request .. no-show, meeting link
session_payments.py  the payment moves, rows of the same table: the only module payments_app calls
therapists.py        weekly hours, time off, booking rules, session types
users.py             signup, sign-in (the lockout rule), profile
notes.py             a therapist's private notes
audit.py             the admin's access log

Callers may import from here; new code imports the submodule.
"""

from .audit import audit_record
from .notes import NOTE_MAX_CHARS, therapist_note_add, therapist_note_delete, therapist_note_update
from .session_payments import (
    session_mark_paid,
    session_mark_refunded,
    session_payment_failed,
    session_payment_processing,
    session_record_receipt,
)
from .sessions import (
    MOVES,
    PAGE_ACTIONS,
    START_EARLY_MINUTES,
    STATUS_ACTIONS,
    Move,
    allowed_actions,
    session_approve,
    session_cancel,
    session_complete,
    session_decline,
    session_expire,
    session_mark_no_show,
    session_meeting_link_set,
    session_request,
    session_start,
    sessions_expire_due,
)
from .therapists import (
    MAX_RANGES_PER_DAY,
    ChangeResult,
    session_type_save,
    session_type_set_active,
    therapist_settings_update,
    time_off_add,
    time_off_remove,
    weekly_hours_add,
    weekly_hours_remove,
    weekly_hours_set,
)
from .users import user_authenticate, user_profile_update, user_signup

__all__ = [
    "MAX_RANGES_PER_DAY",
    "MOVES",
    "NOTE_MAX_CHARS",
    "PAGE_ACTIONS",
    "START_EARLY_MINUTES",
    "STATUS_ACTIONS",
    "ChangeResult",
    "Move",
    "allowed_actions",
    "audit_record",
    "session_approve",
    "session_cancel",
    "session_complete",
    "session_decline",
    "session_expire",
    "session_mark_no_show",
    "session_mark_paid",
    "session_mark_refunded",
    "session_meeting_link_set",
    "session_payment_failed",
    "session_payment_processing",
    "session_record_receipt",
    "session_request",
    "session_start",
    "session_type_save",
    "session_type_set_active",
    "sessions_expire_due",
    "therapist_note_add",
    "therapist_note_delete",
    "therapist_note_update",
    "therapist_settings_update",
    "time_off_add",
    "time_off_remove",
    "user_authenticate",
    "user_profile_update",
    "user_signup",
    "weekly_hours_add",
    "weekly_hours_remove",
    "weekly_hours_set",
]
