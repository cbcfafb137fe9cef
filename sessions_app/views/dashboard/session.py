"""The therapist's page for one request or session, its actions and its private notes.

Each action is a POST that validates its form, calls ONE sessions service and redirects with
a message. A service's BookingError becomes a readable message and changes nothing. Another
therapist's session is a 404.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ... import selectors, services
from ...exceptions import BookingError
from ...forms import MeetingLinkForm, NoteForm, ReasonForm, add_booking_error
from ...http import client_ip
from ...models import SensitiveAccess, Session, TherapistNote
from ...selectors.privacy import intake_answers_for
from ...services import privacy
from ..common import event_label
from .common import local, safe_next, therapist_required, time_left

# Which of allowed_actions() each button stands for, in the order they are shown.
ACTION_ORDER = ["approve", "decline", "start", "complete", "mark_no_show", "cancel"]


def _own_session(request: HttpRequest, pk: int) -> Session:
    session = selectors.sessions_for_therapist(therapist=request.therapist).filter(pk=pk).first()
    if session is None:
        raise Http404("No such session.")
    return session


def _page_url(session: Session) -> str:
    return reverse("sessions:dashboard_session", args=[session.pk])


def _render_page(request: HttpRequest, session: Session, *, status: int = 200, **forms) -> HttpResponse:
    now = timezone.now()
    actions = services.allowed_actions(session=session, user=request.user)
    notes = list(selectors.therapist_notes_for(session=session, user=request.user))
    editing = request.GET.get("edit_note")
    for note in notes:
        note.editing = str(note.pk) == editing
        if note.editing and "edit_note_form" not in forms:
            forms["edit_note_form"] = NoteForm(initial={"body": note.body}, prefix=f"note{note.pk}")
    timeline = list(selectors.session_timeline(session=session))
    for event in timeline:
        event.label = event_label(event.action, audience="therapist")
    policy = selectors.session_cancellation_policy(session=session, actor=request.user, now=now)
    intake_answers = intake_answers_for(session=session, user=request.user)
    if intake_answers or session.client_notes:
        kind = SensitiveAccess.Kind
        privacy.sensitive_read_record(
            session=session,
            actor=request.user,
            kind=kind.BOTH
            if intake_answers and session.client_notes
            else kind.INTAKE
            if intake_answers
            else kind.NOTES,
            path=request.get_full_path(),
            source_ip=client_ip(request),
        )
    context = {
        "session": session,
        "intake_answers": intake_answers,
        "client": session.client,
        "timeline": timeline,
        "notes": notes,
        "actions": [name for name in ACTION_ORDER if name in actions],
        "can_set_link": "set_link" in actions,
        "refund_on_cancel": policy["refund"],
        "expires_in": time_left(session.respond_by - now) if session.status == Session.Status.PENDING_APPROVAL else "",
        "pay_left": time_left(session.pay_by - now)
        if session.pay_by and session.status == Session.Status.APPROVED
        else "",
        "start_from": session.start - dt.timedelta(minutes=services.START_EARLY_MINUTES),
        "now": now,
        "decline_form": forms.get("decline_form") or ReasonForm(prefix="decline", purpose="declining"),
        "cancel_form": forms.get("cancel_form") or ReasonForm(prefix="cancel", purpose="cancelling"),
        "link_form": forms.get("link_form") or MeetingLinkForm(initial={"meeting_link": session.meeting_link}),
        "note_form": forms.get("note_form") or NoteForm(),
        "edit_note_form": forms.get("edit_note_form"),
    }
    return render(request, "sessions_app/dashboard/session_detail.html", context, status=status)


@therapist_required
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_page(request, _own_session(request, pk))


def _done(request: HttpRequest, session: Session, message: str, *, warning: str = "") -> HttpResponse:
    messages.success(request, message)
    if warning:
        messages.warning(request, warning)
    return redirect(safe_next(request, _page_url(session)))


def _refused(request: HttpRequest, session: Session, exc: BookingError) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect(safe_next(request, _page_url(session)))


def _simple_action(service, success: str):
    """A button with no fields: approve, start, complete, no-show."""

    @require_POST
    @therapist_required
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        session = _own_session(request, pk)
        try:
            changed = service(session=session, actor=request.user, source="web", source_ip=client_ip(request))
        except BookingError as exc:
            return _refused(request, session, exc)
        return _done(request, changed, success(changed))

    return view


session_approve = _simple_action(
    services.session_approve,
    lambda s: f"Approved {s.reference}. The client is asked to pay by {local(s.pay_by)}.",
)
session_start = _simple_action(services.session_start, lambda s: f"Started {s.reference}: it is now In Progress.")
session_complete = _simple_action(services.session_complete, lambda s: f"Completed {s.reference}.")
session_no_show = _simple_action(services.session_mark_no_show, lambda s: f"Recorded {s.reference} as a no-show.")


def _reason_action(service, prefix: str, purpose: str, success):
    """A button with a reason the client reads: decline, cancel."""

    @require_POST
    @therapist_required
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        session = _own_session(request, pk)
        form = ReasonForm(request.POST, prefix=prefix, purpose=purpose)
        if not form.is_valid():
            return _render_page(request, session, status=400, **{f"{prefix}_form": form})
        try:
            changed = service(
                session=session,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                source="web",
                source_ip=client_ip(request),
            )
        except BookingError as exc:
            if exc.field == "reason":
                add_booking_error(form, exc)
                return _render_page(request, session, status=400, **{f"{prefix}_form": form})
            return _refused(request, session, exc)
        return _done(request, changed, success(changed))

    return view


session_decline = _reason_action(
    services.session_decline,
    "decline",
    "declining",
    lambda s: f"Declined {s.reference}. The client will see your reason.",
)
session_cancel = _reason_action(
    services.session_cancel,
    "cancel",
    "cancelling",
    lambda s: (
        f"Cancelled {s.reference}." + (" The client's payment is marked for a refund by staff." if s.refund_due else "")
    ),
)


@require_POST
@therapist_required
def session_set_link(request: HttpRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    form = MeetingLinkForm(request.POST)
    if not form.is_valid():
        return _render_page(request, session, status=400, link_form=form)
    try:
        changed = services.session_meeting_link_set(
            session=session, actor=request.user, link=form.cleaned_data["meeting_link"]
        )
    except BookingError as exc:
        # Wrong mode or state: the link form is not even shown then, so say it on top.
        return _refused(request, session, exc)
    return _done(request, changed, "Meeting link saved. The client sees it on their session page.")


# --- Private notes ---------------------------------------------------------------------------


def _own_note(request: HttpRequest, session: Session, note_pk: int) -> TherapistNote:
    return get_object_or_404(selectors.therapist_notes_for(session=session, user=request.user), pk=note_pk)


def _notes_url(session: Session) -> str:
    return _page_url(session) + "#notes"


@require_POST
@therapist_required
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _render_page(request, session, status=400, note_form=form)
    try:
        services.therapist_note_add(session=session, actor=request.user, body=form.cleaned_data["body"])
    except BookingError as exc:
        add_booking_error(form, exc)
        return _render_page(request, session, status=400, note_form=form)
    messages.success(request, "Private note saved.")
    return redirect(_notes_url(session))


@require_POST
@therapist_required
def note_edit(request: HttpRequest, pk: int, note_pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    note = _own_note(request, session, note_pk)
    form = NoteForm(request.POST, prefix=f"note{note.pk}")
    if form.is_valid():
        try:
            services.therapist_note_update(note=note, actor=request.user, body=form.cleaned_data["body"])
        except BookingError as exc:
            add_booking_error(form, exc)
        else:
            messages.success(request, "Private note updated.")
            return redirect(_notes_url(session))
    request.GET = request.GET.copy()
    request.GET["edit_note"] = str(note.pk)
    return _render_page(request, session, status=400, edit_note_form=form)


@require_POST
@therapist_required
def note_delete(request: HttpRequest, pk: int, note_pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    note = _own_note(request, session, note_pk)
    try:
        services.therapist_note_delete(note=note, actor=request.user)
    except BookingError as exc:
        return _refused(request, session, exc)
    messages.success(request, "Private note deleted.")
    return redirect(_notes_url(session))
