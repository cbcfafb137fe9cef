"""The slot finder: which start times a therapist has free. Reads only."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from .. import caching
from ..models import MAX_SESSION_LENGTH, Session, SessionType, TherapistProfile, TimeOff, WeeklyAvailability


def _merge(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[list[dt.datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def free_slots(
    *,
    therapist: TherapistProfile,
    session_type: SessionType,
    window_start: dt.datetime,
    window_end: dt.datetime,
    now: dt.datetime | None = None,
    exclude_session_id: int | None = None,
) -> list[dt.datetime]:
    """Free start times in [window_start, window_end), as aware datetimes in the therapist's zone.

    Honours weekly hours (in the therapist's zone), time off, slot-holding
    sessions widened by the therapist's buffer, the minimum notice and the
    furthest booking date. Three queries whatever the window's length.
    """
    now = now or timezone.now()
    earliest = max(window_start, now + dt.timedelta(hours=therapist.min_notice_hours))
    latest = min(window_end, now + dt.timedelta(days=therapist.max_advance_days))
    if earliest >= latest:
        return []
    return _open_starts(
        therapist=therapist,
        session_type=session_type,
        earliest=earliest,
        latest=latest,
        exclude_session_id=exclude_session_id,
    )


def _open_starts(
    *,
    therapist: TherapistProfile,
    session_type: SessionType,
    earliest: dt.datetime,
    latest: dt.datetime,
    exclude_session_id: int | None = None,
) -> list[dt.datetime]:
    """Start times in [earliest, latest) inside the weekly hours and clear of time off and bookings.

    No notice or furthest date here (free_slots applies them): the result for a window depends only
    on the rows, so that free_slots_cached can keep it and apply those two bounds on every read.
    """
    tz = therapist.tz
    duration = dt.timedelta(minutes=session_type.duration_minutes)
    buffer = dt.timedelta(minutes=therapist.buffer_minutes)
    step = dt.timedelta(minutes=settings.BOOKING_SLOT_STEP_MINUTES)

    hours_by_weekday: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for weekday, start_time, end_time in WeeklyAvailability.objects.filter(therapist=therapist).values_list(
        "weekday", "start_time", "end_time"
    ):
        hours_by_weekday[weekday].append((start_time, end_time))
    if not hours_by_weekday:
        return []

    sessions = Session.objects.filter(
        therapist=therapist,
        status__in=Session.SLOT_HOLDING,
        start__lt=latest + duration + buffer,
        end__gt=earliest - buffer,
        # Implied by end__gt (no session is longer); lets the index stop at the window, not read all history.
        start__gt=earliest - buffer - MAX_SESSION_LENGTH,
    )
    if exclude_session_id:
        sessions = sessions.exclude(pk=exclude_session_id)
    busy = [(s - buffer, e + buffer) for s, e in sessions.values_list("start", "end")]
    busy += list(
        TimeOff.objects.filter(therapist=therapist, start__lt=latest + duration, end__gt=earliest).values_list(
            "start", "end"
        )
    )
    busy = _merge(busy)

    busy_ends = [end for _, end in busy]
    slots: list[dt.datetime] = []
    day = earliest.astimezone(tz).date()
    last_day = latest.astimezone(tz).date()
    while day <= last_day:
        for start_time, end_time in sorted(hours_by_weekday.get(day.weekday(), ())):
            candidate = dt.datetime.combine(day, start_time, tzinfo=tz)
            range_end = dt.datetime.combine(day, end_time, tzinfo=tz)
            while candidate + duration <= range_end:
                if candidate >= latest:
                    break
                if candidate >= earliest:
                    # The first busy interval ending after the candidate starts is the
                    # only one that can overlap it (merged intervals are disjoint).
                    i = bisect.bisect_right(busy_ends, candidate)
                    if i >= len(busy) or busy[i][0] >= candidate + duration:
                        slots.append(candidate)
                candidate += step
        day += dt.timedelta(days=1)
    # Ranges of one day may be given out of order; the sweep needs them sorted.
    return sorted(set(slots))


def slot_is_free(*, therapist: TherapistProfile, session_type: SessionType, start: dt.datetime) -> bool:
    window_start = start - dt.timedelta(seconds=1)
    return start in free_slots(
        therapist=therapist,
        session_type=session_type,
        window_start=window_start,
        window_end=start + dt.timedelta(seconds=1),
    )


def day_window(*, day: dt.date, tz) -> tuple[dt.datetime, dt.datetime]:
    """The aware [start, end) of a calendar day in ``tz``."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def next_free_slots(
    *, therapist: TherapistProfile, session_type: SessionType, count: int = 6, days: int = 14
) -> list[dt.datetime]:
    now = timezone.now()
    return free_slots(
        therapist=therapist, session_type=session_type, window_start=now, window_end=now + dt.timedelta(days=days)
    )[:count]


def free_slots_cached(
    *,
    therapist: TherapistProfile,
    session_type: SessionType,
    window_start: dt.datetime,
    window_end: dt.datetime,
    now: dt.datetime | None = None,
) -> list[dt.datetime]:
    """free_slots, for a read path (the slots API): the same answer, from the cache when it can.

    What is cached is the therapist's open start times over the window's whole days (their zone),
    under the therapist's slots version (sessions_app/caching.py: bumped by every save or delete
    of their sessions, hours, time off or profile); the notice, the furthest date and the window
    are applied on every read, so time passing never makes it stale. Never for a booking's own
    check (slot_is_free reads the rows under the therapist's lock).
    """
    now = now or timezone.now()
    earliest = max(window_start, now + dt.timedelta(hours=therapist.min_notice_hours))
    latest = min(window_end, now + dt.timedelta(days=therapist.max_advance_days))
    if earliest >= latest:
        return []
    tz = therapist.tz
    day_from = window_start.astimezone(tz).date()
    day_to = (window_end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    span_start = day_window(day=day_from, tz=tz)[0]
    span_end = day_window(day=day_to, tz=tz)[1]
    key = (
        f"slots:{therapist.pk}:{session_type.duration_minutes}:{therapist.buffer_minutes}:{therapist.time_zone}:"
        f"{settings.BOOKING_SLOT_STEP_MINUTES}:{day_from.isoformat()}:{day_to.isoformat()}"
    )
    version, starts = caching.lookup(caching.slots_name(therapist.pk), key)
    if starts is None:
        starts = _open_starts(therapist=therapist, session_type=session_type, earliest=span_start, latest=span_end)
        caching.store(key, version, starts)
    return [start for start in starts if earliest <= start < latest]
