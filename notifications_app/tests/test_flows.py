"""Each session change sends exactly the expected emails to exactly the expected people."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from icalendar import Calendar

from notifications_app.models import Notification
from sessions_app import services as sessions

from .helpers import (
    absolute,
    approve,
    confirmed_session,
    fail_payment,
    html_of,
    local,
    pay,
    push,
    request_session,
    take_outbox,
)

pytestmark = pytest.mark.django_db

K = Notification.Kind


def recipients(messages):
    return sorted(m.to[0] for m in messages)


def by_recipient(messages):
    return {m.to[0]: m for m in messages}


def test_request_tells_the_practitioner_with_the_answer_link_and_the_client_that_it_arrived(
    on_commit, client_user, therapist, session_type
):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)

    sent = take_outbox()
    assert recipients(sent) == sorted([client_user.email, therapist.user.email])
    to_therapist, to_client = by_recipient(sent)[therapist.user.email], by_recipient(sent)[client_user.email]

    assert to_therapist.subject == f"New booking request {session.reference}"
    answer_url = absolute("sessions:dashboard_session", session.pk)
    assert answer_url in to_therapist.body
    assert f'href="{answer_url}"' in html_of(to_therapist)
    assert "Otieno Ochieng" in to_therapist.body
    assert "work stress" not in to_therapist.body, "the client's note stays on the site, not in an inbox"
    # The practitioner's own zone, named.
    start = local(session.start, "Africa/Nairobi")
    assert f"{start:%H:%M}–" in to_therapist.body
    assert "Africa/Nairobi time" in to_therapist.body

    assert to_client.subject == f"Booking request {session.reference} received"
    assert absolute("sessions:session_detail", session.pk) in to_client.body
    client_start = local(session.start, "Europe/London")
    assert f"{client_start:%H:%M}–" in to_client.body
    assert "Europe/London time" in to_client.body
    assert "Wanjiru Kamau" in to_client.body
    assert "KES 3,000" in to_client.body

    assert set(Notification.objects.values_list("kind", "status")) == {
        (K.THERAPIST_NEW_REQUEST, "sent"),
        (K.CLIENT_REQUEST_RECEIVED, "sent"),
    }


def test_approval_gives_the_client_the_amount_the_pay_link_and_the_deadline(
    on_commit, client_user, therapist, session_type
):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    approve(on_commit, session)
    session.refresh_from_db()

    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Booking {session.reference} approved: payment due"
    pay_url = absolute("payments:pay", session.pk)
    assert pay_url in message.body
    assert f'href="{pay_url}"' in html_of(message)
    assert "KES 3,000" in message.body
    pay_by = local(session.pay_by, "Europe/London")
    assert f"{pay_by.day} {pay_by:%B %Y} at {pay_by:%H:%M} (Europe/London time)" in message.body


def test_decline_tells_the_client_the_reason(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    on_commit(
        sessions.session_decline, session=session, actor=therapist.user, reason="I am away at a conference that week."
    )

    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Booking request {session.reference} declined"
    assert "I am away at a conference that week." in message.body
    assert "I am away at a conference that week." in html_of(message)
    assert f"Choose another time: {absolute('sessions:book')}\n" in message.body


def test_a_failed_payment_is_explained_in_plain_words_with_a_link_to_try_again_each_time(
    on_commit, client_user, therapist, session_type
):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    approve(on_commit, session)
    take_outbox()

    push(on_commit, session, checkout="ws_CO_1")
    assert take_outbox() == [], "sending the STK push emails nobody"
    fail_payment(on_commit, session, checkout="ws_CO_1", desc="You cancelled the request on your phone.")

    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Payment for booking {session.reference} did not go through"
    assert "You cancelled the request on your phone." in message.body
    assert absolute("payments:pay", session.pk) in message.body

    # A second failed attempt is a new event: the client hears about it too.
    push(on_commit, session, checkout="ws_CO_2")
    fail_payment(on_commit, session, checkout="ws_CO_2", desc="Your M-Pesa balance was too low.")
    [second] = take_outbox()
    assert "Your M-Pesa balance was too low." in second.body
    assert Notification.objects.filter(kind=K.CLIENT_PAYMENT_FAILED).count() == 2


def test_payment_sends_the_client_one_receipt_with_the_calendar_invite_and_tells_the_practitioner(
    on_commit, client_user, therapist, session_type
):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    approve(on_commit, session)
    push(on_commit, session)
    take_outbox()

    pay(on_commit, session)
    session.refresh_from_db()

    sent = take_outbox()
    assert recipients(sent) == sorted([client_user.email, therapist.user.email])
    receipt, to_therapist = by_recipient(sent)[client_user.email], by_recipient(sent)[therapist.user.email]

    assert receipt.subject == f"Booking {session.reference} confirmed: your receipt"
    assert session.mpesa_receipt_number in receipt.body
    assert "KES 3,000" in receipt.body
    paid_at = local(session.payment_verified_at, "Europe/London")
    assert (
        f"Paid on: {paid_at:%A} {paid_at.day} {paid_at:%B %Y} at {paid_at:%H:%M} (Europe/London time)" in receipt.body
    )
    assert f"For: Booking {session.reference}" in receipt.body
    [(filename, content, mimetype)] = receipt.attachments
    assert filename == f"booking-{session.reference}.ics"
    assert mimetype == "text/calendar"
    event = Calendar.from_ical(content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == session.start

    assert to_therapist.subject == f"Payment received for booking {session.reference}"
    assert session.mpesa_receipt_number in to_therapist.body
    assert absolute("sessions:dashboard_session", session.pk) in to_therapist.body
    assert to_therapist.attachments == []


def test_a_duplicate_payment_confirmation_sends_nothing_more(on_commit, client_user, therapist, session_type):
    session = confirmed_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    assert (
        on_commit(
            sessions.session_mark_paid,
            session=session,
            receipt_number=session.mpesa_receipt_number,
            amount=session.amount_kes,
            phone="254712345678",
            checkout_request_id=session.mpesa_checkout_request_id,
        )
        is None
    )
    assert take_outbox() == []


def test_cancelling_a_request_tells_both_sides(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    on_commit(sessions.session_cancel, session=session, actor=client_user, reason="Found a time closer to home.")

    sent = take_outbox()
    assert recipients(sent) == sorted([client_user.email, therapist.user.email])
    to_client, to_therapist = by_recipient(sent)[client_user.email], by_recipient(sent)[therapist.user.email]
    assert to_client.subject == to_therapist.subject == f"Booking {session.reference} cancelled"
    assert "You cancelled this booking" in to_client.body
    assert "Nothing was paid" in to_client.body
    assert to_client.attachments == []
    assert "Otieno Ochieng cancelled this booking" in to_therapist.body
    assert "Found a time closer to home." in to_therapist.body
    assert absolute("sessions:dashboard_session", session.pk) in to_therapist.body


def test_cancelling_a_paid_session_promises_the_refund_and_takes_it_off_the_calendar(
    on_commit, client_user, therapist, session_type
):
    session = confirmed_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)

    on_commit(sessions.session_cancel, session=session, actor=therapist.user, reason="I am unwell.")

    sent = take_outbox()
    assert recipients(sent) == sorted([client_user.email, therapist.user.email])
    to_client = by_recipient(sent)[client_user.email]
    assert "Wanjiru Kamau cancelled this booking" in to_client.body
    assert "A refund of KES 3,000 is due" in to_client.body
    [(filename, content, _)] = to_client.attachments
    assert filename.endswith("-cancelled.ics")
    cal = Calendar.from_ical(content)
    assert str(cal["method"]) == "CANCEL"
    assert str(cal.walk("VEVENT")[0]["status"]) == "CANCELLED"
    assert "You cancelled this booking" in by_recipient(sent)[therapist.user.email].body


def test_a_late_cancellation_by_the_client_says_it_is_not_refunded(on_commit, client_user, therapist, session_type):
    session = confirmed_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    session.__class__.objects.filter(pk=session.pk).update(
        start=timezone.now() + dt.timedelta(hours=5), end=timezone.now() + dt.timedelta(hours=6)
    )

    on_commit(sessions.session_cancel, session=session, actor=client_user, reason="Something came up.")

    to_client = by_recipient(take_outbox())[client_user.email]
    assert "not refunded" in to_client.body


def test_expiry_tells_the_client_only(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    on_commit(sessions.session_expire, session=session, now=session.respond_by + dt.timedelta(minutes=1))

    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Booking {session.reference} expired"
    assert "could not answer your request in time" in message.body


def test_an_unpaid_approval_that_expires_says_so(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    approve(on_commit, session)
    session.refresh_from_db()
    take_outbox()

    on_commit(sessions.session_expire, session=session, now=session.pay_by + dt.timedelta(minutes=1))

    [message] = take_outbox()
    assert "not paid in time" in message.body


def test_running_the_session_and_setting_its_link_send_nothing(on_commit, client_user, therapist, session_type):
    session = confirmed_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    on_commit(sessions.session_meeting_link_set, session=session, actor=therapist.user, link="https://meet.example/x")
    session.__class__.objects.filter(pk=session.pk).update(
        start=timezone.now() - dt.timedelta(minutes=5), end=timezone.now() + dt.timedelta(minutes=55)
    )
    on_commit(sessions.session_start, session=session, actor=therapist.user)
    on_commit(sessions.session_complete, session=session, actor=therapist.user)
    assert take_outbox() == []


def test_a_refund_recorded_by_staff_tells_the_client(on_commit, client_user, therapist, session_type, staff_user):
    session = confirmed_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    on_commit(sessions.session_cancel, session=session, actor=therapist.user, reason="I am unwell.")
    take_outbox()

    on_commit(sessions.session_mark_refunded, session=session, actor=staff_user)

    [message] = take_outbox()
    assert message.to == [client_user.email]
    assert message.subject == f"Refund recorded for booking {session.reference}"
    assert session.mpesa_receipt_number in message.body


def test_nothing_is_sent_for_a_rolled_back_change(on_commit, client_user, therapist, session_type):
    session = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    take_outbox()

    def approve_then_fail(**kwargs):
        with transaction.atomic():
            sessions.session_approve(session=session, actor=therapist.user)
            raise RuntimeError("something after the approval failed")

    with pytest.raises(RuntimeError):
        on_commit(approve_then_fail)

    assert take_outbox() == []
    assert not Notification.objects.filter(kind=K.CLIENT_APPROVED).exists()
