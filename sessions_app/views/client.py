"""The client's pages: therapist directory, a therapist's page, my sessions, one session, cancelling."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from .. import selectors, services
from ..exceptions import BookingError, ValidationFailed
from ..forms import CancelForm, DirectoryFilterForm
from ..http import client_ip
from ..models import Session, TherapistProfile, User
from .common import client_login_required, paginate, query_without

DIRECTORY_PAGE_SIZE = 10
SESSIONS_PAGE_SIZE = 10
NEXT_SLOTS = 6

# Plain words for each event in a session's log (SessionEvent.action).
EVENT_LABELS = {
    "request": "You asked for this session",
    "approve": "Approved by the therapist",
    "decline": "Declined by the therapist",
    "cancel": "Cancelled",
    "expire": "Expired",
    "confirm": "Paid with M-Pesa and confirmed",
    "start": "Session started",
    "complete": "Session completed",
    "mark_no_show": "Marked as missed",
    "set_link": "Meeting link added",
    "payment_processing": "M-Pesa payment requested",
    "payment_failed": "M-Pesa payment did not go through",
    "refund": "Refund recorded",
}


def directory(request):
    options = selectors.directory_filter_options()
    form = DirectoryFilterForm(request.GET or None, options=options)
    filters = {}
    if form.is_bound:
        form.is_valid()  # errors show next to their fields; the valid filters still apply
        filters = form.filters()
    page = paginate(request, selectors.therapists_directory(**filters), per_page=DIRECTORY_PAGE_SIZE)
    return render(
        request,
        "sessions_app/client/directory.html",
        {
            "form": form,
            "page": page,
            "filtered": any(value not in ("", None, False) for value in filters.values()),
            "page_query": query_without(request, "page"),
        },
    )


def therapist_detail(request, pk: int):
    therapist = get_object_or_404(
        TherapistProfile.objects.select_related("user").filter(user__is_active=True, user__role=User.Role.THERAPIST),
        pk=pk,
    )
    offers = [
        {
            "type": session_type,
            "slots": selectors.next_free_slots(therapist=therapist, session_type=session_type, count=NEXT_SLOTS),
        }
        for session_type in therapist.session_types.filter(is_active=True).order_by("duration_minutes", "price_kes")
    ]
    return render(request, "sessions_app/client/therapist_detail.html", {"therapist": therapist, "offers": offers})


@client_login_required
def my_sessions(request):
    upcoming = paginate(
        request,
        selectors.sessions_for_client(client=request.user, upcoming=True),
        per_page=SESSIONS_PAGE_SIZE,
        param="upcoming",
    )
    past = paginate(
        request,
        selectors.sessions_for_client(client=request.user, upcoming=False),
        per_page=SESSIONS_PAGE_SIZE,
        param="past",
    )
    return render(
        request,
        "sessions_app/client/my_sessions.html",
        {
            "upcoming": upcoming,
            "past": past,
            "upcoming_query": query_without(request, "upcoming"),
            "past_query": query_without(request, "past"),
        },
    )


def _own_session(request, pk: int) -> Session:
    """The client's own session; anyone else's (or a missing one) is a 404."""
    return get_object_or_404(selectors.sessions_for_client(client=request.user), pk=pk)


@client_login_required
def session_detail(request, pk: int):
    session = _own_session(request, pk)
    actions = services.allowed_actions(session=session, user=request.user)
    timeline = [
        {"event": event, "label": EVENT_LABELS.get(event.action, event.action.replace("_", " ").capitalize())}
        for event in selectors.session_timeline(session=session)
    ]
    P = Session.PaymentStatus
    context = {
        "session": session,
        "timeline": timeline,
        "can_cancel": "cancel" in actions,
        "can_pay": session.status == Session.Status.APPROVED and session.payment_status in (P.PENDING, P.FAILED),
        "paying": session.status == Session.Status.APPROVED and session.payment_status == P.PROCESSING,
        "paid": session.payment_status in (P.PAID, P.REFUNDED) and bool(session.mpesa_receipt_number),
    }
    return render(request, "sessions_app/client/session_detail.html", context)


@client_login_required
def session_cancel(request, pk: int):
    session = _own_session(request, pk)
    if "cancel" not in services.allowed_actions(session=session, user=request.user):
        messages.error(request, f"This session is {session.get_status_display()}; it can no longer be cancelled.")
        return redirect("sessions:session_detail", pk=session.pk)
    policy = services.cancellation_policy(session=session, actor=request.user)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.session_cancel(
                session=session,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                source="web",
                source_ip=client_ip(request),
            )
        except ValidationFailed as exc:
            form.add_error("reason", exc.message)
        except BookingError as exc:
            messages.error(request, exc.message)
            return redirect("sessions:session_detail", pk=session.pk)
        else:
            messages.success(request, f"Session {session.reference} is cancelled. {policy['summary']}")
            return redirect("sessions:session_detail", pk=session.pk)
    return render(
        request,
        "sessions_app/client/session_cancel.html",
        {
            "session": session,
            "form": form,
            "policy": policy,
            "free_cancel_hours": settings.BOOKING_FREE_CANCEL_HOURS,
        },
    )
