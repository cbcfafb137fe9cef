"""The therapist's dashboard: home, the "see all" lists and the week calendar."""

from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ... import selectors
from ...models import Session
from .common import therapist_required, time_left

LIST_PAGE_SIZE = 20
HOME_LIMIT = 10


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
