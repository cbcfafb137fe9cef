"""What every email is: a plain text and an HTML part, the product's name, and never the kind of appointment."""

import datetime as dt

import pytest

from notifications_app import services as notification_services
from notifications_app.models import Notification
from sessions_app import services as sessions
from sessions_app.tests.factories import future_slot

from .helpers import approve, fail_payment, html_of, pay, push, request_session, take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind


def test_every_email_has_a_plain_text_and_an_html_part_and_names_the_product(
    on_commit, client_user, therapist, session_type, settings
):
    settings.PRODUCT_NAME = "Tulia Test"
    request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    for message in take_outbox():
        assert message.body.strip()
        assert [mimetype for _, mimetype in message.alternatives] == ["text/html"]
        assert "Tulia Test" in message.body
        assert "Tulia Test" in html_of(message)


def test_no_subject_body_or_attachment_ever_says_therapy(on_commit, client_user, therapist, session_type, staff_user):
    """Emails show on lock screens: nothing in any of them may say what kind of appointment it is."""
    seen = []
    first = request_session(on_commit, client=client_user, therapist=therapist, session_type=session_type)
    on_commit(sessions.session_decline, session=first, actor=therapist.user, reason="Fully booked that day.")
    second = request_session(
        on_commit, client=client_user, therapist=therapist, session_type=session_type, start=future_slot(days=4)
    )
    approve(on_commit, second)
    push(on_commit, second, checkout="c1")
    fail_payment(on_commit, second, checkout="c1")
    push(on_commit, second, checkout="c2")
    pay(on_commit, second, checkout="c2")
    on_commit(sessions.session_cancel, session=second, actor=client_user, reason="Plans changed.")
    on_commit(sessions.session_mark_refunded, session=second, actor=staff_user)
    third = request_session(
        on_commit, client=client_user, therapist=therapist, session_type=session_type, start=future_slot(days=5)
    )
    on_commit(sessions.session_expire, session=third, now=third.respond_by + dt.timedelta(minutes=1))
    # The staff alert about an M-Pesa set-up problem is one of the kinds too (issue 22).
    on_commit(notification_services.notifications_staff_payment_alert, session_id=second.pk)
    seen = take_outbox()

    assert len(seen) == 16
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds == set(K) - {K.REMINDER_24H, K.REMINDER_1H}
    for message in seen:
        parts = [message.subject, message.body, html_of(message)]
        parts += [content for _, content, _ in message.attachments]
        for part in parts:
            assert "therapy" not in part.lower()
            assert "therapist" not in part.lower()
