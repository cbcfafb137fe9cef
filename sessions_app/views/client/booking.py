"""The booking stepper: (1) therapist and session type, (2) day and time, (3) details, (4) review and submit.

What the client chose lives in the Django session under ``booking``, so Back and
Forward (and a reload) keep it. The idempotency key is made when the stepper
starts; submitting twice (double click, reload, a second tab) gives the same
session. The slot is checked again on submit by ``services.session_request``.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from ... import selectors, services
from ...exceptions import BookingError, RateLimited, SlotUnavailable, ValidationFailed
from ...forms import BookingDetailsForm, ChooseSessionTypeForm, ChooseTherapistForm, DayForm, SlotForm
from ...forms.booking import TherapistSearchForm
from ...forms.intake import IntakeAnswersForm
from ...http import client_ip
from ...models import SessionType, TherapistProfile, User
from ...phone import InvalidPhone, normalize_msisdn
from ...selectors.privacy import intake_needed
from ...services.intake_forms import IntakeInvalid, intake_answers_clean
from ..common import client_login_required

STATE_KEY = "booking"
PHONES_KEY = "mpesa_phones"  # {session pk: MSISDN chosen in step 3}, for the pay page to pre-fill
DAYS_LISTED = 14
THERAPISTS_PER_PAGE = 20

STEPS = [
    ("sessions:book", "Therapist and session"),
    ("sessions:book_time", "Day and time"),
    ("sessions:book_details", "Your details"),
    ("sessions:book_review", "Review and send"),
]
# Asked between the details and the review on a client's first request with a therapist whose
# session type has an intake form (issue 18).
INTAKE_STEP = ("sessions:book_intake", "A few questions")


def clients_only(view):
    """Logged-out people log in and come back; therapists and staff are told booking is for clients."""

    @client_login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.role != User.Role.CLIENT:
            return render(request, "sessions_app/booking/clients_only.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


# --- State --------------------------------------------------------------------------------


def _new_state() -> dict:
    return {
        "key": uuid.uuid4().hex,
        "therapist": None,
        "session_type": None,
        "start": None,
        "notes": "",
        "phone": "",
        "agreed": False,
        "intake_needed": False,
        "intake": {},
        "intake_done": False,
        "done": None,
    }


_NO_INTAKE = {"intake_needed": False, "intake": {}, "intake_done": False}


def _state(request) -> dict | None:
    return request.session.get(STATE_KEY)


def _save(request, state: dict) -> None:
    request.session[STATE_KEY] = state
    request.session.modified = True


def _bookable_therapists() -> QuerySet[TherapistProfile]:
    return selectors.therapists_directory()


def _step_one(request, state: dict | None, chooser_data=None):
    """Step 1's page: a search, and one page of the matching therapists to choose from (never all of them)."""
    search = TherapistSearchForm(request.GET if ("q" in request.GET or "page" in request.GET) else None)
    query, page = search.query()
    shown, has_next = selectors.therapists_bookable_page(query=query, page=page, per_page=THERAPISTS_PER_PAGE)
    chooser = ChooseTherapistForm(chooser_data, queryset=_bookable_therapists(), shown=shown)
    if chooser_data is not None:
        chooser.is_valid()

    def page_link(number: int) -> str:
        return "?" + urlencode({"q": query, "page": number} if query else {"page": number})

    return render(
        request,
        "sessions_app/booking/step_therapist.html",
        _context(
            request,
            "sessions:book",
            state,
            chooser=chooser,
            search=search,
            query=query,
            page_number=page,
            shown=shown,
            previous_url=page_link(page - 1) if page > 1 else "",
            next_url=page_link(page + 1) if has_next else "",
        ),
    )


def _therapist(state: dict) -> TherapistProfile | None:
    if not state or not state.get("therapist"):
        return None
    return TherapistProfile.objects.select_related("user").filter(pk=state["therapist"], user__is_active=True).first()


def _session_type(state: dict, therapist: TherapistProfile | None) -> SessionType | None:
    if therapist is None or not state.get("session_type"):
        return None
    return SessionType.objects.filter(pk=state["session_type"], therapist=therapist, is_active=True).first()


def _start(state: dict) -> dt.datetime | None:
    try:
        start = dt.datetime.fromisoformat(state.get("start") or "")
    except ValueError:
        return None
    return start if timezone.is_aware(start) else None


