"""Reads. Nothing here writes to the database.

slots.py       the slot finder (free start times)
sessions.py    sessions: who sees which, timelines, booked ahead, respond-by, cancellation policy
therapists.py  the directory, the dashboard, weekly hours, time off, session types
notes.py       a therapist's private notes

Callers may import from here; new code imports the submodule.
"""

from .notes import therapist_notes_for
from .sessions import (
    session_cancellation_policy,
    session_get_visible,
    session_respond_by,
    session_timeline,
    sessions_booked_ahead,
    sessions_for_client,
    sessions_for_therapist,
    sessions_visible_to,
)
from .slots import day_window, free_slots, free_slots_cached, next_free_slots, slot_is_free
from .therapists import (
    BOOKED_STATUSES,
    DASHBOARD_LISTS,
    DIRECTORY_OPTIONS_CACHE_KEY,
    NEVER_HAPPENED,
    UNPAID_PAYMENT_STATUSES,
    directory_filter_options,
    sessions_outside_availability,
    therapist_dashboard,
    therapist_session_list,
    therapist_session_types,
    therapist_time_off,
    therapist_week_sessions,
    therapist_weekly_hours,
    therapists_bookable_page,
    therapists_directory,
)

__all__ = [
    "BOOKED_STATUSES",
    "DASHBOARD_LISTS",
    "DIRECTORY_OPTIONS_CACHE_KEY",
    "NEVER_HAPPENED",
    "UNPAID_PAYMENT_STATUSES",
    "day_window",
    "directory_filter_options",
    "free_slots",
    "free_slots_cached",
    "next_free_slots",
    "session_cancellation_policy",
    "session_get_visible",
    "session_respond_by",
    "session_timeline",
    "sessions_booked_ahead",
    "sessions_for_client",
    "sessions_for_therapist",
    "sessions_outside_availability",
    "sessions_visible_to",
    "slot_is_free",
    "therapist_dashboard",
    "therapist_notes_for",
    "therapist_session_list",
    "therapist_session_types",
    "therapist_time_off",
    "therapist_week_sessions",
    "therapist_weekly_hours",
    "therapists_bookable_page",
    "therapists_directory",
]
