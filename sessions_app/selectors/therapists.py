"""Reads about therapists: the directory, the dashboard, their hours, time off and session types."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .. import caching
from ..models import MAX_SESSION_LENGTH, Session, SessionType, TherapistProfile, TimeOff, WeeklyAvailability
from .slots import day_window

logger = logging.getLogger("sessions_app.selectors")


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
    # from_price is set while the therapist has an active type (TherapistProfile.from_price): no
    # aggregate over every listed therapist's types, and no subquery unless a filter is on the types.
    qs = (
        TherapistProfile.objects.filter(accepting_new_clients=True, user__is_active=True, from_price__isnull=False)
        .select_related("user")
        .order_by("user__full_name", "id")
    )
    if min_price is not None or max_price is not None or mode:
        types = SessionType.objects.filter(therapist=OuterRef("pk"), is_active=True)
        if min_price is not None:
            types = types.filter(price_kes__gte=min_price)
        if max_price is not None:
            types = types.filter(price_kes__lte=max_price)
        if mode:
            types = types.filter(mode=mode)
        qs = qs.filter(Exists(types))
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


def therapists_bookable_page(
    *, query: str = "", page: int = 1, per_page: int = 20
) -> tuple[list[TherapistProfile], bool]:
    """One page of the therapists a client can book, by name, optionally matching ``query``; and whether more follow.

    For the booking stepper's first step: one query of at most ``per_page + 1`` rows whatever the
    number of therapists (the step once rendered all of them, 1,810 options at the platform's size).
    ``query`` matches the name, a specialty or the city.
    """
    qs = (
        TherapistProfile.objects.filter(accepting_new_clients=True, user__is_active=True)
        .filter(Exists(SessionType.objects.filter(therapist=OuterRef("pk"), is_active=True)))
        .select_related("user")
        .order_by("user__full_name", "id")
    )
    query = query.strip()
    if query:
        qs = qs.filter(Q(user__full_name__icontains=query) | Q(specialties__icontains=query) | Q(city__icontains=query))
    offset = (max(page, 1) - 1) * per_page
    rows = list(qs[offset : offset + per_page + 1])
    return rows[:per_page], len(rows) > per_page


DIRECTORY_OPTIONS_CACHE_KEY = "sessions:directory-filter-options:v2"


def directory_filter_options() -> dict[str, list[str]]:
    """Every specialty and language among therapists taking clients, for the directory's filters.

    Cached under the directory's version (sessions_app/caching.py, bumped when a profile
    changes): it reads every such profile. A cache that is down only costs the query.
    """
    version, cached = caching.lookup(caching.DIRECTORY, DIRECTORY_OPTIONS_CACHE_KEY)
    if cached is not None:
        return cached
    specialties: set[str] = set()
    languages: set[str] = set()
    for profile in TherapistProfile.objects.filter(accepting_new_clients=True).only("specialties", "languages"):
        specialties.update(profile.specialty_list)
        languages.update(profile.language_list)
    options = {"specialties": sorted(specialties), "languages": sorted(languages)}
    caching.store(DIRECTORY_OPTIONS_CACHE_KEY, version, options)
    return options


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
    # Only the rows some count can include: the open statuses, and this month's completed ones; not
    # the therapist's whole history of closed sessions (thousands for a busy therapist).
    counted = Q(status__in=(S.PENDING_APPROVAL, *BOOKED_STATUSES)) | Q(
        status=S.COMPLETED, start__gte=month_start, start__lt=month_end
    )
    counts = Session.objects.filter(counted, therapist=therapist).aggregate(
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
        # start__gt is implied by end__gt (no session is longer): the index reads the week, not all history.
        .filter(start__lt=end, end__gt=start, start__gt=start - MAX_SESSION_LENGTH)
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
