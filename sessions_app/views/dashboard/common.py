"""Helpers shared by the therapist's dashboard pages.

Every dashboard page is for therapists only: anonymous people are sent to log in, anyone
else gets a 403 page that says so. Pages show times in the therapist's own zone.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme

LOGIN_URL = "sessions:login"


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
