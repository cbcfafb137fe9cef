"""The calendar invite (.ics) attached to a confirmation, and its cancellation.

Neutral on purpose: a calendar shows on shared screens and syncs to phones, so
the summary names only the person met, never what kind of appointment it is.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from sessions_app.models import Session, SessionType

from .links import absolute_url, site_host


def session_uid(session: Session) -> str:
    """Stable per session, so the cancellation replaces the invite in the calendar."""
    return f"booking-{session.pk}@{site_host()}"


def session_location(session: Session) -> str:
    if session.session_type.mode == SessionType.Mode.ONLINE:
        return session.meeting_link or "Online (the link will follow by email)"
    return session.therapist.city or "In person"


def session_ics(*, session: Session, cancelled: bool = False, now: dt.datetime | None = None) -> bytes:
    """One VEVENT with DTSTART/DTEND in UTC. ``cancelled`` builds the METHOD:CANCEL counterpart."""
    now = now or timezone.now()
    cal = Calendar()
    cal.add("prodid", f"-//{settings.PRODUCT_NAME}//Bookings//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "CANCEL" if cancelled else "PUBLISH")

    event = Event()
    event.add("uid", session_uid(session))
    event.add("sequence", 1 if cancelled else 0)
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("dtstart", session.start.astimezone(dt.UTC))
    event.add("dtend", session.end.astimezone(dt.UTC))
    event.add("summary", f"Appointment with {session.therapist.display_name}")
    event.add("location", session_location(session))
    detail_url = absolute_url("sessions:session_detail", session.pk)
    event.add("url", detail_url)
    event.add("description", f"Booking {session.reference}. Details and changes: {detail_url}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("class", "PRIVATE")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()
