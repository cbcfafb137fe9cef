"""The therapist's dashboard home, its "see all" lists and the week view."""

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import Session
from sessions_app.views.dashboard.common import time_left

from ...factories import (
    ClientFactory,
    SessionFactory,
    SessionTypeFactory,
    TherapistProfileFactory,
    UserFactory,
    future_slot,
)

pytestmark = pytest.mark.django_db

S = Session.Status
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


@pytest.fixture
def profile():
    return TherapistProfileFactory(user__full_name="Wanjiru Therapist")


@pytest.fixture
def stype(profile):
    return SessionTypeFactory(therapist=profile)


@pytest.fixture
def logged_in(client, profile):
    client.force_login(profile.user)
    return client


def _sessions(stype, count, *, start_day=2, **kwargs):
    """`count` sessions an hour apart, spread over days so they never overlap."""
    return [
        SessionFactory(session_type=stype, start=future_slot(days=start_day + i // 8, hour=8 + i % 8), **kwargs)
        for i in range(count)
    ]


def _query_count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- Who may come in -----------------------------------------------------------------------

DASHBOARD_PAGES = ["sessions:dashboard", "sessions:dashboard_sessions", "sessions:dashboard_week"]


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_anonymous_is_sent_to_log_in(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sessions:login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_a_client_is_refused_with_a_clear_page(client, name):
    client.force_login(ClientFactory())
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert "for therapists only" in response.content.decode()


def test_staff_without_a_therapist_profile_is_refused(client):
    client.force_login(UserFactory(staff=True))
    assert client.get(reverse("sessions:dashboard")).status_code == 403


def test_home_sends_a_therapist_to_the_dashboard(logged_in):
    response = logged_in.get(reverse("sessions:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:dashboard")


def test_nav_links_straight_to_the_dashboard(logged_in):
    html = logged_in.get(reverse("sessions:dashboard")).content.decode()
    assert f'<a href="{reverse("sessions:dashboard")}">Dashboard</a>' in html


# --- Home ------------------------------------------------------------------------------------


def test_pending_requests_come_first_oldest_first_with_time_left(logged_in, stype):
    now = timezone.now()
    newer = SessionFactory(session_type=stype, start=future_slot(days=4), client__full_name="Newer Client")
    older = SessionFactory(session_type=stype, start=future_slot(days=5), client__full_name="Older Client")
    Session.objects.filter(pk=older.pk).update(created_at=now - dt.timedelta(hours=3))
    Session.objects.filter(pk=newer.pk).update(respond_by=now + dt.timedelta(hours=5, minutes=12, seconds=30))
    html = logged_in.get(reverse("sessions:dashboard")).content.decode()
    pending_part = html[html.index("Requests waiting") : html.index('id="today-h"')]
    assert pending_part.index("Older Client") < pending_part.index("Newer Client")
    assert "Expires in 5 h 12 min" in pending_part
    local_deadline = timezone.localtime(now + dt.timedelta(hours=5, minutes=12, seconds=30), NAIROBI)
    assert f"{local_deadline:%H:%M} EAT" in pending_part
    assert html.index("Requests waiting") < html.index('id="today-h"') < html.index('id="unpaid-h"')
    assert reverse("sessions:dashboard_session_approve", args=[older.pk]) in pending_part
    assert reverse("sessions:dashboard_session_decline", args=[older.pk]) in pending_part


def test_overdue_request_says_it_expires_shortly(logged_in, stype):
    SessionFactory(session_type=stype, respond_by=timezone.now() - dt.timedelta(minutes=5))
    html = logged_in.get(reverse("sessions:dashboard")).content.decode()
    assert "Past its answer deadline" in html


def test_sections_and_counts(logged_in, stype, profile):
    now = timezone.now()
    today_local = now.astimezone(NAIROBI)
    SessionFactory(session_type=stype)  # pending
    confirmed = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=2, hour=9))
    unpaid = SessionFactory(session_type=stype, approved=True, start=future_slot(days=6, hour=9))
    later = SessionFactory(session_type=stype, confirmed=True, start=future_slot(days=20, hour=9))
    done_start = now - dt.timedelta(hours=3)
    completed = SessionFactory(session_type=stype, status=S.COMPLETED, start=done_start)
    overdue = SessionFactory(session_type=stype, confirmed=True, start=now - dt.timedelta(days=3))
    response = logged_in.get(reverse("sessions:dashboard"))
    counts = response.context["counts"]
    assert counts["pending"] == 1
    assert counts["upcoming_week"] == 2  # confirmed in 2 days + approved in 6 days; not the one in 20
    assert counts["unpaid"] == 1
    expected_completed = 1 if done_start.astimezone(NAIROBI).month == today_local.month else 0
    assert counts["completed_month"] == expected_completed
    assert [s.pk for s in response.context["unpaid"]] == [unpaid.pk]
    assert [s.pk for s in response.context["coming"]] == [confirmed.pk, unpaid.pk, later.pk]
    assert [s.pk for s in response.context["attention"]] == [overdue.pk]
    html = response.content.decode()
    assert "Client to pay by" in html
    assert completed.pk not in [s.pk for s in response.context["coming"] + response.context["today"]]


def test_today_lists_the_rest_of_todays_sessions(logged_in, stype):
    now = timezone.now()
    soon = SessionFactory(session_type=stype, confirmed=True, start=now + dt.timedelta(minutes=5))
    response = logged_in.get(reverse("sessions:dashboard"))
    if soon.start.astimezone(NAIROBI).date() == now.astimezone(NAIROBI).date():
        assert [s.pk for s in response.context["today"]] == [soon.pk]
    else:  # run just before local midnight: it belongs to tomorrow
        assert [s.pk for s in response.context["coming"]] == [soon.pk]


def test_another_therapists_sessions_never_show(logged_in, stype):
    other = SessionTypeFactory()
    SessionFactory(session_type=other, client__full_name="Someone Elses Client")
    SessionFactory(session_type=other, confirmed=True, start=future_slot(days=4))
    response = logged_in.get(reverse("sessions:dashboard"))
    assert "Someone Elses Client" not in response.content.decode()
    assert response.context["counts"]["pending"] == 0
    assert response.context["counts"]["upcoming_week"] == 0


def test_home_lists_are_limited_with_see_all_links(logged_in, stype):
    _sessions(stype, 12)
    response = logged_in.get(reverse("sessions:dashboard"))
    assert len(response.context["pending"]) == 10
    assert "See all 12 requests" in response.content.decode()


def test_home_query_count_does_not_grow_with_sessions(logged_in, stype, django_assert_max_num_queries):
    _sessions(stype, 2)
    _sessions(stype, 2, start_day=10, status=S.CONFIRMED)
    _sessions(stype, 1, start_day=20, status=S.APPROVED, pay_by=timezone.now() + dt.timedelta(hours=5))
    url = reverse("sessions:dashboard")
    few = _query_count(logged_in, url)
    _sessions(stype, 10, start_day=30)
    _sessions(stype, 8, start_day=40, status=S.CONFIRMED)
    _sessions(stype, 2, start_day=50, status=S.APPROVED, pay_by=timezone.now() + dt.timedelta(hours=5))
    assert Session.objects.count() == 25
    many = _query_count(logged_in, url)
    assert few == many
    with django_assert_max_num_queries(7):
        logged_in.get(url)


def test_time_left_wording():
    assert time_left(dt.timedelta(hours=5, minutes=12, seconds=59)) == "5 h 12 min"
    assert time_left(dt.timedelta(days=1, hours=3)) == "1 d 3 h"
    assert time_left(dt.timedelta(minutes=7)) == "7 min"
    assert time_left(dt.timedelta(hours=2)) == "2 h"
    assert time_left(dt.timedelta(seconds=20)) == "less than a minute"
    assert time_left(dt.timedelta(seconds=-1)) == ""


def test_times_are_shown_in_the_therapists_zone(client):
    profile = TherapistProfileFactory(time_zone="America/New_York", user__time_zone="America/New_York")
    stype = SessionTypeFactory(therapist=profile)
    start = future_slot(days=3, hour=10, tz="America/New_York")
    SessionFactory(session_type=stype, start=start)
    client.force_login(profile.user)
    html = client.get(reverse("sessions:dashboard")).content.decode()
    assert f"{start:%H:%M}–" in html
    assert "America/New_York" in html


# --- See-all lists -------------------------------------------------------------------------


@pytest.mark.parametrize("show", ["pending", "upcoming", "unpaid", "attention", "past", "all"])
def test_list_pages_load_with_a_constant_number_of_queries(logged_in, stype, show):
    url = reverse("sessions:dashboard_sessions") + f"?show={show}"
    _sessions(stype, 2)
    _sessions(stype, 2, start_day=10, status=S.APPROVED, pay_by=timezone.now() + dt.timedelta(hours=5))
    few = _query_count(logged_in, url)
    _sessions(stype, 10, start_day=20)
    _sessions(stype, 11, start_day=30, status=S.APPROVED, pay_by=timezone.now() + dt.timedelta(hours=5))
    many = _query_count(logged_in, url)
    assert few == many <= 8


def test_list_shows_the_chosen_sessions_and_paginates(logged_in, stype):
    _sessions(stype, 25)
    SessionFactory(session_type=stype, status=S.DECLINED, start=future_slot(days=40))
    response = logged_in.get(reverse("sessions:dashboard_sessions"), {"show": "pending"})
    page = response.context["page"]
    assert page.paginator.count == 25
    assert len(page.object_list) == 20
    assert all(s.status == S.PENDING_APPROVAL for s in page.object_list)
    second = logged_in.get(reverse("sessions:dashboard_sessions"), {"show": "pending", "page": 2})
    assert len(second.context["page"].object_list) == 5
    past = logged_in.get(reverse("sessions:dashboard_sessions"), {"show": "past"})
    assert [s.status for s in past.context["page"].object_list] == [S.DECLINED]


def test_list_with_unknown_filter_falls_back_to_upcoming(logged_in):
    response = logged_in.get(reverse("sessions:dashboard_sessions"), {"show": "everything'"})
    assert response.status_code == 200
    assert response.context["show"] == "upcoming"


# --- Week view -----------------------------------------------------------------------------


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def test_week_view_places_sessions_by_day_and_hour_with_status(logged_in, stype):
    start = future_slot(days=14, hour=11)
    session = SessionFactory(session_type=stype, confirmed=True, start=start, client__full_name="Akinyi Client")
    SessionFactory(session_type=stype, status=S.DECLINED, start=start + dt.timedelta(hours=2))
    response = logged_in.get(reverse("sessions:dashboard_week"), {"week": start.date().isoformat()})
    assert response.status_code == 200
    assert response.context["week_start"] == _monday(start.date())
    row = next(r for r in response.context["rows"] if r["hour"] == 11)
    cell = row["cells"][start.weekday()]
    assert [s.pk for s in cell["sessions"]] == [session.pk]
    html = response.content.decode()
    assert "status-confirmed" in html
    assert "Akinyi Client" in html
    assert "Confirmed" in html  # the status is written, not only coloured
    assert "Declined" not in html.split('<table class="week-table">')[1]
    assert '<th scope="row">11:00</th>' in html


def test_week_view_marks_today_and_navigates(logged_in):
    today = timezone.now().astimezone(NAIROBI).date()
    response = logged_in.get(reverse("sessions:dashboard_week"))
    html = response.content.decode()
    assert 'aria-current="date"' in html
    assert "Today" in html
    monday = _monday(today)
    assert f"?week={(monday - dt.timedelta(days=7)).isoformat()}" in html
    assert f"?week={(monday + dt.timedelta(days=7)).isoformat()}" in html
    later = logged_in.get(reverse("sessions:dashboard_week"), {"week": (monday + dt.timedelta(days=9)).isoformat()})
    assert later.context["week_start"] == monday + dt.timedelta(days=7)
    assert 'aria-current="date"' not in later.content.decode()


def test_week_view_ignores_a_malformed_week(logged_in):
    response = logged_in.get(reverse("sessions:dashboard_week"), {"week": "2026-13-45"})
    assert response.status_code == 200
    assert response.context["is_this_week"]


def test_week_view_widens_rows_for_early_sessions(logged_in, stype):
    start = future_slot(days=8, hour=6)
    SessionFactory(session_type=stype, confirmed=True, start=start)
    response = logged_in.get(reverse("sessions:dashboard_week"), {"week": start.date().isoformat()})
    assert response.context["rows"][0]["hour"] == 6


def test_week_view_query_count_is_constant(logged_in, stype):
    monday = _monday(timezone.now().astimezone(NAIROBI).date()) + dt.timedelta(days=14)
    url = reverse("sessions:dashboard_week") + f"?week={monday.isoformat()}"

    def book(n, offset):
        for i in range(n):
            day = monday + dt.timedelta(days=i % 7)
            start = dt.datetime.combine(day, dt.time(8 + offset + i // 7), tzinfo=NAIROBI)
            SessionFactory(session_type=stype, confirmed=True, start=start)

    book(5, 0)
    few = _query_count(logged_in, url)
    book(20, 1)
    many = _query_count(logged_in, url)
    assert few == many <= 6


# --- Every dashboard URL: anonymous -> login, client -> 403, another therapist -> 404 -------


def _every_dashboard_url(profile):
    """(method, url) for every URL of urls.dashboard, on objects that belong to ``profile``."""
    from sessions_app import services
    from sessions_app.models import IntakeQuestion, TimeOff, WeeklyAvailability
    from sessions_app.urls.dashboard import urlpatterns

    stype = SessionTypeFactory(therapist=profile)
    question = IntakeQuestion.objects.create(session_type=stype, kind="short_text", text="Q?", position=1)
    session = SessionFactory(session_type=stype)
    note = services.therapist_note_add(session=session, actor=profile.user, body="private")
    hours = WeeklyAvailability.objects.filter(therapist=profile).first()
    time_off = TimeOff.objects.create(
        therapist=profile, start=timezone.now() + dt.timedelta(days=1), end=timezone.now() + dt.timedelta(days=2)
    )
    args = {
        "dashboard_session": [session.pk],
        "dashboard_note_edit": [session.pk, note.pk],
        "dashboard_note_delete": [session.pk, note.pk],
        "dashboard_hours_remove": [hours.pk],
        "dashboard_time_off_remove": [time_off.pk],
        "dashboard_session_type_edit": [stype.pk],
        "dashboard_session_type_toggle": [stype.pk],
        "dashboard_intake": [stype.pk],
        "dashboard_intake_edit": [stype.pk, question.pk],
        "dashboard_intake_delete": [stype.pk, question.pk],
        "dashboard_intake_move": [stype.pk, question.pk],
    }
    gets = {"dashboard", "dashboard_sessions", "dashboard_week", "dashboard_session", "dashboard_availability"}
    gets |= {"dashboard_settings", "dashboard_session_types", "dashboard_session_type_edit"}
    gets |= {"dashboard_intake", "dashboard_intake_edit"}
    urls = []
    for pattern in urlpatterns:
        name = pattern.name
        needs = args.get(name, [session.pk] if "<int:pk>" in str(pattern.pattern) else [])
        urls.append(("get" if name in gets else "post", name, reverse(f"sessions:{name}", args=needs)))
    return urls


def test_every_dashboard_url_is_covered_and_guarded(client):
    owner = TherapistProfileFactory()
    urls = _every_dashboard_url(owner)
    assert len(urls) == 27
    object_urls = [u for u in urls if any(ch.isdigit() for ch in u[2])]
    assert len(object_urls) == 19

    for method, name, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("sessions:login")), name

    client.force_login(ClientFactory())
    for method, name, url in urls:
        assert getattr(client, method)(url).status_code == 403, name

    client.force_login(TherapistProfileFactory().user)
    for method, name, url in object_urls:
        assert getattr(client, method)(url).status_code == 404, name

    # Nothing of the owner's changed through any of it.
    session = Session.objects.get(therapist=owner)
    assert session.status == S.PENDING_APPROVAL
    assert session.therapist_notes.get().body == "private"
    assert owner.weekly_hours.count() == 7
    assert owner.time_off.count() == 1
    assert owner.session_types.get().is_active
    assert owner.session_types.get().intake_questions.get().text == "Q?"
