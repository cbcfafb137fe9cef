"""What each kind of email says: subject, templates, context and attachments.

Subjects are discreet on purpose: they show on lock screens and in shared
inboxes, so they name the booking reference and what happened, never what kind
of appointment it is. Times are shown in the recipient's own zone, named.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from sessions_app.models import Session, SessionType, User

from .ics import session_ics, session_location
from .links import absolute_url
from .models import Notification

K = Notification.Kind


@dataclass(frozen=True)
class EmailSpec:
    subject: str  # formatted with the context
    template: str  # notifications_app/email/<template>.html and .txt


SPECS: dict[str, EmailSpec] = {
    K.THERAPIST_NEW_REQUEST: EmailSpec("New booking request {reference}", "therapist_new_request"),
    K.THERAPIST_PAYMENT_RECEIVED: EmailSpec("Payment received for booking {reference}", "therapist_payment_received"),
    K.THERAPIST_CANCELLED: EmailSpec("Booking {reference} cancelled", "cancelled"),
    K.CLIENT_REQUEST_RECEIVED: EmailSpec("Booking request {reference} received", "client_request_received"),
    K.CLIENT_APPROVED: EmailSpec("Booking {reference} approved: payment due", "client_approved"),
    K.CLIENT_DECLINED: EmailSpec("Booking request {reference} declined", "client_declined"),
    K.CLIENT_PAYMENT_FAILED: EmailSpec("Payment for booking {reference} did not go through", "client_payment_failed"),
    K.CLIENT_CONFIRMED: EmailSpec("Booking {reference} confirmed: your receipt", "client_confirmed"),
    K.CLIENT_CANCELLED: EmailSpec("Booking {reference} cancelled", "cancelled"),
    K.CLIENT_EXPIRED: EmailSpec("Booking {reference} expired", "client_expired"),
    K.CLIENT_REFUNDED: EmailSpec("Refund recorded for booking {reference}", "client_refunded"),
    K.REMINDER_24H: EmailSpec("Reminder: booking {reference} in 24 hours", "reminder"),
    K.REMINDER_1H: EmailSpec("Reminder: booking {reference} starts in 1 hour", "reminder"),
    K.STAFF_PAYMENT_ALERT: EmailSpec("M-Pesa payments need attention (booking {reference})", "staff_payment_alert"),
}

THERAPIST_KINDS = frozenset({K.THERAPIST_NEW_REQUEST, K.THERAPIST_PAYMENT_RECEIVED, K.THERAPIST_CANCELLED})


def recipient_zone(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def zone_label(zone: zoneinfo.ZoneInfo) -> str:
    return f"{zone.key.replace('_', ' ')} time"


def format_day(value: dt.datetime) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def format_moment(value: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    """'Tuesday 3 March 2026 at 14:00 (Africa/Nairobi time)'."""
    if value is None:
        return ""
    local = timezone.localtime(value, zone)
    return f"{format_day(local)} at {local:%H:%M} ({zone_label(zone)})"


def format_span(start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """'Tuesday 3 March 2026, 14:00–15:00 (Africa/Nairobi time)'."""
    local_start, local_end = timezone.localtime(start, zone), timezone.localtime(end, zone)
    end_text = f"{local_end:%H:%M}"
    if local_end.date() != local_start.date():
        end_text = f"{format_day(local_end)} {end_text}"
    return f"{format_day(local_start)}, {local_start:%H:%M}–{end_text} ({zone_label(zone)})"


def _book_again_url() -> str:
    # Not "?therapist=<pk>": the plain-text part shows the URL, and nothing in
    # these emails may name the kind of appointment.
    return absolute_url("sessions:book")


def _cancelled_by(session: Session, recipient: User) -> str:
    by = session.cancelled_by
    if by is None:
        return "We"
    if by.pk == recipient.pk:
        return "You"
    if by.pk in (session.client_id, session.therapist.user_id):
        return by.full_name or by.email
    return "We"


def build_context(notification: Notification) -> dict:
    session = notification.session
    recipient = notification.recipient
    zone = recipient_zone(recipient)
    for_therapist = notification.kind in THERAPIST_KINDS
    ctx = {
        "product_name": settings.PRODUCT_NAME,
        "site_url": settings.SITE_URL,
        "kind": notification.kind,
        "recipient": recipient,
        "session": session,
        "reference": session.reference,
        "for_therapist": for_therapist,
        "other_name": session.client.full_name if for_therapist else session.therapist.display_name,
        "when": format_span(session.start, session.end, zone),
        "duration_minutes": session.session_type.duration_minutes,
        "mode": session.session_type.get_mode_display(),
        "is_online": session.session_type.mode == SessionType.Mode.ONLINE,
        "location": session_location(session),
        "amount": f"KES {session.amount_kes:,}",
        "zone_label": zone_label(zone),
        "session_url": absolute_url(
            "sessions:dashboard_session" if for_therapist else "sessions:session_detail", session.pk
        ),
    }
    kind = notification.kind
    if kind == K.THERAPIST_NEW_REQUEST:
        ctx["respond_by"] = format_moment(session.respond_by, zone)
        ctx["has_notes"] = bool(session.client_notes)
    elif kind == K.CLIENT_REQUEST_RECEIVED:
        ctx["respond_by"] = format_moment(session.respond_by, zone)
    elif kind in (K.CLIENT_APPROVED, K.CLIENT_PAYMENT_FAILED):
        ctx["pay_url"] = absolute_url("payments:pay", session.pk)
        ctx["pay_by"] = format_moment(session.pay_by, zone)
        ctx["failure_reason"] = session.mpesa_result_desc or "M-Pesa did not complete the payment."
    elif kind == K.CLIENT_DECLINED:
        ctx["reason"] = session.decline_reason
        ctx["book_again_url"] = _book_again_url()
    elif kind in (K.CLIENT_CONFIRMED, K.THERAPIST_PAYMENT_RECEIVED):
        ctx["receipt_number"] = session.mpesa_receipt_number or ""
        ctx["paid_amount"] = f"KES {(session.mpesa_amount or session.amount_kes):,}"
        ctx["paid_at"] = format_moment(session.payment_verified_at or timezone.now(), zone)
    elif kind in (K.CLIENT_CANCELLED, K.THERAPIST_CANCELLED):
        ctx["cancelled_by"] = _cancelled_by(session, recipient)
        ctx["reason"] = session.cancel_reason
        ctx["was_paid"] = bool(session.mpesa_receipt_number)
        ctx["refund_due"] = session.refund_due or session.payment_status == Session.PaymentStatus.REFUNDED
        ctx["refund_amount"] = f"KES {(session.mpesa_amount or session.amount_kes):,}"
        ctx["free_cancel_hours"] = settings.BOOKING_FREE_CANCEL_HOURS
        ctx["book_again_url"] = _book_again_url()
    elif kind == K.CLIENT_EXPIRED:
        ctx["was_approved"] = session.pay_by is not None
        ctx["book_again_url"] = _book_again_url()
    elif kind == K.CLIENT_REFUNDED:
        ctx["refund_amount"] = f"KES {(session.mpesa_amount or session.amount_kes):,}"
        ctx["receipt_number"] = session.mpesa_receipt_number or ""
    elif kind in (K.REMINDER_24H, K.REMINDER_1H):
        ctx["lead"] = "in 24 hours" if kind == K.REMINDER_24H else "in 1 hour"
    elif kind == K.STAFF_PAYMENT_ALERT:
        ctx["other_name"] = session.client.full_name or session.client.email
        # What M-Pesa said is on the payment in the admin (this app reads nothing of payments_app).
        ctx["admin_url"] = absolute_url("admin:payments_app_paymentattempt_changelist") + "?problem_class=configuration"
    return ctx


def build_message(*, notification: Notification, connection=None, headers: dict | None = None):
    """The EmailMultiAlternatives for this notification: plain text body, HTML alternative, .ics if any."""
    spec = SPECS[notification.kind]
    ctx = build_context(notification)
    subject = spec.subject.format(**ctx)
    ctx["subject"] = subject
    text = render_to_string(f"notifications_app/email/{spec.template}.txt", ctx)
    html = render_to_string(f"notifications_app/email/{spec.template}.html", ctx)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        connection=connection,
        headers=headers or {},
    )
    message.attach_alternative(html, "text/html")
    session = notification.session
    if notification.kind == K.CLIENT_CONFIRMED:
        message.attach(f"booking-{session.reference}.ics", session_ics(session=session), "text/calendar")
    elif notification.kind == K.CLIENT_CANCELLED and session.mpesa_receipt_number:
        # It had been confirmed, so an invite went out: this one takes it off the calendar.
        message.attach(
            f"booking-{session.reference}-cancelled.ics", session_ics(session=session, cancelled=True), "text/calendar"
        )
    return message
