"""The therapist directory and a therapist's page."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import SessionType

from ...factories import ClientFactory, SessionTypeFactory, TherapistProfileFactory, TimeOffFactory

pytestmark = pytest.mark.django_db

URL = reverse("sessions:directory")


def _names(response) -> list[str]:
    return [t.user.full_name for t in response.context["page"].object_list]


def _therapist(name, **kwargs):
    types = kwargs.pop("types", [(3000, SessionType.Mode.ONLINE)])
    profile = TherapistProfileFactory(user__full_name=name, **kwargs)
    for price, mode in types:
        SessionTypeFactory(therapist=profile, price_kes=price, mode=mode)
    return profile


def test_empty_directory_says_so(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert "No therapist matches" in response.content.decode()


def test_card_shows_name_title_specialties_languages_and_lowest_price(client):
    _therapist(
        "Achieng Otieno",
        title="Clinical Psychologist",
        specialties="Anxiety, Grief",
        languages="English, Dholuo",
        types=[(4500, SessionType.Mode.IN_PERSON), (3500, SessionType.Mode.ONLINE)],
    )
    html = client.get(URL).content.decode()
    assert "Achieng Otieno" in html
    assert "Clinical Psychologist" in html
    assert "Anxiety, Grief" in html
    assert "English, Dholuo" in html
    assert "from KES 3,500" in html


def test_therapists_without_active_types_or_not_accepting_are_left_out(client):
    _therapist("Shown")
    TherapistProfileFactory(user__full_name="No Types")
    _therapist("Full Up", accepting_new_clients=False)
    assert _names(client.get(URL)) == ["Shown"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"specialty": "Couples"}, ["Brian"]),
        ({"language": "French"}, ["Grace"]),
        ({"min_price": "5000"}, ["Brian"]),
        ({"max_price": "2000"}, ["Grace"]),
        ({"min_price": "2000", "max_price": "3500"}, ["Amina"]),
        ({"mode": "in_person"}, ["Brian"]),
        ({"mode": "online"}, ["Amina", "Grace"]),
        ({"available_this_week": "on"}, ["Amina", "Brian"]),
    ],
)
def test_filters(client, query, expected):
    _therapist("Amina", specialties="Anxiety", languages="English", types=[(3000, "online")])
    _therapist("Brian", specialties="Couples, Family", languages="Kiswahili", types=[(6000, "in_person")])
    grace = _therapist("Grace", specialties="Trauma", languages="French", types=[(1500, "online")])
    TimeOffFactory(
        therapist=grace, start=timezone.now() - dt.timedelta(hours=1), end=timezone.now() + dt.timedelta(days=9)
    )
    response = client.get(URL, query)
    assert response.status_code == 200
    assert _names(response) == expected
    assert "Clear filters" in response.content.decode()


def test_filter_options_come_from_the_therapists(client):
    _therapist("Amina", specialties="Anxiety, Grief", languages="English, Kiswahili")
    html = client.get(URL).content.decode()
    for option in ("Anxiety", "Grief", "English", "Kiswahili"):
        assert f'<option value="{option}">{option}</option>' in html


def test_a_price_range_upside_down_shows_an_error_next_to_the_field(client):
    _therapist("Amina")
    response = client.get(URL, {"min_price": "5000", "max_price": "1000"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="id_max_price_error">.*at least the lowest price', html)
    assert re.search(
        r'<input[^>]*aria-invalid="true"[^>]*id="id_max_price"|<input[^>]*id="id_max_price"[^>]*aria-invalid="true"',
        html,
    )
    assert _names(response) == ["Amina"]  # the bad range is not applied


@pytest.mark.parametrize(
    "query, field",
    [
        ({"min_price": "cheap"}, "min_price"),
        ({"max_price": "-5"}, "max_price"),
        ({"specialty": "Nope"}, "specialty"),
        ({"mode": "teleport"}, "mode"),
    ],
)
def test_bad_filter_values_are_errors_not_500s(client, query, field):
    _therapist("Amina")
    response = client.get(URL, query)
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode()


def test_pagination_keeps_the_filters(client):
    for n in range(12):
        _therapist(f"Therapist {n:02d}", languages="English")
    response = client.get(URL, {"language": "English"})
    assert len(_names(response)) == 10
    html = response.content.decode()
    assert "Page 1 of 2" in html
    next_link = re.search(r'href="\?([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert parse_qs(next_link) == {"language": ["English"], "page": ["2"]}
    response = client.get(URL + "?" + next_link)
    assert _names(response) == ["Therapist 10", "Therapist 11"]
    assert client.get(URL, {"page": "99"}).status_code == 200
    assert client.get(URL, {"page": "x"}).status_code == 200


@pytest.mark.parametrize("count", [5, 25])
def test_directory_query_count_does_not_grow_with_therapists(client, django_assert_max_num_queries, count):
    for n in range(count):
        _therapist(f"T{n:02d}", types=[(3000, "online"), (4000, "in_person")])
    client.force_login(ClientFactory())
    with django_assert_max_num_queries(6):
        response = client.get(URL, {"available_this_week": "on", "min_price": "100"})
    assert response.status_code == 200


def test_the_filter_lists_are_read_once_then_again_when_a_profile_changes(client, django_assert_num_queries):
    from sessions_app import selectors

    TherapistProfileFactory(specialties="Anxiety, Grief", languages="English")
    first = selectors.directory_filter_options()
    assert first == {"specialties": ["Anxiety", "Grief"], "languages": ["English"]}
    with django_assert_num_queries(0):
        assert selectors.directory_filter_options() == first
    TherapistProfileFactory(specialties="Couples", languages="Kiswahili")  # bumps the directory's version
    assert selectors.directory_filter_options()["specialties"] == ["Anxiety", "Couples", "Grief"]


# --- Therapist page -----------------------------------------------------------------------


def test_therapist_page_shows_bio_types_and_bookable_slots(client):
    therapist = _therapist("Amina Odhiambo", bio="Warm and practical.", specialties="Anxiety", languages="English")
    SessionTypeFactory(therapist=therapist, name="Short check-in", duration_minutes=30, price_kes=1500)
    SessionTypeFactory(therapist=therapist, name="Retired", is_active=False)
    response = client.get(reverse("sessions:therapist_detail", args=[therapist.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Warm and practical." in html and "Anxiety" in html and "English" in html
    assert "Short check-in" in html and "30 min" in html and "KES 1,500" in html and "Online" in html
    assert "Retired" not in html
    links = re.findall(r'href="(/book/\?therapist=[^"]+start=[^"]+)"', html)
    assert len(links) == 12  # six next free times for each of the two types
    query = parse_qs(urlparse(links[0].replace("&amp;", "&")).query)
    start = dt.datetime.fromisoformat(query["start"][0])
    assert start > timezone.now() + dt.timedelta(hours=therapist.min_notice_hours - 1)


def test_therapist_page_shows_times_in_the_viewers_zone(client):
    therapist = _therapist("Amina", types=[])
    SessionTypeFactory(therapist=therapist)
    therapist.weekly_hours.all().delete()
    therapist.weekly_hours.create(weekday=0, start_time=dt.time(9), end_time=dt.time(10))
    viewer = ClientFactory(time_zone="Europe/London")
    client.force_login(viewer)
    html = client.get(reverse("sessions:therapist_detail", args=[therapist.pk])).content.decode()
    # 09:00 in Nairobi is 06:00 (winter) or 07:00 (summer) in London.
    slot = re.search(r"Book \w{3} \d+ \w{3}, (\d\d:\d\d)", html).group(1)
    assert slot in {"06:00", "07:00"}
    assert "Europe/London" in html


def test_therapist_page_without_free_times(client):
    therapist = _therapist("Amina")
    therapist.weekly_hours.all().delete()
    html = client.get(reverse("sessions:therapist_detail", args=[therapist.pk])).content.decode()
    assert "No free times in the next two weeks." in html


def test_therapist_page_404s(client):
    inactive = _therapist("Gone")
    inactive.user.is_active = False
    inactive.user.save()
    assert client.get(reverse("sessions:therapist_detail", args=[inactive.pk])).status_code == 404
    assert client.get(reverse("sessions:therapist_detail", args=[999999])).status_code == 404


def test_therapist_page_query_count_is_bounded(client, django_assert_max_num_queries):
    therapist = _therapist("Amina", types=[(3000, "online"), (4000, "in_person")])
    with django_assert_max_num_queries(2 + 3 * 2):
        assert client.get(reverse("sessions:therapist_detail", args=[therapist.pk])).status_code == 200
