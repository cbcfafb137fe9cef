"""The client's own sessions: the list, one session, cancelling."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from ... import selectors, services
from ...exceptions import BookingError, ValidationFailed
from ...forms import CancelForm
from ...http import client_ip
from ...models import Session
from ...selectors.privacy import intake_answers_for, staff_reveals_for_client
from ..common import client_login_required, event_label, paginate, query_without

SESSIONS_PAGE_SIZE = 10


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
        {"event": event, "label": event_label(event.action, audience="client")}
        for event in selectors.session_timeline(session=session)
    ]
    P = Session.PaymentStatus
    context = {
        "session": session,
        "timeline": timeline,
        "can_cancel": "cancel" in actions,
        "can_pay": "pay" in actions,
        "paying": session.status == Session.Status.APPROVED and session.payment_status == P.PROCESSING,
        "paid": session.payment_status in (P.PAID, P.REFUNDED) and bool(session.mpesa_receipt_number),
        "intake_answers": intake_answers_for(session=session, user=request.user),
        "staff_reveals": list(staff_reveals_for_client(client=request.user, session=session)),
    }
    return render(request, "sessions_app/client/session_detail.html", context)


@client_login_required
def session_cancel(request, pk: int):
    session = _own_session(request, pk)
    if "cancel" not in services.allowed_actions(session=session, user=request.user):
        messages.error(request, f"This session is {session.get_status_display()}; it can no longer be cancelled.")
        return redirect("sessions:session_detail", pk=session.pk)
    policy = selectors.session_cancellation_policy(session=session, actor=request.user)
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
