"""The client's pay page: phone form, then live status until Paid or a plain-words failure."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from sessions_app.exceptions import BookingError, ValidationFailed
from sessions_app.models import Session
from sessions_app.phone import mask
from sessions_app.services.sessions import allowed_actions

from . import selectors, services
from .forms import PayForm, local_phone
from .http import client_ip
from .models import PaymentAttempt

A = PaymentAttempt.Status


@login_required(login_url="sessions:login")
@require_http_methods(["GET", "POST"])
def pay(request, pk: int):
    session = selectors.session_for_payer(user=request.user, pk=pk)
    if session is None:
        raise Http404("No such session.")
    latest = selectors.attempt_latest(session=session)
    # Prefill the number used last time, else the one on the profile.
    form = PayForm(initial={"phone": local_phone(latest.phone if latest else request.user.phone)})
    status_code = 200
    if request.method == "POST":
        form = PayForm(request.POST)
        if form.is_valid():
            try:
                services.payment_initiate(
                    session=session,
                    phone=form.cleaned_data["phone"],
                    actor=request.user,
                    source="web",
                    source_ip=client_ip(request),
                )
            except ValidationFailed as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except BookingError as exc:  # not payable now (409) or too many requests (429)
                form.add_error(None, exc.message)
                status_code = exc.http_status
            else:
                return redirect("payments:pay", pk=session.pk)
        status_code = 400 if status_code == 200 else status_code

    attempt = selectors.attempt_latest(session=session)
    if attempt is not None and attempt.status in (A.PROCESSING, A.UNKNOWN):
        attempt = services.payment_check(
            attempt=attempt,
            source="status",
            actor=request.user,
            source_ip=client_ip(request),
            min_interval=settings.MPESA_STATUS_QUERY_INTERVAL_SECONDS,
        )
        session.refresh_from_db()
    paid = session.payment_status in (Session.PaymentStatus.PAID, Session.PaymentStatus.REFUNDED)
    payable = "pay" in allowed_actions(session=session, user=request.user)
    waiting = attempt is not None and attempt.is_in_flight and not paid
    amount = f"{session.amount_kes:,}"
    context = {
        "session": session,
        "amount": amount,
        "pay_label": f"Pay KES {amount} with M-Pesa",
        "attempt": attempt,
        "form": form,
        "paid": paid,
        "waiting": waiting,
        "payable": payable and not waiting,
        "failed_attempt": attempt if attempt and not waiting and not paid and attempt.status != A.SUCCEEDED else None,
        "receipt": session.mpesa_receipt_number or (attempt.mpesa_receipt_number if attempt else None),
        "masked_phone": mask(attempt.phone) if attempt else "",
        "status_url": (
            reverse("payments:api_status", args=[attempt.checkout_request_id])
            if waiting and attempt.checkout_request_id
            else ""
        ),
    }
    return render(request, "payments_app/pay.html", context, status=status_code)
