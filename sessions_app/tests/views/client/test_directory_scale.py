"""The directory at any number of therapists: same queries at 5 and 50, and a "from" price kept true without MIN()."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from sessions_app.models import SessionType, TherapistProfile
from sessions_app.services import therapists as therapist_services

from ...factories import SessionTypeFactory, TherapistProfileFactory
from ...querycount import assert_flat

pytestmark = pytest.mark.django_db

URL = reverse("sessions:directory")


def _add(n):
    for i in range(n):
        profile = TherapistProfileFactory(user__full_name=f"Therapist {TherapistProfile.objects.count():03d}")
        SessionTypeFactory(therapist=profile, price_kes=2000 + i, mode=SessionType.Mode.ONLINE)
        SessionTypeFactory(therapist=profile, price_kes=1500 + i, mode=SessionType.Mode.IN_PERSON, is_active=False)


@pytest.mark.parametrize(
    "params",
    [{}, {"mode": "online", "min_price": "1000"}, {"specialty": "Anxiety"}, {"page": "last"}],
    ids=["first", "filtered", "specialty", "deep"],
)
def test_directory_is_flat(client, params):
    def page():
        cache.clear()  # the filter options' cache: measured as a miss both times
        query = dict(params)
        if query.get("page") == "last":
            query["page"] = "5"  # the last page at 50 therapists (10 a page); page 1 at 5
        response = client.get(URL, query)
        assert response.status_code == 200
        page.response = response

    sqls = assert_flat(_add, page)
    assert not any(re.search(r"\bMIN\(", q, re.I) for q in sqls)
    listed = page.response.context["page"].object_list
    assert listed and all(t.from_price is not None for t in listed)


def test_from_price_follows_every_change_of_the_types(client):
    profile = TherapistProfileFactory(user__full_name="Wanjiru Kamau")
    assert profile.from_price is None
    assert "Wanjiru Kamau" not in client.get(URL).content.decode()  # no active type: not listed

    first = therapist_services.session_type_save(
        therapist=profile, name="Individual", duration_minutes=60, price_kes=3000, mode="online"
    ).obj
    html = client.get(URL).content.decode()
    assert "Wanjiru Kamau" in html and "from KES 3,000" in html

    cheap = therapist_services.session_type_save(
        therapist=profile, name="Short", duration_minutes=30, price_kes=1200, mode="online"
    ).obj
    assert "from KES 1,200" in client.get(URL).content.decode()

    therapist_services.session_type_set_active(therapist=profile, session_type=cheap, active=False)
    assert "from KES 3,000" in client.get(URL).content.decode()

    therapist_services.session_type_save(
        therapist=profile, session_type=first, name="Individual", duration_minutes=60, price_kes=2500, mode="online"
    )
    assert "from KES 2,500" in client.get(URL).content.decode()

    therapist_services.session_type_set_active(therapist=profile, session_type=first, active=False)
    profile.refresh_from_db()
    assert profile.from_price is None
    assert "Wanjiru Kamau" not in client.get(URL).content.decode()

    # Edits outside the services (the admin's inline, a shell) go through SessionType.save() too.
    cheap.is_active = True
    cheap.save()
    profile.refresh_from_db()
    assert profile.from_price == 1200
    cheap.delete()
    profile.refresh_from_db()
    assert profile.from_price is None
