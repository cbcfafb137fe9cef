"""Step 1 of the stepper at any number of therapists: a search and one page of them, never the whole list."""

import re

import pytest
from django.urls import reverse

from ...factories import ClientFactory, SessionTypeFactory, TherapistProfileFactory
from ...querycount import LARGE, SMALL, assert_flat

pytestmark = pytest.mark.django_db

BOOK = reverse("sessions:book")
PER_PAGE = 20


@pytest.fixture
def booker(client):
    client.force_login(ClientFactory())


def _therapists():
    made = []

    def add(n):
        for _ in range(n):
            i = len(made)
            therapist = TherapistProfileFactory(user__full_name=f"Therapist {i:03d}", city="Mombasa" if i == 7 else "")
            SessionTypeFactory(therapist=therapist)
            made.append(therapist)

    add.made = made
    return add


def _options(html: str) -> list[str]:
    select = html.split('<select name="therapist"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="(\d*)"', select)


def test_step_one_is_flat_and_offers_one_page(client, booker):
    add = _therapists()

    def page():
        response = client.get(BOOK)
        assert response.status_code == 200
        page.html = response.content.decode()

    assert_flat(add, page)
    options = _options(page.html)
    assert options[0] == "" and len(options) == PER_PAGE + 1  # "Choose…" and one page, of 50
    assert 'rel="next"' in page.html and "Therapist 000" in page.html and "Therapist 020" not in page.html
    assert LARGE > PER_PAGE > SMALL


def test_step_one_pages_and_searches_without_javascript(client, booker):
    add = _therapists()
    add(50)
    last = client.get(BOOK, {"page": 3}).content.decode()
    assert len(_options(last)) == 10 + 1 and "Therapist 049" in last and 'rel="next"' not in last
    assert 'href="?page=2"' in last
    found = client.get(BOOK, {"q": "therapist 04"}).content.decode()
    assert len(_options(found)) == 10 + 1
    by_city = client.get(BOOK, {"q": "mombasa"}).content.decode()
    assert _options(by_city) == ["", str(add.made[7].pk)]
    # Choosing from the page found goes on to the session types, as before.
    response = client.get(BOOK, {"therapist": add.made[7].pk, "q": "mombasa"})
    assert response["Location"] == BOOK
    assert "Individual session" in client.get(BOOK).content.decode()


def test_step_one_bad_input_is_a_page_not_an_error(client, booker):
    _therapists()(3)
    for params in ({"page": "abc"}, {"page": "0"}, {"page": "999999"}, {"q": "x" * 500}):
        response = client.get(BOOK, params)
        assert response.status_code == 200, params
    assert "at most 100 characters" in client.get(BOOK, {"q": "x" * 500}).content.decode()
    assert "No therapist taking new clients matches" in client.get(BOOK, {"q": "nobody"}).content.decode()
    # Submitting the list with nothing chosen keeps the search and says what is wrong.
    html = client.get(BOOK, {"therapist": "", "q": "therapist"}).content.decode()
    assert 'id="id_therapist_error"' in html and len(_options(html)) == 3 + 1
