"""The therapist's dashboard: home, the "see all" lists and the week calendar.

Every dashboard page is for therapists only: anonymous people are sent to log in, anyone
else gets a 403 page that says so. Pages show times in the therapist's own zone.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme

from .. import selectors
from ..models import Session

LOGIN_URL = "sessions:login"
LIST_PAGE_SIZE = 20
HOME_LIMIT = 10


def therapist_required(view):
    """Only therapists: anonymous -> login, others -> 403. Sets ``request.therapist`` and shows their zone."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=LOGIN_URL)
        if not user.is_therapist:
            return render(request, "sessions_app/dashboard/forbidden.html", status=403)
        request.therapist = user.therapist_profile
        with timezone.override(request.therapist.tz):
            return view(request, *args, **kwargs)

    return wrapper


def safe_next(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the form's ``next`` when it is one of our own pages."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def time_left(delta: dt.timedelta) -> str:
    """ "5 h 12 min", "2 d 3 h", "12 min"; "" once the moment has passed."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return ""
    if seconds < 60:
        return "less than a minute"
    days, minutes = divmod(seconds // 60, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def local(moment: dt.datetime) -> str:
    """A moment in the active (the therapist's) zone, e.g. "Tue 4 Jun 2026, 14:30 EAT"."""
    moment = timezone.localtime(moment)
    return f"{date_format(moment, 'D j M Y, H:i')} {moment.tzname()}"


def describe_sessions(sessions, *, limit: int = 8) -> str:
    """One line naming booked sessions for a warning: reference, time and status."""
    parts = [f"{s.reference} {local(s.start)} ({s.get_status_display()})" for s in list(sessions)[:limit]]
    more = len(sessions) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _mark_deadlines(sessions, *, now: dt.datetime, field: str, attr: str) -> None:
    for session in sessions:
        deadline = getattr(session, field)
        setattr(session, attr, time_left(deadline - now) if deadline else "")


@therapist_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    data = selectors.therapist_dashboard(therapist=request.therapist, now=now, limit=HOME_LIMIT)
    _mark_deadlines(data["pending"], now=now, field="respond_by", attr="expires_in")
    _mark_deadlines(data["unpaid"], now=now, field="pay_by", attr="pay_left")
    return render(request, "sessions_app/dashboard/home.html", {**data, "now": now, "therapist": request.therapist})


@therapist_required
def session_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "upcoming")
    if show not in selectors.DASHBOARD_LISTS:
        show = "upcoming"
    now = timezone.now()
    sessions = selectors.therapist_session_list(therapist=request.therapist, show=show, now=now)
    page = Paginator(sessions, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    _mark_deadlines(page.object_list, now=now, field="respond_by", attr="expires_in")
    _mark_deadlines(page.object_list, now=now, field="pay_by", attr="pay_left")
    return render(
        request,
        "sessions_app/dashboard/session_list.html",
        {
            "page": page,
            "show": show,
            "title": selectors.DASHBOARD_LISTS[show],
            "lists": selectors.DASHBOARD_LISTS.items(),
            "now": now,
        },
    )


def _week_start(value: str | None, *, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - dt.timedelta(days=day.weekday())


@therapist_required
def week(request: HttpRequest) -> HttpResponse:
    therapist = request.therapist
    tz = therapist.tz
    today = timezone.now().astimezone(tz).date()
    start = _week_start(request.GET.get("week"), today=today)
    days = [start + dt.timedelta(days=i) for i in range(7)]
    sessions = selectors.therapist_week_sessions(therapist=therapist, week_start=start)
    hours_by_day = selectors.therapist_weekly_hours(therapist=therapist)

    # Rows run from the earliest working hour or session start to the latest end (08:00–18:00 at least).
    first_hour, last_hour = 8, 18
    for ranges in hours_by_day.values():
        for row in ranges:
            first_hour = min(first_hour, row.start_time.hour)
            last_hour = max(last_hour, row.end_time.hour + (1 if row.end_time.minute else 0))
    placed: dict[tuple[dt.date, int], list[Session]] = {}
    for session in sessions:
        local_start = session.start.astimezone(tz)
        local_end = session.end.astimezone(tz)
        day = min(max(local_start.date(), start), days[-1])
        hour = local_start.hour if local_start.date() == day else 0
        first_hour = min(first_hour, hour)
        last_end = local_end.hour + (1 if local_end.minute else 0) if local_end.date() == day else 24
        last_hour = max(last_hour, min(24, last_end))
        session.local_start, session.local_end = local_start, local_end
        placed.setdefault((day, hour), []).append(session)

    def is_open(day: dt.date, hour: int) -> bool:
        begin, end = dt.time(hour), (dt.time(hour + 1) if hour < 23 else dt.time.max)
        return any(r.start_time < end and begin < r.end_time for r in hours_by_day[day.weekday()])

    rows = [
        {
            "hour": hour,
            "label": f"{hour:02d}:00",
            "cells": [
                {"day": day, "sessions": placed.get((day, hour), []), "open": is_open(day, hour), "today": day == today}
                for day in days
            ],
        }
        for hour in range(first_hour, last_hour)
    ]
    counts = {day: sum(len(placed.get((day, h), [])) for h in range(24)) for day in days}
    return render(
        request,
        "sessions_app/dashboard/week.html",
        {
            "days": [{"date": day, "today": day == today, "count": counts[day]} for day in days],
            "rows": rows,
            "week_start": start,
            "week_end": days[-1],
            "prev_week": start - dt.timedelta(days=7),
            "next_week": start + dt.timedelta(days=7),
            "this_week": _week_start(None, today=today),
            "is_this_week": start <= today <= days[-1],
            "session_count": len(sessions),
            "statuses": [
                (value, label) for value, label in Session.Status.choices if value not in selectors.NEVER_HAPPENED
            ],
        },
    )
