"""Reads. Nothing here writes to the database."""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import Session, SessionType, TherapistNote, TherapistProfile, TimeOff, User, WeeklyAvailability

logger = logging.getLogger(__name__)

# --- Slot finder --------------------------------------------------------------------------


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
    tz = therapist.tz
    duration = dt.timedelta(minutes=session_type.duration_minutes)
    buffer = dt.timedelta(minutes=therapist.buffer_minutes)
    step = dt.timedelta(minutes=settings.BOOKING_SLOT_STEP_MINUTES)

    earliest = max(window_start, now + dt.timedelta(hours=therapist.min_notice_hours))
    latest = min(window_end, now + dt.timedelta(days=therapist.max_advance_days))
    if earliest >= latest:
        return []

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


# --- Sessions -----------------------------------------------------------------------------


def sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """Only one's own: a client's bookings, or a therapist's appointments."""
    qs = Session.objects.select_related("client", "therapist__user", "session_type")
    if not user.is_authenticated:
        return qs.none()
    if user.is_therapist:
        return qs.filter(therapist=user.therapist_profile)
    return qs.filter(client=user)


def session_get_visible(*, user: User, pk: int) -> Session | None:
    return sessions_visible_to(user=user).filter(pk=pk).first()


def sessions_for_client(*, client: User, upcoming: bool | None = None) -> QuerySet[Session]:
    qs = Session.objects.filter(client=client).select_related("therapist__user", "session_type")
    now = timezone.now()
    if upcoming is True:
        qs = qs.filter(end__gt=now, status__in=Session.SLOT_HOLDING).order_by("start")
    elif upcoming is False:
        qs = qs.filter(Q(end__lte=now) | ~Q(status__in=Session.SLOT_HOLDING)).order_by("-start")
    return qs


def sessions_for_therapist(
    *,
    therapist: TherapistProfile,
    status: Iterable[str] | None = None,
    start_from: dt.datetime | None = None,
    start_to: dt.datetime | None = None,
) -> QuerySet[Session]:
    qs = Session.objects.filter(therapist=therapist).select_related("client", "session_type")
    if status is not None:
        qs = qs.filter(status__in=list(status))
    if start_from is not None:
        qs = qs.filter(start__gte=start_from)
    if start_to is not None:
        qs = qs.filter(start__lt=start_to)
    return qs.order_by("start")


def session_timeline(*, session: Session) -> QuerySet:
    return session.events.select_related("actor").order_by("at", "id")


# --- Therapists ---------------------------------------------------------------------------


def therapists_directory(
    *,
    specialty: str = "",
    language: str = "",
    min_price: int | None = None,
    max_price: int | None = None,
    mode: str = "",
    available_this_week: bool = False,
) -> QuerySet[TherapistProfile]:
    """Therapists accepting clients with at least one active session type, filtered.

    ``available_this_week`` keeps those with weekly hours and no time off covering
    the whole of the next seven days; it is a cheap pre-filter, the therapist's
    page lists the real free slots.
    """
    types = SessionType.objects.filter(therapist=OuterRef("pk"), is_active=True)
    if min_price is not None:
        types = types.filter(price_kes__gte=min_price)
    if max_price is not None:
        types = types.filter(price_kes__lte=max_price)
    if mode:
        types = types.filter(mode=mode)
    qs = (
        TherapistProfile.objects.filter(accepting_new_clients=True, user__is_active=True)
        .filter(Exists(types))
        .select_related("user")
        .annotate(from_price=Min("session_types__price_kes", filter=Q(session_types__is_active=True)))
        .order_by("user__full_name")
    )
    if specialty:
        qs = qs.filter(specialties__icontains=specialty)
    if language:
        qs = qs.filter(languages__icontains=language)
    if available_this_week:
        now = timezone.now()
        week_end = now + dt.timedelta(days=7)
        qs = qs.filter(Exists(WeeklyAvailability.objects.filter(therapist=OuterRef("pk")))).exclude(
            Exists(TimeOff.objects.filter(therapist=OuterRef("pk"), start__lte=now, end__gte=week_end))
        )
    return qs


DIRECTORY_OPTIONS_CACHE_KEY = "sessions:directory-filter-options:v1"
# The lists change when a therapist edits their profile; a minute's delay is fine for a filter.
DIRECTORY_OPTIONS_TTL = 60


