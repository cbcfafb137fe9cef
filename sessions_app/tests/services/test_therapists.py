"""sessions_app/services/therapists.py: weekly hours, time off, booking settings and session types."""

import datetime as dt

import pytest
from django.utils import timezone

from sessions_app import selectors, services
from sessions_app.exceptions import NotAllowed, ValidationFailed
from sessions_app.models import Session, SessionType, TimeOff, WeeklyAvailability

from ..factories import SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot

pytestmark = pytest.mark.django_db

S = Session.Status
T = dt.time


@pytest.fixture
def profile():
    return TherapistProfileFactory()


@pytest.fixture
def stype(profile):
    return SessionTypeFactory(therapist=profile)


def _hours(profile, weekday):
    return list(
        WeeklyAvailability.objects.filter(therapist=profile, weekday=weekday)
        .order_by("start_time")
        .values_list("start_time", "end_time")
    )


# --- Weekly hours: services ------------------------------------------------------------------


def test_several_ranges_a_day(profile):
    result = services.weekly_hours_set(therapist=profile, weekday=0, ranges=[(T(14), T(18)), (T(8), T(12))])
    assert _hours(profile, 0) == [(T(8), T(12)), (T(14), T(18))]
    assert result.affected == ()
    services.weekly_hours_add(therapist=profile, weekday=0, start_time=T(12), end_time=T(13))
    assert _hours(profile, 0) == [(T(8), T(12)), (T(12), T(13)), (T(14), T(18))]


@pytest.mark.parametrize(
    ("ranges", "field", "message"),
    [
        ([(T(12), T(9))], "end_time", "The end time must be after the start time."),
        ([(T(9), T(9))], "end_time", "The end time must be after the start time."),
        ([(T(8), T(12)), (T(11), T(14))], "start_time", "11:00–14:00 overlaps 08:00–12:00 on Monday."),
    ],
)
def test_weekly_hours_validation_changes_nothing(profile, ranges, field, message):
    before = _hours(profile, 0)
    with pytest.raises(ValidationFailed) as exc:
        services.weekly_hours_set(therapist=profile, weekday=0, ranges=ranges)
    assert (exc.value.field, exc.value.message) == (field, message)
    assert _hours(profile, 0) == before


def test_adding_an_overlapping_range_names_the_existing_one(profile):
    with pytest.raises(ValidationFailed) as exc:
        services.weekly_hours_add(therapist=profile, weekday=2, start_time=T(17), end_time=T(19))
    assert exc.value.field == "start_time"
    assert "08:00–18:00, already set for Wednesday" in exc.value.message
    assert _hours(profile, 2) == [(T(8), T(18))]


def test_weekday_must_exist(profile):
    with pytest.raises(ValidationFailed) as exc:
        services.weekly_hours_add(therapist=profile, weekday=7, start_time=T(8), end_time=T(9))
    assert exc.value.field == "weekday"


def test_removing_hours_under_a_booking_warns_but_keeps_it(profile, stype):
    start = future_slot(days=5, hour=10)
    booked = SessionFactory(session_type=stype, confirmed=True, start=start)
    elsewhere = SessionFactory(session_type=stype, start=future_slot(days=6, hour=10))
    row = WeeklyAvailability.objects.get(therapist=profile, weekday=start.weekday())
    result = services.weekly_hours_remove(therapist=profile, hours=row)
    assert [s.pk for s in result.affected] == [booked.pk]
    booked.refresh_from_db()
    assert booked.status == S.CONFIRMED
    assert elsewhere.pk not in [s.pk for s in result.affected]
    # Re-adding only part of the day: the 10:00 booking is still outside, but not newly so.
    again = services.weekly_hours_add(therapist=profile, weekday=start.weekday(), start_time=T(12), end_time=T(18))
    assert again.affected == ()
    assert [s.pk for s in selectors.sessions_outside_availability(therapist=profile)] == [booked.pk]


