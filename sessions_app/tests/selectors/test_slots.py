import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from sessions_app.models import Session
from sessions_app.selectors import day_window, free_slots

from ..factories import SessionFactory, SessionTypeFactory, TherapistProfileFactory, TimeOffFactory, future_slot

pytestmark = pytest.mark.django_db
NBO = zoneinfo.ZoneInfo("Africa/Nairobi")


def slots_on(session_type, day_offset=3, tz=NBO):
    day = (timezone.now().astimezone(tz) + dt.timedelta(days=day_offset)).date()
    start, end = day_window(day=day, tz=tz)
    return free_slots(therapist=session_type.therapist, session_type=session_type, window_start=start, window_end=end)


def hhmm(slots, tz=NBO):
    return [s.astimezone(tz).strftime("%H:%M") for s in slots]


def test_slots_follow_weekly_hours_and_step():
    therapist = TherapistProfileFactory(hours=[(d, "09:00", "12:00") for d in range(7)])
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    assert hhmm(slots_on(st)) == ["09:00", "09:30", "10:00", "10:30", "11:00"]


def test_several_ranges_a_day():
    therapist = TherapistProfileFactory(
        hours=[(d, r[0], r[1]) for d in range(7) for r in [("14:00", "15:00"), ("09:00", "10:00")]]
    )
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    assert hhmm(slots_on(st)) == ["09:00", "14:00"]


def test_booked_session_and_buffer_block_slots():
    therapist = TherapistProfileFactory(hours=[(d, "09:00", "13:00") for d in range(7)], buffer_minutes=30)
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    SessionFactory(session_type=st, start=future_slot(hour=10), status=Session.Status.CONFIRMED)
    # 10:00-11:00 booked, widened by 30 min each side: 09:30-11:30 is busy.
    assert hhmm(slots_on(st)) == ["11:30", "12:00"]


def test_non_holding_sessions_do_not_block():
    therapist = TherapistProfileFactory(hours=[(d, "09:00", "11:00") for d in range(7)])
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    for status in (Session.Status.CANCELLED, Session.Status.DECLINED, Session.Status.EXPIRED):
        SessionFactory(session_type=st, start=future_slot(hour=9), status=status)
    assert hhmm(slots_on(st)) == ["09:00", "09:30", "10:00"]


def test_time_off_blocks_slots():
    therapist = TherapistProfileFactory(hours=[(d, "09:00", "12:00") for d in range(7)])
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    TimeOffFactory(therapist=therapist, start=future_slot(hour=9), end=future_slot(hour=11))
    assert hhmm(slots_on(st)) == ["11:00"]


def test_minimum_notice_and_furthest_date():
    therapist = TherapistProfileFactory(min_notice_hours=48, max_advance_days=5)
    st = SessionTypeFactory(therapist=therapist)
    now = timezone.now()
    slots = free_slots(therapist=therapist, session_type=st, window_start=now, window_end=now + dt.timedelta(days=30))
    assert slots
    assert min(slots) >= now + dt.timedelta(hours=48)
    assert max(slots) <= now + dt.timedelta(days=5)


def test_therapist_zone_and_client_zone():
    """Hours are the therapist's local hours; a client elsewhere sees the same instants."""
    therapist = TherapistProfileFactory(time_zone="Europe/London", hours=[(d, "09:00", "10:00") for d in range(7)])
    st = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    london = zoneinfo.ZoneInfo("Europe/London")
    slots = slots_on(st, tz=london)
    assert hhmm(slots, london) == ["09:00"]
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    assert slots[0].astimezone(tokyo).hour in (17, 18)  # 09:00 London is 17:00 or 18:00 in Tokyo
    assert slots[0].utcoffset() is not None


def test_query_count_is_constant_for_long_windows(django_assert_max_num_queries):
    therapist = TherapistProfileFactory()
    st = SessionTypeFactory(therapist=therapist)
    now = timezone.now()
    for days in (1, 60):
        with django_assert_max_num_queries(3):
            free_slots(therapist=therapist, session_type=st, window_start=now, window_end=now + dt.timedelta(days=days))