def directory_filter_options() -> dict[str, list[str]]:
    """Every specialty and language among therapists taking clients, for the directory's filters.

    Cached for DIRECTORY_OPTIONS_TTL seconds: it reads every such profile, on every
    directory page. A cache that is down only costs the query.
    """
    try:
        cached = cache.get(DIRECTORY_OPTIONS_CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache is an optimisation here
        logger.warning("Cache unavailable for the directory filter options.", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    specialties: set[str] = set()
    languages: set[str] = set()
    for profile in TherapistProfile.objects.filter(accepting_new_clients=True).only("specialties", "languages"):
        specialties.update(profile.specialty_list)
        languages.update(profile.language_list)
    options = {"specialties": sorted(specialties), "languages": sorted(languages)}
    try:
        cache.set(DIRECTORY_OPTIONS_CACHE_KEY, options, DIRECTORY_OPTIONS_TTL)
    except Exception:  # noqa: BLE001
        logger.warning("Cache unavailable for the directory filter options.", exc_info=True)
    return options


# --- Availability and dashboard -----------------------------------------------------------

# Approved but not paid yet (a failed attempt may be retried by the client).
UNPAID_PAYMENT_STATUSES = (
    Session.PaymentStatus.PENDING,
    Session.PaymentStatus.PROCESSING,
    Session.PaymentStatus.FAILED,
)
# Booked sessions shown on the dashboard's "today and coming" list.
BOOKED_STATUSES = (Session.Status.APPROVED, Session.Status.CONFIRMED, Session.Status.IN_PROGRESS)
# Sessions that never took place and never will: left off the week view.
NEVER_HAPPENED = (Session.Status.DECLINED, Session.Status.EXPIRED)

DASHBOARD_LISTS = {
    "pending": "Pending requests",
    "upcoming": "Upcoming sessions",
    "unpaid": "Approved, awaiting payment",
    "attention": "Past sessions waiting for you to close them",
    "past": "Past and closed",
    "all": "All sessions",
}


def _therapist_sessions(*, therapist: TherapistProfile) -> QuerySet[Session]:
    return Session.objects.filter(therapist=therapist).select_related("client", "session_type")


def _month_window(*, now: dt.datetime, tz) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(tz).date().replace(day=1)
    following = (local + dt.timedelta(days=32)).replace(day=1)
    return day_window(day=local, tz=tz)[0], day_window(day=following, tz=tz)[0]


def therapist_dashboard(*, therapist: TherapistProfile, now: dt.datetime | None = None, limit: int = 10) -> dict:
    """Everything the therapist's home page shows, in five queries whatever the number of sessions.

    ``pending``: requests waiting for an answer, oldest first. ``attention``: confirmed or
    running sessions whose time is over but that nobody closed. ``today`` and ``coming``:
    booked sessions still ahead (``today`` in the therapist's own zone). ``unpaid``: approved,
    not paid yet, soonest deadline first. ``counts``: the four figures of the summary.
    """
    now = now or timezone.now()
    tz = therapist.tz
    base = _therapist_sessions(therapist=therapist)
    S = Session.Status
    pending = list(base.filter(status=S.PENDING_APPROVAL).order_by("created_at", "id")[:limit])
    booked = list(
        base.filter(
            Q(status__in=BOOKED_STATUSES, end__gt=now) | Q(status__in=(S.CONFIRMED, S.IN_PROGRESS), end__lte=now)
        ).order_by("start", "id")[: limit * 2]
    )
    unpaid = list(
        base.filter(status=S.APPROVED, payment_status__in=UNPAID_PAYMENT_STATUSES).order_by("pay_by", "start")[:limit]
    )
    month_start, month_end = _month_window(now=now, tz=tz)
    counts = Session.objects.filter(therapist=therapist).aggregate(
        pending=Count("pk", filter=Q(status=S.PENDING_APPROVAL)),
        upcoming_week=Count(
            "pk", filter=Q(status__in=BOOKED_STATUSES, start__gte=now, start__lt=now + dt.timedelta(days=7))
        ),
        unpaid=Count("pk", filter=Q(status=S.APPROVED, payment_status__in=UNPAID_PAYMENT_STATUSES)),
        completed_month=Count("pk", filter=Q(status=S.COMPLETED, start__gte=month_start, start__lt=month_end)),
        upcoming=Count("pk", filter=Q(status__in=BOOKED_STATUSES, end__gt=now)),
        attention=Count("pk", filter=Q(status__in=(S.CONFIRMED, S.IN_PROGRESS), end__lte=now)),
    )
    today = now.astimezone(tz).date()
    attention = [s for s in booked if s.end <= now]
    ahead = [s for s in booked if s.end > now]
    return {
        "pending": pending,
        "attention": attention,
        "today": [s for s in ahead if s.start.astimezone(tz).date() <= today],
        "coming": [s for s in ahead if s.start.astimezone(tz).date() > today][:limit],
        "unpaid": unpaid,
        "counts": counts,
        "limit": limit,
    }


def therapist_session_list(
    *, therapist: TherapistProfile, show: str, now: dt.datetime | None = None
) -> QuerySet[Session]:
    """The "see all" lists of the dashboard; ``show`` is a key of DASHBOARD_LISTS."""
    now = now or timezone.now()
    S = Session.Status
    qs = _therapist_sessions(therapist=therapist)
    if show == "pending":
        return qs.filter(status=S.PENDING_APPROVAL).order_by("created_at", "id")
    if show == "upcoming":
        return qs.filter(status__in=BOOKED_STATUSES, end__gt=now).order_by("start", "id")
    if show == "unpaid":
        return qs.filter(status=S.APPROVED, payment_status__in=UNPAID_PAYMENT_STATUSES).order_by("pay_by", "start")
    if show == "attention":
        return qs.filter(status__in=(S.CONFIRMED, S.IN_PROGRESS), end__lte=now).order_by("start", "id")
    if show == "past":
        return qs.exclude(status__in=Session.SLOT_HOLDING, end__gt=now).order_by("-start", "-id")
    return qs.order_by("-start", "-id")


def therapist_week_sessions(*, therapist: TherapistProfile, week_start: dt.date) -> list[Session]:
    """Sessions touching the seven days from ``week_start`` (in the therapist's zone), declined and expired left out."""
    start = day_window(day=week_start, tz=therapist.tz)[0]
    end = day_window(day=week_start + dt.timedelta(days=6), tz=therapist.tz)[1]
    return list(
        _therapist_sessions(therapist=therapist)
        .filter(start__lt=end, end__gt=start)
        .exclude(status__in=NEVER_HAPPENED)
        .order_by("start", "id")
    )


def therapist_weekly_hours(*, therapist: TherapistProfile) -> dict[int, list[WeeklyAvailability]]:
    """The weekly hours by weekday (0 = Monday), each day's ranges in order; every weekday present."""
    days: dict[int, list[WeeklyAvailability]] = {day: [] for day in WeeklyAvailability.Weekday.values}
    for row in WeeklyAvailability.objects.filter(therapist=therapist).order_by("weekday", "start_time"):
        days[row.weekday].append(row)
    return days


def therapist_time_off(*, therapist: TherapistProfile, now: dt.datetime | None = None) -> QuerySet[TimeOff]:
    """Time off not over yet, soonest first."""
    now = now or timezone.now()
    return TimeOff.objects.filter(therapist=therapist, end__gt=now).order_by("start", "id")


def therapist_session_types(*, therapist: TherapistProfile) -> QuerySet[SessionType]:
    return SessionType.objects.filter(therapist=therapist).order_by("-is_active", "duration_minutes", "name")


def sessions_outside_availability(*, therapist: TherapistProfile, now: dt.datetime | None = None) -> list[Session]:
    """Booked (slot-holding) sessions still ahead that lie outside the weekly hours or inside time off.

    They stay booked: availability changes never cancel anything. The dashboard lists them so
    the therapist can decide. Three queries.
    """
    now = now or timezone.now()
    sessions = list(
        _therapist_sessions(therapist=therapist)
        .filter(status__in=Session.SLOT_HOLDING, end__gt=now)
        .order_by("start", "id")
    )
    if not sessions:
        return []
    hours: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for weekday, start_time, end_time in WeeklyAvailability.objects.filter(therapist=therapist).values_list(
        "weekday", "start_time", "end_time"
    ):
        hours[weekday].append((start_time, end_time))
    time_off = list(TimeOff.objects.filter(therapist=therapist, end__gt=now).values_list("start", "end"))
    tz = therapist.tz
    outside = []
    for session in sessions:
        local_start, local_end = session.start.astimezone(tz), session.end.astimezone(tz)
        within_hours = local_start.date() == local_end.date() and any(
            start_time <= local_start.time() and local_end.time() <= end_time
            for start_time, end_time in hours.get(local_start.weekday(), ())
        )
        off = any(start < session.end and session.start < end for start, end in time_off)
        if off or not within_hours:
            outside.append(session)
    return outside


def therapist_notes_for(*, session: Session, user: User) -> QuerySet[TherapistNote]:
    """A session's private notes: only its own therapist gets any. Clients, staff and other therapists get none."""
    profile = getattr(user, "therapist_profile", None) if user.is_authenticated and user.is_therapist else None
    if profile is None or session.therapist_id != profile.pk:
        return TherapistNote.objects.none()
    return TherapistNote.objects.filter(session=session, therapist=profile).order_by("created_at", "id")
