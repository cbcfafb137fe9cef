"""The email log in the admin: staff only, filterable, searchable, and a Resend action."""

import pytest
from django.urls import reverse

from notifications_app.models import Notification
from sessions_app.tests.factories import ClientFactory, SessionFactory, future_slot

from .factories import NotificationFactory
from .helpers import take_outbox

pytestmark = pytest.mark.django_db

K = Notification.Kind
CHANGELIST = "admin:notifications_app_notification_changelist"


def logged(session, kind=K.CLIENT_REQUEST_RECEIVED, status=Notification.Status.SENT):
    return NotificationFactory(session=session, kind=kind, status=status)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_the_log_lists_in_a_fixed_number_of_queries(staff_client, session_type, django_assert_max_num_queries):
    for day in range(3, 8):
        session = SessionFactory(session_type=session_type, start=future_slot(days=day))
        logged(session)
        logged(session, kind=K.CLIENT_APPROVED)

    with django_assert_max_num_queries(12):
        response = staff_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert response.content.count(b"BK0") >= 10


@pytest.mark.parametrize("query", ["status=failed", "kind=client_approved", "delivery_status=bounced", "q=BK000001"])
def test_filters_and_search_answer(staff_client, query):
    response = staff_client.get(f"{reverse(CHANGELIST)}?{query}")
    assert response.status_code == 200


def test_search_by_booking_reference_finds_that_sessions_emails(staff_client, session_type):
    wanted = SessionFactory(session_type=session_type, start=future_slot(days=3))
    other = SessionFactory(session_type=session_type, start=future_slot(days=4))
    logged(wanted)
    logged(other)

    response = staff_client.get(f"{reverse(CHANGELIST)}?q={wanted.reference}")

    assert list(response.context["cl"].result_list) == list(Notification.objects.filter(session=wanted))


def test_staff_resend_a_failed_email(staff_client, django_capture_on_commit_callbacks):
    session = SessionFactory()
    notification = logged(session, status=Notification.Status.FAILED)
    Notification.objects.filter(pk=notification.pk).update(last_error="SMTPServerDisconnected: gone", attempts=6)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse(CHANGELIST), {"action": "resend", "_selected_action": [notification.pk]}, follow=True
        )

    assert response.status_code == 200
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempts == 7
    [message] = take_outbox()
    assert message.to == [session.client.email]


def test_people_who_are_not_staff_cannot_reach_the_log(client):
    client.force_login(ClientFactory())
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_log_cannot_be_added_to_or_deleted_from(staff_client):
    notification = logged(SessionFactory())
    assert staff_client.get(reverse("admin:notifications_app_notification_add")).status_code == 403
    assert (
        staff_client.get(reverse("admin:notifications_app_notification_delete", args=[notification.pk])).status_code
        == 403
    )
    assert (
        staff_client.get(reverse("admin:notifications_app_notification_change", args=[notification.pk])).status_code
        == 200
    )


def test_a_refused_resend_is_shown_as_a_message(rf, client_user):
    from django.contrib import admin
    from django.contrib.messages import get_messages
    from django.contrib.messages.storage.fallback import FallbackStorage

    notification = logged(SessionFactory(), status=Notification.Status.FAILED)
    request = rf.post(reverse(CHANGELIST))
    request.user = client_user
    request.session = {}
    request._messages = FallbackStorage(request)

    admin.site._registry[Notification].resend(request, Notification.objects.filter(pk=notification.pk))

    assert [str(m) for m in get_messages(request)] == ["Only staff can resend emails."]
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