def test_cannot_remove_another_therapists_hours(profile):
    other_row = WeeklyAvailability.objects.filter(therapist=TherapistProfileFactory()).first()
    with pytest.raises(NotAllowed):
        services.weekly_hours_remove(therapist=profile, hours=other_row)
    assert WeeklyAvailability.objects.filter(pk=other_row.pk).exists()


# --- Time off: services ----------------------------------------------------------------------


def test_time_off_over_a_booking_warns_but_keeps_it(profile, stype):
    start = future_slot(days=4, hour=10)
    booked = SessionFactory(session_type=stype, approved=True, start=start)
    cancelled = SessionFactory(session_type=stype, status=S.CANCELLED, start=start)
    result = services.time_off_add(
        therapist=profile, start=start - dt.timedelta(hours=2), end=start + dt.timedelta(hours=2), reason="Leave"
    )
    assert isinstance(result.obj, TimeOff)
    assert [s.pk for s in result.affected] == [booked.pk]
    assert cancelled.pk not in [s.pk for s in result.affected]
    booked.refresh_from_db()
    assert booked.status == S.APPROVED
    slots = selectors.free_slots(
        therapist=profile,
        session_type=stype,
        window_start=start - dt.timedelta(hours=2),
        window_end=start + dt.timedelta(hours=2),
    )
    assert slots == []


@pytest.mark.parametrize(
    ("start_h", "end_h", "field", "text"),
    [
        (50, 49, "end", "after the start"),
        (50, 50, "end", "after the start"),
        (-50, -49, "end", "already over"),
        (1, 24 * 400, "end", "at most a year"),
    ],
)
def test_time_off_validation(profile, start_h, end_h, field, text):
    now = timezone.now()
    with pytest.raises(ValidationFailed) as exc:
        services.time_off_add(
            therapist=profile, start=now + dt.timedelta(hours=start_h), end=now + dt.timedelta(hours=end_h)
        )
    assert exc.value.field == field
    assert text in exc.value.message
    assert not TimeOff.objects.exists()


def test_time_off_needs_zone_aware_times(profile):
    with pytest.raises(ValidationFailed) as exc:
        services.time_off_add(therapist=profile, start=dt.datetime(2030, 1, 1, 9), end=dt.datetime(2030, 1, 1, 10))
    assert exc.value.field == "start"


def test_remove_time_off_only_ones_own(profile):
    mine = services.time_off_add(
        therapist=profile, start=timezone.now() + dt.timedelta(days=1), end=timezone.now() + dt.timedelta(days=2)
    ).obj
    other = TimeOff.objects.create(
        therapist=TherapistProfileFactory(),
        start=timezone.now() + dt.timedelta(days=1),
        end=timezone.now() + dt.timedelta(days=2),
    )
    with pytest.raises(NotAllowed):
        services.time_off_remove(therapist=profile, time_off=other)
    services.time_off_remove(therapist=profile, time_off=mine)
    assert list(TimeOff.objects.values_list("pk", flat=True)) == [other.pk]


# --- Settings: service -----------------------------------------------------------------------

GOOD = {
    "buffer_minutes": 15,
    "min_notice_hours": 12,
    "max_advance_days": 30,
    "accepting_new_clients": False,
    "time_zone": "Africa/Nairobi",
}


def test_update_settings(profile):
    services.therapist_settings_update(therapist=profile, **{**GOOD, "time_zone": "Africa/Kampala"})
    profile.refresh_from_db()
    assert (profile.buffer_minutes, profile.min_notice_hours, profile.max_advance_days) == (15, 12, 30)
    assert profile.accepting_new_clients is False
    assert profile.time_zone == "Africa/Kampala"
    profile.user.refresh_from_db()
    assert profile.user.time_zone == "Africa/Kampala"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"buffer_minutes": -1}, "buffer_minutes"),
        ({"buffer_minutes": 241}, "buffer_minutes"),
        ({"min_notice_hours": 24 * 14 + 1}, "min_notice_hours"),
        ({"max_advance_days": 0}, "max_advance_days"),
        ({"max_advance_days": 366}, "max_advance_days"),
        ({"max_advance_days": 1, "min_notice_hours": 24}, "max_advance_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"buffer_minutes": "10"}, "buffer_minutes"),
    ],
)
def test_settings_validation_changes_nothing(profile, change, field):
    with pytest.raises(ValidationFailed) as exc:
        services.therapist_settings_update(therapist=profile, **{**GOOD, **change})
    assert exc.value.field == field
    profile.refresh_from_db()
    assert profile.buffer_minutes == 0
    assert profile.accepting_new_clients is True


