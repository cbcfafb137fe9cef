"""A therapist's own settings: weekly hours, time off, booking rules, session types.

None of these ever cancels or moves a booked session; a change that touches booked
sessions returns them in ``ChangeResult.affected`` so the therapist is told and decides.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .. import caching
from ..exceptions import NotAllowed, ValidationFailed
from ..models import Session, SessionType, TherapistProfile, TimeOff, User, WeeklyAvailability
from ..selectors.sessions import sessions_booked_ahead
from ..selectors.therapists import sessions_outside_availability

MAX_RANGES_PER_DAY = 8
_PROFILE_TIME_ZONES = frozenset(name for name, _ in TherapistProfile._meta.get_field("time_zone").choices)


@dataclass(frozen=True)
class ChangeResult:
    """What a therapist's change did: the row made or changed, and the booked sessions it touches."""

    obj: object | None = None
    affected: tuple[Session, ...] = ()


def _lock_profile(therapist: TherapistProfile) -> TherapistProfile:
    return TherapistProfile.objects.select_for_update().get(pk=therapist.pk)


def _own(therapist: TherapistProfile, row, what: str) -> None:
    if row.therapist_id != therapist.pk:
        raise NotAllowed(f"That {what} is not yours.")


def _outside_ids(therapist: TherapistProfile) -> set[int]:
    return {session.pk for session in sessions_outside_availability(therapist=therapist)}


def _newly_outside(therapist: TherapistProfile, before: set[int]) -> list[Session]:
    return [session for session in sessions_outside_availability(therapist=therapist) if session.pk not in before]


def _check_weekday(weekday) -> int:
    if weekday not in WeeklyAvailability.Weekday.values:
        raise ValidationFailed("Choose a day of the week.", field="weekday")
    return int(weekday)


def _clean_day_ranges(ranges: Sequence[tuple[dt.time, dt.time]], *, weekday: int) -> list[tuple[dt.time, dt.time]]:
    day = WeeklyAvailability.Weekday(weekday).label
    cleaned = []
    for start_time, end_time in ranges:
        if not isinstance(start_time, dt.time) or not isinstance(end_time, dt.time):
            raise ValidationFailed("Give a start and an end time.", field="start_time")
        start_time = start_time.replace(second=0, microsecond=0, tzinfo=None)
        end_time = end_time.replace(second=0, microsecond=0, tzinfo=None)
        if end_time <= start_time:
            raise ValidationFailed("The end time must be after the start time.", field="end_time")
        cleaned.append((start_time, end_time))
    cleaned.sort()
    for (start_1, end_1), (start_2, end_2) in itertools.pairwise(cleaned):
        if start_2 < end_1:
            raise ValidationFailed(
                f"{start_2:%H:%M}–{end_2:%H:%M} overlaps {start_1:%H:%M}–{end_1:%H:%M} on {day}.", field="start_time"
            )
    if len(cleaned) > MAX_RANGES_PER_DAY:
        raise ValidationFailed(f"At most {MAX_RANGES_PER_DAY} time ranges a day.", field="start_time")
    return cleaned


def weekly_hours_set(
    *, therapist: TherapistProfile, weekday: int, ranges: Sequence[tuple[dt.time, dt.time]]
) -> ChangeResult:
    """Replace one weekday's hours (in the therapist's zone) with ``ranges``: several a day, none overlapping.

    ``affected``: booked sessions ahead that this change leaves outside the hours (they stay booked).
    """
    weekday = _check_weekday(weekday)
    cleaned = _clean_day_ranges(ranges, weekday=weekday)
    with transaction.atomic():
        # The same lock session_request takes: no booking is judged against half-changed hours.
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        WeeklyAvailability.objects.filter(therapist=locked, weekday=weekday).delete()
        rows = WeeklyAvailability.objects.bulk_create(
            [
                WeeklyAvailability(therapist=locked, weekday=weekday, start_time=start, end_time=end)
                for start, end in cleaned
            ]
        )
        caching.bump(caching.slots_name(locked.pk))  # bulk_create sends no post_save (sessions_app.receivers)
        return ChangeResult(obj=rows, affected=tuple(_newly_outside(locked, before)))