def _client_tz(request) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(request.user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _steps(state: dict | None) -> list[tuple[str, str]]:
    if state and state.get("intake_needed"):
        return [*STEPS[:3], INTAKE_STEP, STEPS[3]]
    return list(STEPS)


def _stepper(current: str, state: dict | None) -> list[dict]:
    """The stepper's items; ``current`` is the step's URL name."""
    steps = _steps(state)
    done_by_step = {
        "sessions:book": bool(state and state.get("session_type")),
        "sessions:book_time": bool(state and state.get("start")),
        "sessions:book_details": bool(state and state.get("agreed")),
        "sessions:book_intake": bool(state and state.get("intake_done")),
    }
    reached = 0
    if state and not state.get("done"):
        for name, _ in steps[:-1]:
            if not done_by_step.get(name):
                break
            reached += 1
    index = next(i for i, (name, _) in enumerate(steps) if name == current)
    return [
        {
            "number": i + 1,
            "label": label,
            "url": reverse(name),
            "current": i == index,
            "done": i < index or (i <= reached and i != index),
            "reachable": i <= max(reached, index),
        }
        for i, (name, label) in enumerate(steps)
    ]


def _context(request, step: str, state: dict | None, **extra) -> dict:
    number = next(i for i, (name, _) in enumerate(_steps(state)) if name == step) + 1
    return {"steps": _stepper(step, state), "step": number, "client_tz": _client_tz(request), **extra}


def _restart_to(step_url: str, request, message: str):
    messages.info(request, message)
    return redirect(step_url)


# --- Step 1: therapist and session type ---------------------------------------------------


@clients_only
def book(request):
    state = _state(request)
    if request.GET.get("restart") or (state and state.get("done")):
        request.session.pop(STATE_KEY, None)
        state = None

    if "therapist" in request.GET:
        chooser = ChooseTherapistForm(request.GET, queryset=_bookable_therapists())
        if not chooser.is_valid():
            return _step_one(request, state, chooser_data=request.GET)
        therapist = chooser.cleaned_data["therapist"]
        if state is None or state.get("therapist") != therapist.pk:
            state = _new_state()
            state["therapist"] = therapist.pk
        session_type = SessionType.objects.filter(
            pk=request.GET.get("session_type") if (request.GET.get("session_type") or "").isdigit() else None,
            therapist=therapist,
            is_active=True,
        ).first()
        if session_type is not None:
            if state.get("session_type") != session_type.pk:
                state.update(session_type=session_type.pk, start=None, **_NO_INTAKE)
            start = _start({"start": request.GET.get("start", "")})
            if start is not None:
                state["start"] = start.isoformat()
            _save(request, state)
            day = start.astimezone(_client_tz(request)).date().isoformat() if start else ""
            return redirect(reverse("sessions:book_time") + (f"?{urlencode({'date': day})}" if day else ""))
        _save(request, state)
        return redirect("sessions:book")

    therapist = _therapist(state)
    if therapist is None or "q" in request.GET or "page" in request.GET:
        return _step_one(request, state)

    current_type = _session_type(state, therapist)
    form = ChooseSessionTypeForm(
        request.POST if request.method == "POST" else None,
        therapist=therapist,
        initial={"session_type": current_type.pk if current_type else None},
    )
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["session_type"]
        if state.get("session_type") != chosen.pk:
            state.update(session_type=chosen.pk, start=None, **_NO_INTAKE)
        _save(request, state)
        return redirect("sessions:book_time")
    return render(
        request,
        "sessions_app/booking/step_type.html",
        _context(request, "sessions:book", state, therapist=therapist, form=form),
    )


# --- Step 2: day, then time ---------------------------------------------------------------


def _upcoming_days(*, therapist, session_type, tz) -> list[tuple[dt.date, int]]:
    """Days (in the client's zone) with free times over the next DAYS_LISTED days, and how many."""
    now = timezone.now()
    slots = selectors.free_slots(
        therapist=therapist,
        session_type=session_type,
        window_start=now,
        window_end=now + dt.timedelta(days=DAYS_LISTED + 1),
    )
    counts: dict[dt.date, int] = {}
    for slot in slots:
        day = slot.astimezone(tz).date()
        counts[day] = counts.get(day, 0) + 1
    return sorted(counts.items())[:DAYS_LISTED]


@clients_only
def book_time(request):
    state = _state(request)
    therapist = _therapist(state)
    session_type = _session_type(state, therapist)
    if session_type is None:
        return _restart_to(reverse("sessions:book"), request, "First choose a therapist and a session type.")

    tz = _client_tz(request)
    today = timezone.now().astimezone(tz).date()
    last = today + dt.timedelta(days=therapist.max_advance_days)
    days = _upcoming_days(therapist=therapist, session_type=session_type, tz=tz)
    chosen_start = _start(state)

    raw_day = request.POST.get("date") if request.method == "POST" else request.GET.get("date")
    day_form = DayForm({"date": raw_day} if raw_day else None, first=today, last=last)
    if raw_day and day_form.is_valid():
        day = day_form.cleaned_data["date"]
    elif chosen_start is not None:
        day = chosen_start.astimezone(tz).date()
    else:
        day = days[0][0] if days else today
    if not raw_day:
        day_form = DayForm(initial={"date": day}, first=today, last=last)

    window_start, window_end = selectors.day_window(day=day, tz=tz)
    slots = selectors.free_slots(
        therapist=therapist, session_type=session_type, window_start=window_start, window_end=window_end
    )
    initial = {"start": chosen_start.isoformat()} if chosen_start in slots else {}
    slot_form = SlotForm(
        request.POST if request.method == "POST" and day_form.is_valid() else None,
        slots=slots,
        tz=tz,
        initial=initial,
    )
    if request.method == "POST" and slot_form.is_valid():
        state["start"] = slot_form.cleaned_data["start"].isoformat()
        _save(request, state)
        return redirect("sessions:book_details")
    context = _context(
        request,
        "sessions:book_time",
        state,
        therapist=therapist,
        session_type=session_type,
        day=day,
        days=days,
        day_form=day_form,
        slot_form=slot_form,
        slots=slots,
    )
    return render(request, "sessions_app/booking/step_time.html", context)


# --- Step 3: details ----------------------------------------------------------------------


def _profile_phone(user: User) -> str:
    try:
        return "0" + normalize_msisdn(user.phone)[3:]
    except InvalidPhone:
        return ""


def _chosen(state: dict | None) -> tuple:
    """The therapist, session type and start the stepper's state has chosen (None where not, or no longer, valid)."""
    therapist = _therapist(state)
    session_type = _session_type(state, therapist)
    return therapist, session_type, (_start(state) if state else None)


def _earlier_step_missing(request, state: dict | None, session_type, start, *, details: bool = False):
    """A redirect to the first earlier step not done yet (the time; with ``details``, also the details), or None."""
    if session_type is None or start is None:
        return _restart_to(reverse("sessions:book_time"), request, "First choose a day and a time.")
    if details and (not state.get("agreed") or not state.get("phone")):
        return _restart_to(reverse("sessions:book_details"), request, "First fill in your details.")
    return None


@clients_only
def book_details(request):
    state = _state(request)
    therapist, session_type, start = _chosen(state)
    if missing := _earlier_step_missing(request, state, session_type, start):
        return missing

    initial = {
        "notes": state.get("notes", ""),
        "phone": ("0" + state["phone"][3:]) if state.get("phone") else _profile_phone(request.user),
        "agree_policy": state.get("agreed", False),
        "save_phone": not request.user.phone,
    }
    form = BookingDetailsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["save_phone"] and "+" + data["phone"] != request.user.phone:
                services.user_profile_update(
                    user=request.user,
                    full_name=request.user.full_name,
                    phone=data["phone"],
                    time_zone=request.user.time_zone,
                )
                messages.success(request, "Your profile's mobile number is updated.")
        except ValidationFailed as exc:
            form.add_error("save_phone", f"{exc.message} Please complete your profile first.")
        else:
            state.update(notes=data["notes"], phone=data["phone"], agreed=data["agree_policy"])
            needed = bool(intake_needed(client=request.user, session_type=session_type))
            if needed != state.get("intake_needed"):
                state.update(_NO_INTAKE, intake_needed=needed)
            _save(request, state)
            return redirect(
                "sessions:book_intake" if needed and not state.get("intake_done") else "sessions:book_review"
            )
    context = _context(
        request,
        "sessions:book_details",
        state,
        therapist=therapist,
        session_type=session_type,
        start=start,
        form=form,
        free_cancel_hours=settings.BOOKING_FREE_CANCEL_HOURS,
    )
    return render(request, "sessions_app/booking/step_details.html", context)


# --- Step 3b: the therapist's intake questions (first request with them only) ---------------


@clients_only
def book_intake(request):
    state = _state(request)
    therapist, session_type, start = _chosen(state)
    if missing := _earlier_step_missing(request, state, session_type, start, details=True):
        return missing
    questions = intake_needed(client=request.user, session_type=session_type)
    if not questions:
        state.update(_NO_INTAKE)
        _save(request, state)
        return redirect("sessions:book_review")
    form = IntakeAnswersForm(
        request.POST if request.method == "POST" else None,
        questions=questions,
        initial=IntakeAnswersForm.initial_from(state.get("intake") or {}),
    )
    if request.method == "POST" and form.is_valid():
        answers = form.answers()
        try:
            intake_answers_clean(questions=questions, raw=answers)
        except IntakeInvalid as exc:
            for name, message in exc.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            state.update(intake_needed=True, intake=answers, intake_done=True)
            _save(request, state)
            return redirect("sessions:book_review")
    state["intake_needed"] = True
    _save(request, state)
    context = _context(
        request,
        "sessions:book_intake",
        state,
        therapist=therapist,
        session_type=session_type,
        start=start,
        form=form,
    )
    return render(request, "sessions_app/booking/step_intake.html", context, status=400 if form.is_bound else 200)


# --- Step 4: review and submit ------------------------------------------------------------


@clients_only
def book_review(request):
    state = _state(request)
    if state and state.get("done"):
        # Reload or Back after sending: show what was sent, never send again.
        return redirect("sessions:book_confirmed", pk=state["done"])
    therapist, session_type, start = _chosen(state)
    if missing := _earlier_step_missing(request, state, session_type, start, details=True):
        return missing
    if state.get("intake_needed") and not state.get("intake_done"):
        return _restart_to(reverse("sessions:book_intake"), request, "First answer your therapist's questions.")

    if request.method == "POST":
        try:
            session = services.session_request(
                client=request.user,
                therapist=therapist,
                session_type=session_type,
                start=start,
                notes=state.get("notes", ""),
                idempotency_key=state["key"],
                source="web",
                source_ip=client_ip(request),
                intake=state.get("intake") if state.get("intake_needed") else None,
            )
        except IntakeInvalid:
            # The therapist changed the form meanwhile, or this is no longer a first request.
            state.update(_NO_INTAKE)
            _save(request, state)
            messages.error(request, "Your therapist's questions have changed: please check your answers.")
            return redirect("sessions:book_details")
        except SlotUnavailable as exc:
            state["start"] = None
            _save(request, state)
            messages.error(request, exc.message)
            day = start.astimezone(_client_tz(request)).date().isoformat()
            return redirect(reverse("sessions:book_time") + f"?{urlencode({'date': day})}")
        except RateLimited as exc:
            messages.error(request, exc.message)
            return redirect("sessions:book_review")
        except BookingError as exc:
            messages.error(request, exc.message)
            return redirect("sessions:book")
        state["done"] = session.pk
        _save(request, state)
        phones = request.session.get(PHONES_KEY, {})
        phones[str(session.pk)] = state["phone"]
        request.session[PHONES_KEY] = phones
        return redirect("sessions:book_confirmed", pk=session.pk)

    context = _context(
        request,
        "sessions:book_review",
        state,
        therapist=therapist,
        session_type=session_type,
        start=start,
        end=start + dt.timedelta(minutes=session_type.duration_minutes),
        notes=state.get("notes", ""),
        intake_count=len(state.get("intake") or {}) if state.get("intake_needed") else None,
        phone="0" + state["phone"][3:],
        free_cancel_hours=settings.BOOKING_FREE_CANCEL_HOURS,
        respond_hours=settings.BOOKING_REQUEST_TTL_HOURS,
    )
    return render(request, "sessions_app/booking/step_review.html", context)


@client_login_required
def book_confirmed(request, pk: int):
    session = get_object_or_404(selectors.sessions_for_client(client=request.user), pk=pk)
    return render(
        request,
        "sessions_app/booking/confirmed.html",
        {"session": session, "pay_hours": settings.BOOKING_PAYMENT_WINDOW_HOURS},
    )
