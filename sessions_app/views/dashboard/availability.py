"""The therapist's availability: weekly hours, time off, booking settings and session types.

Changes never cancel a booked session. When a change touches booked sessions (now outside
the hours, inside time off, too close for the buffer, or of a changed type) the page says so
in a warning that lists them; they stay booked.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ... import selectors, services
from ...exceptions import BookingError
from ...forms import SessionTypeForm, SettingsForm, TimeOffForm, WeeklyHoursForm, add_booking_error
from ...models import SessionType, TimeOff, WeeklyAvailability
from .common import describe_sessions, therapist_required


def _warn_affected(request: HttpRequest, affected, lead: str) -> None:
    """Warn about booked sessions a change touches; ``lead`` holds ``{n}`` ("2 booked sessions")."""
    if affected:
        count = len(affected)
        n = f"{count} booked session" if count == 1 else f"{count} booked sessions"
        messages.warning(
            request,
            f"{lead.format(n=n)}. They stay booked: {describe_sessions(affected)}. "
            "Open a session to talk to the client or to cancel it if you need to.",
        )


def _availability_page(request: HttpRequest, *, status: int = 200, **forms) -> HttpResponse:
    therapist = request.therapist
    hours = selectors.therapist_weekly_hours(therapist=therapist)
    context = {
        "therapist": therapist,
        "days": [(WeeklyAvailability.Weekday(day).label, ranges) for day, ranges in hours.items()],
        "time_off": list(selectors.therapist_time_off(therapist=therapist)),
        "outside": selectors.sessions_outside_availability(therapist=therapist),
        "hours_form": forms.get("hours_form") or WeeklyHoursForm(),
        "time_off_form": forms.get("time_off_form") or TimeOffForm(),
    }
    return render(request, "sessions_app/dashboard/availability.html", context, status=status)


@therapist_required
def availability(request: HttpRequest) -> HttpResponse:
    return _availability_page(request)


def _back_to_availability(anchor: str) -> HttpResponse:
    return redirect(reverse("sessions:dashboard_availability") + anchor)


@require_POST
@therapist_required
def hours_add(request: HttpRequest) -> HttpResponse:
    form = WeeklyHoursForm(request.POST)
    if not form.is_valid():
        return _availability_page(request, status=400, hours_form=form)
    data = form.cleaned_data
    try:
        result = services.weekly_hours_add(
            therapist=request.therapist,
            weekday=data["weekday"],
            start_time=data["start_time"],
            end_time=data["end_time"],
        )
    except BookingError as exc:
        add_booking_error(form, exc)
        return _availability_page(request, status=400, hours_form=form)
    day = WeeklyAvailability.Weekday(data["weekday"]).label
    messages.success(request, f"Added {data['start_time']:%H:%M}–{data['end_time']:%H:%M} on {day}s.")
    _warn_affected(request, result.affected, "This change leaves {n} outside your weekly hours")
    return _back_to_availability("#hours")


@require_POST
@therapist_required
def hours_remove(request: HttpRequest, pk: int) -> HttpResponse:
    hours = get_object_or_404(WeeklyAvailability, pk=pk, therapist=request.therapist)
    try:
        result = services.weekly_hours_remove(therapist=request.therapist, hours=hours)
    except BookingError as exc:
        messages.error(request, exc.message)
        return _back_to_availability("#hours")
    messages.success(request, f"Removed {hours}.")
    _warn_affected(request, result.affected, "This change leaves {n} outside your weekly hours")
    return _back_to_availability("#hours")


@require_POST
@therapist_required
def time_off_add(request: HttpRequest) -> HttpResponse:
    form = TimeOffForm(request.POST)
    if not form.is_valid():
        return _availability_page(request, status=400, time_off_form=form)
    data = form.cleaned_data
    try:
        result = services.time_off_add(
            therapist=request.therapist, start=data["start"], end=data["end"], reason=data["reason"]
        )
    except BookingError as exc:
        add_booking_error(form, exc)
        return _availability_page(request, status=400, time_off_form=form)
    messages.success(request, "Time off added. No new bookings can fall in it.")
    _warn_affected(request, result.affected, "This time off overlaps {n}")
    return _back_to_availability("#time-off")


@require_POST
@therapist_required
def time_off_remove(request: HttpRequest, pk: int) -> HttpResponse:
    time_off = get_object_or_404(TimeOff, pk=pk, therapist=request.therapist)
    try:
        services.time_off_remove(therapist=request.therapist, time_off=time_off)
    except BookingError as exc:
        messages.error(request, exc.message)
        return _back_to_availability("#time-off")
    messages.success(request, "Time off removed.")
    return _back_to_availability("#time-off")


@therapist_required
def booking_settings(request: HttpRequest) -> HttpResponse:
    therapist = request.therapist
    fields = ["buffer_minutes", "min_notice_hours", "max_advance_days", "accepting_new_clients", "time_zone"]
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            try:
                result = services.therapist_settings_update(therapist=therapist, **form.cleaned_data)
            except BookingError as exc:
                add_booking_error(form, exc)
            else:
                messages.success(request, "Settings saved.")
                _warn_affected(
                    request,
                    result.affected,
                    "This change leaves {n} outside your hours or closer together than your buffer",
                )
                return redirect("sessions:dashboard_settings")
        status = 400
    else:
        form = SettingsForm(initial={name: getattr(therapist, name) for name in fields})
        status = 200
    return render(request, "sessions_app/dashboard/settings.html", {"form": form}, status=status)


# --- Session types ---------------------------------------------------------------------------


def _session_type_fields(form: SessionTypeForm) -> dict:
    data = form.cleaned_data
    return {name: data[name] for name in ("name", "duration_minutes", "price_kes", "mode", "is_active")}


@therapist_required
def session_types(request: HttpRequest) -> HttpResponse:
    therapist = request.therapist
    status = 200
    if request.method == "POST":
        form = SessionTypeForm(request.POST)
        if form.is_valid():
            try:
                result = services.session_type_save(therapist=therapist, **_session_type_fields(form))
            except BookingError as exc:
                add_booking_error(form, exc)
            else:
                messages.success(request, f"Added {result.obj.name}.")
                return redirect("sessions:dashboard_session_types")
        status = 400
    else:
        form = SessionTypeForm(initial={"mode": SessionType.Mode.ONLINE, "is_active": True})
    context = {"types": list(selectors.therapist_session_types(therapist=therapist)), "form": form}
    return render(request, "sessions_app/dashboard/session_types.html", context, status=status)


@therapist_required
def session_type_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session_type = get_object_or_404(SessionType, pk=pk, therapist=request.therapist)
    status = 200
    if request.method == "POST":
        form = SessionTypeForm(request.POST)
        if form.is_valid():
            try:
                result = services.session_type_save(
                    therapist=request.therapist, session_type=session_type, **_session_type_fields(form)
                )
            except BookingError as exc:
                add_booking_error(form, exc)
            else:
                messages.success(request, f"Saved {result.obj.name}.")
                _warn_affected(
                    request,
                    result.affected,
                    "This change does not alter {n} of this type: they keep the duration, price and place they were booked with",
                )
                return redirect("sessions:dashboard_session_types")
        status = 400
    else:
        form = SessionTypeForm(
            initial={
                name: getattr(session_type, name)
                for name in ("name", "duration_minutes", "price_kes", "mode", "is_active")
            }
        )
    return render(
        request,
        "sessions_app/dashboard/session_type_edit.html",
        {"form": form, "session_type": session_type},
        status=status,
    )


@require_POST
@therapist_required
def session_type_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    session_type = get_object_or_404(SessionType, pk=pk, therapist=request.therapist)
    active = request.POST.get("active") == "1"
    try:
        result = services.session_type_set_active(therapist=request.therapist, session_type=session_type, active=active)
    except BookingError as exc:
        messages.error(request, exc.message)
        return redirect("sessions:dashboard_session_types")
    state = "offered to clients again" if active else "no longer offered to new bookings"
    messages.success(request, f"{session_type.name} is {state}.")
    _warn_affected(request, result.affected, "Stopping this type does not cancel {n} already made with it")
    return redirect("sessions:dashboard_session_types")