def weekly_hours_add(
    *, therapist: TherapistProfile, weekday: int, start_time: dt.time, end_time: dt.time
) -> ChangeResult:
    """Add one range of hours to a weekday, keeping the day's other ranges."""
    weekday = _check_weekday(weekday)
    with transaction.atomic():
        locked = _lock_profile(therapist)
        current = list(
            WeeklyAvailability.objects.filter(therapist=locked, weekday=weekday).values_list("start_time", "end_time")
        )
        if isinstance(start_time, dt.time) and isinstance(end_time, dt.time) and start_time < end_time:
            for other_start, other_end in current:
                if start_time < other_end and other_start < end_time:
                    day = WeeklyAvailability.Weekday(weekday).label
                    raise ValidationFailed(
                        f"That overlaps {other_start:%H:%M}–{other_end:%H:%M}, already set for {day}.",
                        field="start_time",
                    )
        result = weekly_hours_set(therapist=locked, weekday=weekday, ranges=[*current, (start_time, end_time)])
        added = next(
            (row for row in result.obj if (row.start_time, row.end_time) not in set(current)),
            None,
        )
        return ChangeResult(obj=added, affected=result.affected)


def weekly_hours_remove(*, therapist: TherapistProfile, hours: WeeklyAvailability) -> ChangeResult:
    _own(therapist, hours, "time range")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        WeeklyAvailability.objects.filter(pk=hours.pk, therapist=locked).delete()
        return ChangeResult(obj=hours, affected=tuple(_newly_outside(locked, before)))


def time_off_add(
    *, therapist: TherapistProfile, start: dt.datetime, end: dt.datetime, reason: str = ""
) -> ChangeResult:
    """Block a range of time. ``affected``: booked sessions inside it (they stay booked)."""
    if not isinstance(start, dt.datetime) or timezone.is_naive(start):
        raise ValidationFailed("Give the start with its date, time and zone.", field="start")
    if not isinstance(end, dt.datetime) or timezone.is_naive(end):
        raise ValidationFailed("Give the end with its date, time and zone.", field="end")
    if end <= start:
        raise ValidationFailed("The end must be after the start.", field="end")
    if end <= timezone.now():
        raise ValidationFailed("That time off is already over; give one that ends in the future.", field="end")
    if end - start > dt.timedelta(days=366):
        raise ValidationFailed("Time off can last at most a year at a time.", field="end")
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise ValidationFailed("Please keep the note under 200 characters.", field="reason")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        time_off = TimeOff.objects.create(therapist=locked, start=start, end=end, reason=reason)
        affected = tuple(sessions_booked_ahead(therapist=locked).filter(start__lt=end, end__gt=start))
    return ChangeResult(obj=time_off, affected=affected)


def time_off_remove(*, therapist: TherapistProfile, time_off: TimeOff) -> ChangeResult:
    _own(therapist, time_off, "time off")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        TimeOff.objects.filter(pk=time_off.pk, therapist=locked).delete()
    return ChangeResult(obj=time_off)


def _bounded_int(value, *, field: str, low: int, high: int, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"Give the {label} as a whole number.", field=field)
    if not low <= value <= high:
        raise ValidationFailed(f"The {label} must be between {low} and {high}.", field=field)
    return value