def test_longer_buffer_lists_sessions_too_close_together(profile, stype):
    first = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=5, hour=10))
    second = SessionFactory(session_type=stype, approved=True, start=future_slot(days=5, hour=11))
    far = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=5, hour=14))
    result = services.therapist_settings_update(therapist=profile, **{**GOOD, "buffer_minutes": 30})
    assert [s.pk for s in result.affected] == [first.pk, second.pk]
    assert far.pk not in [s.pk for s in result.affected]
    assert set(Session.objects.values_list("status", flat=True)) == {S.CONFIRMED, S.APPROVED}


def test_new_time_zone_lists_sessions_now_outside_the_hours(profile, stype):
    # 17:00 in Nairobi is inside 08:00–18:00 there, but 06:00 or 07:00 in Los Angeles: before the hours.
    booked = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=5, hour=17))
    result = services.therapist_settings_update(therapist=profile, **{**GOOD, "time_zone": "America/Los_Angeles"})
    assert [s.pk for s in result.affected] == [booked.pk]
    booked.refresh_from_db()
    assert booked.status == S.CONFIRMED


# --- Session types: services -------------------------------------------------------------------


def test_create_and_edit_session_type_keeps_booked_terms(profile, stype):
    created = services.session_type_save(
        therapist=profile, name="Couples", duration_minutes=90, price_kes=5000, mode=SessionType.Mode.IN_PERSON
    ).obj
    assert (created.therapist, created.duration_minutes, created.price_kes) == (profile, 90, 5000)
    booked = SessionFactory(session_type=stype, confirmed=True)
    old_end, old_amount = booked.end, booked.amount_kes
    result = services.session_type_save(
        therapist=profile, session_type=stype, name="Individual", duration_minutes=45, price_kes=4000, mode="online"
    )
    assert [s.pk for s in result.affected] == [booked.pk]
    booked.refresh_from_db()
    assert (booked.end, booked.amount_kes) == (old_end, old_amount)
    stype.refresh_from_db()
    assert (stype.duration_minutes, stype.price_kes) == (45, 4000)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"duration_minutes": 10}, "duration_minutes"),
        ({"duration_minutes": 241}, "duration_minutes"),
        ({"price_kes": 0}, "price_kes"),
        ({"price_kes": 250_001}, "price_kes"),
        ({"mode": "telepathy"}, "mode"),
    ],
)
def test_session_type_validation(profile, change, field):
    fields = {"name": "Individual", "duration_minutes": 60, "price_kes": 3000, "mode": "online", **change}
    with pytest.raises(ValidationFailed) as exc:
        services.session_type_save(therapist=profile, **fields)
    assert exc.value.field == field
    assert not SessionType.objects.filter(therapist=profile).exists()


def test_cannot_edit_or_switch_off_another_therapists_type(profile):
    other = SessionTypeFactory()
    with pytest.raises(NotAllowed):
        services.session_type_save(
            therapist=profile, session_type=other, name="Mine", duration_minutes=60, price_kes=1, mode="online"
        )
    with pytest.raises(NotAllowed):
        services.session_type_set_active(therapist=profile, session_type=other, active=False)
    other.refresh_from_db()
    assert other.is_active and other.name != "Mine"


def test_deactivating_a_type_keeps_its_bookings(profile, stype):
    booked = SessionFactory(session_type=stype, approved=True)
    result = services.session_type_set_active(therapist=profile, session_type=stype, active=False)
    assert [s.pk for s in result.affected] == [booked.pk]
    stype.refresh_from_db()
    assert not stype.is_active
    booked.refresh_from_db()
    assert booked.status == S.APPROVED
    assert services.session_type_set_active(therapist=profile, session_type=stype, active=True).affected == ()
