"""The calendar invite, parsed back with icalendar."""

import datetime as dt

import pytest
from icalendar import Calendar

from notifications_app.ics import session_ics, session_uid
from sessions_app.models import SessionType
from sessions_app.tests.factories import SessionFactory, SessionTypeFactory, future_slot

from .helpers import absolute

pytestmark = pytest.mark.django_db


def parse(raw: bytes):
    cal = Calendar.from_ical(raw)
    [event] = cal.walk("VEVENT")
    return cal, event


def test_invite_times_are_utc_and_match_the_session(therapist, session_type):
    start = future_slot(days=5, hour=14)  # 14:00 Nairobi = 11:00 UTC
    session = SessionFactory(session_type=session_type, start=start, confirmed=True)

    cal, event = parse(session_ics(session=session))

    assert str(cal["method"]) == "PUBLISH"
    assert str(cal["version"]) == "2.0"
    dtstart, dtend = event.decoded("dtstart"), event.decoded("dtend")
    assert dtstart.utcoffset() == dt.timedelta(0)
    assert dtstart == start
    assert (dtstart.hour, dtstart.minute) == (11, 0)
    assert dtend - dtstart == dt.timedelta(minutes=60)
    assert dtend == session.end
    text = session_ics(session=session).decode()
    assert f"DTSTART:{start.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z\r\n" in text
    assert f"DTEND:{session.end.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z\r\n" in text


def test_uid_is_stable_per_session_and_differs_between_sessions(session_type):
    one = SessionFactory(session_type=session_type, confirmed=True)
    two = SessionFactory(session_type=session_type, start=future_slot(days=6), confirmed=True)

    first, second = parse(session_ics(session=one))[1], parse(session_ics(session=one))[1]
    assert str(first["uid"]) == str(second["uid"]) == session_uid(one) == f"booking-{one.pk}@127.0.0.1"
    assert session_uid(two) != session_uid(one)
    assert str(parse(session_ics(session=one, cancelled=True))[1]["uid"]) == session_uid(one)


def test_summary_is_neutral_and_the_location_is_the_meeting_link(therapist, session_type):
    session = SessionFactory(session_type=session_type, confirmed=True, meeting_link="https://meet.example/abc")

    raw = session_ics(session=session)
    _, event = parse(raw)

    assert str(event["summary"]) == "Appointment with Wanjiru Kamau"
    assert str(event["location"]) == "https://meet.example/abc"
    assert str(event["class"]) == "PRIVATE"
    assert str(event["url"]) == absolute("sessions:session_detail", session.pk)
    assert "therap" not in raw.decode().lower()


def test_in_person_location_is_the_city(therapist):
    in_person = SessionTypeFactory(therapist=therapist, mode=SessionType.Mode.IN_PERSON)
    session = SessionFactory(session_type=in_person, confirmed=True)

    _, event = parse(session_ics(session=session))

    assert str(event["location"]) == "Nairobi"


def test_the_cancellation_replaces_the_invite(session_type):
    session = SessionFactory(session_type=session_type, confirmed=True)

    cal, event = parse(session_ics(session=session, cancelled=True))

    assert str(cal["method"]) == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert int(event["sequence"]) > int(parse(session_ics(session=session))[1]["sequence"])
