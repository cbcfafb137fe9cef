"""My sessions: the lists, one session's page (timeline, pay, receipt) and cancelling."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app import services
from sessions_app.models import Session

from ...factories import ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory, future_slot

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")

pytestmark = pytest.mark.django_db

LIST = reverse("sessions:my_sessions")


@pytest.fixture
def me(client):
    user = ClientFactory(time_zone="Africa/Nairobi")
    client.force_login(user)
    return user


@pytest.fixture
def session_type():
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo")
    return SessionTypeFactory(therapist=therapist, price_kes=3000)


def _request(client_user, session_type, *, days=3, hour=10, notes=""):
    return services.session_request(
        client=client_user,
        therapist=session_type.therapist,
        session_type=session_type,
        start=future_slot(days=days, hour=hour),
        notes=notes,
    )


def _approve(session):
    return services.session_approve(session=session, actor=session.therapist.user)


def _pay(session, receipt="TST0000001"):
    services.session_payment_processing(
        session=session,
        actor=session.client,
        phone="254712345678",
        checkout_request_id="ws_CO_1",
        merchant_request_id="m-1",
    )
    return services.session_mark_paid(
        session=session,
        receipt_number=receipt,
        amount=session.amount_kes,
        phone="254712345678",
        checkout_request_id="ws_CO_1",
    )


def _detail(client, session):
    return client.get(reverse("sessions:session_detail", args=[session.pk]))


# --- The lists ----------------------------------------------------------------------------


def test_my_sessions_needs_login(client):
    response = client.get(LIST)
    assert response["Location"] == reverse("sessions:login") + "?next=" + LIST


def test_empty_lists_say_so(client, me):
    html = client.get(LIST).content.decode()
    assert "No upcoming sessions." in html and "Nothing here yet." in html


def test_upcoming_and_past_with_badges_and_only_my_own(client, me, session_type):
    upcoming = SessionFactory(client=me, session_type=session_type, start=future_slot(days=2), approved=True)
    declined = SessionFactory(
        client=me, session_type=session_type, start=future_slot(days=4), status=Session.Status.DECLINED
    )
    past = SessionFactory(
        client=me,
        session_type=session_type,
        start=future_slot(days=-3),
        respond_by=timezone.now(),
        status=Session.Status.COMPLETED,
        payment_status=Session.PaymentStatus.PAID,
    )
    someone_else = SessionFactory(session_type=session_type, start=future_slot(days=5))
    response = client.get(LIST)
    assert list(response.context["upcoming"].object_list) == [upcoming]
    assert set(response.context["past"].object_list) == {declined, past}
    html = response.content.decode()
    assert '<span class="badge badge-approved">Approved</span>' in html
    assert '<span class="badge badge-pending">Payment: Pending</span>' in html
    assert '<span class="badge badge-declined">Declined</span>' in html
    assert '<span class="badge badge-completed">Completed</span>' in html
    assert '<span class="badge badge-paid">Payment: Paid</span>' in html
    assert reverse("sessions:session_detail", args=[someone_else.pk]) not in html


def test_lists_paginate_separately(client, me, session_type):
    for n in range(12):
        SessionFactory(client=me, session_type=session_type, start=future_slot(days=2 + n))
    response = client.get(LIST)
    assert len(response.context["upcoming"].object_list) == 10
    html = response.content.decode()
    assert 'href="?upcoming=2" rel="next"' in html
    response = client.get(LIST, {"upcoming": 2})
    assert len(response.context["upcoming"].object_list) == 2


@pytest.mark.parametrize("count", [5, 25])
def test_list_query_count_does_not_grow(client, me, session_type, django_assert_max_num_queries, count):
    for n in range(count):
        SessionFactory(client=me, session_type=session_type, start=future_slot(days=2 + n))
        SessionFactory(
            client=me, session_type=session_type, start=future_slot(days=-2 - n), status=Session.Status.EXPIRED
        )
    with django_assert_max_num_queries(8):
        assert client.get(LIST).status_code == 200


# --- One session --------------------------------------------------------------------------


def test_detail_of_another_clients_session_is_404(client, me, session_type):
    other = _request(ClientFactory(), session_type)
    assert _detail(client, other).status_code == 404
    assert client.get(reverse("sessions:session_cancel", args=[other.pk])).status_code == 404
    assert client.post(reverse("sessions:session_cancel", args=[other.pk]), {"reason": "x"}).status_code == 404
    other.refresh_from_db()
    assert other.status == Session.Status.PENDING_APPROVAL


def test_detail_needs_login(client, session_type):
    session = _request(ClientFactory(), session_type)
    url = reverse("sessions:session_detail", args=[session.pk])
    assert client.get(url)["Location"] == reverse("sessions:login") + "?next=" + url


def test_pending_detail_shows_facts_and_timeline(client, me, session_type):
    session = _request(me, session_type, notes="Mornings please.")
    response = _detail(client, session)
    assert response.status_code == 200
    html = response.content.decode()
    assert session.reference in html and "Amina Odhiambo" in html and "KES 3,000" in html
    assert "Mornings please." in html
    assert "Answer due by" in html
    assert "You asked for this session" in html
    assert "Africa/Nairobi" in html
    assert "Pay KES" not in html
    assert reverse("sessions:session_cancel", args=[session.pk]) in html


def test_approved_detail_has_the_pay_button(client, me, session_type):
    session = _approve(_request(me, session_type))
    html = _detail(client, session).content.decode()
    assert "Approved by the therapist" in html
    pay = reverse("payments:pay", args=[session.pk])
    assert re.search(rf'<a class="button" href="{pay}">Pay KES 3,000 with M-Pesa</a>', html)


def test_a_failed_payment_can_be_retried(client, me, session_type):
    session = _approve(_request(me, session_type))
    services.session_payment_processing(
        session=session, actor=me, phone="254712345678", checkout_request_id="ws_CO_9", merchant_request_id="m"
    )
    html = _detail(client, session).content.decode()
    assert "Payment in progress" in html and "Pay KES" not in html
    services.session_payment_failed(
        session=session, checkout_request_id="ws_CO_9", result_code="1032", result_desc="Request cancelled by user"
    )
    html = _detail(client, session).content.decode()
    assert "did not go through" in html and "Pay KES 3,000 with M-Pesa" in html
    assert "M-Pesa payment did not go through" in html  # the timeline


def test_paid_detail_shows_the_receipt_and_meeting_link(client, me, session_type):
    session = _pay(_approve(_request(me, session_type)), receipt="QKL7ABC123")
    services.session_meeting_link_set(
        session=session, actor=session.therapist.user, link="https://meet.example.com/abc"
    )
    html = _detail(client, session).content.decode()
    assert "Receipt" in html and "QKL7ABC123" in html and "Paid on" in html
    assert "https://meet.example.com/abc" in html
    assert "Paid with M-Pesa and confirmed" in html
    assert '<span class="badge badge-confirmed">Confirmed</span>' in html
    assert "Pay KES" not in html


def test_declined_detail_shows_the_reason_and_no_cancel(client, me, session_type):
    session = _request(me, session_type)
    services.session_decline(session=session, actor=session.therapist.user, reason="Fully booked that week, sorry.")
    html = _detail(client, session).content.decode()
    assert "Why it was declined" in html and "Fully booked that week, sorry." in html
    assert reverse("sessions:session_cancel", args=[session.pk]) not in html


def test_detail_query_count_is_bounded(client, me, session_type, django_assert_max_num_queries):
    session = _pay(_approve(_request(me, session_type)))
    with django_assert_max_num_queries(6):
        assert _detail(client, session).status_code == 200


# --- Cancelling ---------------------------------------------------------------------------


def test_cancel_page_shows_the_policy_and_consequence_first(client, me, session_type, settings):
    settings.BOOKING_FREE_CANCEL_HOURS = 24
    session = _request(me, session_type)
    response = client.get(reverse("sessions:session_cancel", args=[session.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing has been paid, so there is nothing to refund." in html
    assert "up to 24 hours before the start" in html
    assert 'for="id_reason"' in html
    session.refresh_from_db()
    assert session.status == Session.Status.PENDING_APPROVAL  # a GET changes nothing


def test_cancel_a_paid_session_late_says_no_refund(client, me, session_type, settings):
    settings.BOOKING_FREE_CANCEL_HOURS = 24
    therapist = session_type.therapist
    therapist.min_notice_hours = 1
    therapist.save()
    # The first whole hour at least 2 h away inside the factory's 08:00-18:00 Nairobi hours: always
    # less than 24 h ahead, whatever the time of day.
    start = (timezone.localtime(timezone.now(), NAIROBI) + dt.timedelta(hours=3)).replace(
        minute=0, second=0, microsecond=0
    )
    while not 8 <= start.hour <= 16:
        start += dt.timedelta(hours=1)
    assert start - timezone.now() < dt.timedelta(hours=24)
    session = services.session_request(client=me, therapist=therapist, session_type=session_type, start=start)
    session = _pay(_approve(session))
    html = client.get(reverse("sessions:session_cancel", args=[session.pk])).content.decode()
    assert "less than 24 hours before the start is not refunded" in html


def test_cancel_needs_a_reason(client, me, session_type):
    session = _request(me, session_type)
    url = reverse("sessions:session_cancel", args=[session.pk])
    for reason in ("", "   "):
        response = client.post(url, {"reason": reason})
        assert response.status_code == 200
        assert re.search(r'id="id_reason_error">.*Please give a reason', response.content.decode())
    response = client.post(url, {"reason": "x" * 1001})
    assert "at most 1000 characters" in response.content.decode()
    session.refresh_from_db()
    assert session.status == Session.Status.PENDING_APPROVAL


def test_cancel_with_a_reason(client, me, session_type):
    session = _pay(_approve(_request(me, session_type, days=5)))
    response = client.post(
        reverse("sessions:session_cancel", args=[session.pk]), {"reason": "Travelling."}, follow=True
    )
    session.refresh_from_db()
    assert session.status == Session.Status.CANCELLED
    assert session.cancel_reason == "Travelling." and session.cancelled_by == me
    assert session.refund_due is True
    html = response.content.decode()
    assert "is cancelled" in html and "refunded KES 3,000" in html
    assert "Cancelled by you: Travelling." in html
    assert session.events.filter(action="cancel", source="web").exists()


def test_cancel_when_no_longer_allowed_goes_back_with_a_message(client, me, session_type):
    session = _request(me, session_type)
    services.session_decline(session=session, actor=session.therapist.user, reason="No.")
    url = reverse("sessions:session_cancel", args=[session.pk])
    for response in (client.get(url, follow=True), client.post(url, {"reason": "x"}, follow=True)):
        assert response.redirect_chain[-1][0] == reverse("sessions:session_detail", args=[session.pk])
        assert "can no longer be cancelled" in response.content.decode()
    session.refresh_from_db()
    assert session.status == Session.Status.DECLINED


def test_cancel_after_a_confirmed_session_started_is_refused_plainly(client, me, session_type):
    session = SessionFactory(
        client=me,
        session_type=session_type,
        start=timezone.now() - dt.timedelta(minutes=10),
        confirmed=True,
    )
    response = client.post(reverse("sessions:session_cancel", args=[session.pk]), {"reason": "Late"}, follow=True)
    assert "already started" in response.content.decode()
    session.refresh_from_db()
    assert session.status == Session.Status.CONFIRMED