def therapist_settings_update(
    *,
    therapist: TherapistProfile,
    buffer_minutes: int,
    min_notice_hours: int,
    max_advance_days: int,
    accepting_new_clients: bool,
    time_zone: str,
) -> ChangeResult:
    """Booking rules and time zone. The zone is also the therapist's own display zone.

    ``affected``: booked sessions ahead that a new zone puts outside the weekly hours, or that a
    longer buffer leaves too close to a neighbour (they stay booked).
    """
    buffer_minutes = _bounded_int(buffer_minutes, field="buffer_minutes", low=0, high=240, label="buffer")
    min_notice_hours = _bounded_int(
        min_notice_hours, field="min_notice_hours", low=0, high=24 * 14, label="minimum notice"
    )
    max_advance_days = _bounded_int(
        max_advance_days, field="max_advance_days", low=1, high=365, label="furthest booking date"
    )
    if max_advance_days * 24 <= min_notice_hours:
        raise ValidationFailed(
            "The furthest booking date must be further ahead than the minimum notice.", field="max_advance_days"
        )
    if time_zone not in _PROFILE_TIME_ZONES:
        raise ValidationFailed("Choose a time zone from the list.", field="time_zone")
    with transaction.atomic():
        locked = _lock_profile(therapist)
        before = _outside_ids(locked)
        old_buffer = locked.buffer_minutes
        locked.buffer_minutes = buffer_minutes
        locked.min_notice_hours = min_notice_hours
        locked.max_advance_days = max_advance_days
        locked.accepting_new_clients = bool(accepting_new_clients)
        locked.time_zone = time_zone
        locked.save()
        User.objects.filter(pk=locked.user_id).update(time_zone=time_zone)
        affected = {session.pk: session for session in _newly_outside(locked, before)}
        if buffer_minutes > old_buffer:
            gap = dt.timedelta(minutes=buffer_minutes)
            for first, second in itertools.pairwise(sessions_booked_ahead(therapist=locked)):
                if second.start - first.end < gap:
                    affected.setdefault(first.pk, first)
                    affected.setdefault(second.pk, second)
    return ChangeResult(obj=locked, affected=tuple(sorted(affected.values(), key=lambda s: (s.start, s.pk))))


def session_type_save(
    *,
    therapist: TherapistProfile,
    session_type: SessionType | None = None,
    name: str,
    duration_minutes: int,
    price_kes: int,
    mode: str,
    is_active: bool = True,
) -> ChangeResult:
    """Create a session type, or change one. Booked sessions keep the duration and price they were booked with.

    ``affected``: booked sessions ahead of this type when its duration or price changed, or it was
    switched off (they stay as booked).
    """
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the session type a name.", field="name")
    if len(name) > 80:
        raise ValidationFailed("Please keep the name under 80 characters.", field="name")
    duration_minutes = _bounded_int(duration_minutes, field="duration_minutes", low=15, high=240, label="duration")
    price_kes = _bounded_int(price_kes, field="price_kes", low=1, high=250_000, label="price in KES")
    if mode not in SessionType.Mode.values:
        raise ValidationFailed("Choose online or in person.", field="mode")
    with transaction.atomic():
        # Serialises the therapist's type changes, so that from_price (set by SessionType.save) is
        # computed from the committed types of the one change at a time.
        _lock_profile(therapist)
        if session_type is None:
            locked = SessionType(therapist=therapist)
            terms_changed = False
        else:
            _own(therapist, session_type, "session type")
            locked = SessionType.objects.select_for_update().get(pk=session_type.pk)
            terms_changed = (
                locked.duration_minutes != duration_minutes
                or locked.price_kes != price_kes
                or locked.mode != mode
                or (locked.is_active and not is_active)
            )
        locked.name = name
        locked.duration_minutes = duration_minutes
        locked.price_kes = price_kes
        locked.mode = mode
        locked.is_active = bool(is_active)
        locked.save()
        affected = (
            tuple(sessions_booked_ahead(therapist=therapist).filter(session_type=locked)) if terms_changed else ()
        )
    return ChangeResult(obj=locked, affected=affected)


def session_type_set_active(*, therapist: TherapistProfile, session_type: SessionType, active: bool) -> ChangeResult:
    """Offer a session type again, or stop offering it. Sessions already booked with it stay."""
    _own(therapist, session_type, "session type")
    with transaction.atomic():
        _lock_profile(therapist)  # as in session_type_save: one change of the therapist's from_price at a time
        locked = SessionType.objects.select_for_update().get(pk=session_type.pk)
        locked.is_active = bool(active)
        locked.save(update_fields=["is_active"])
        affected = () if active else tuple(sessions_booked_ahead(therapist=therapist).filter(session_type=locked))
    return ChangeResult(obj=locked, affected=affected)
