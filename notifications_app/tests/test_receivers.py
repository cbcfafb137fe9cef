"""The provider's tracking webhook (through anymail) records delivery on the email's log row."""

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.urls import reverse
from django.utils import timezone

from notifications_app.models import Notification

pytestmark = pytest.mark.django_db


def track(message_id, event_type, timestamp):
    event = AnymailTrackingEvent(event_type=event_type, message_id=message_id, timestamp=timestamp)
    tracking.send(sender=object, event=event, esp_name="Test")


def test_tracking_events_update_the_delivery_status_in_order(sent_notification):
    now = timezone.now()
    message_id = sent_notification.provider_message_id

    track(message_id, "delivered", now)
    sent_notification.refresh_from_db()
    assert sent_notification.delivery_status == "delivered"
    assert sent_notification.status == Notification.Status.SENT

    track(message_id, "deferred", now - dt.timedelta(minutes=1))  # late, older event: ignored
    sent_notification.refresh_from_db()
    assert sent_notification.delivery_status == "delivered"

    track(message_id, "bounced", now + dt.timedelta(minutes=1))
    sent_notification.refresh_from_db()
    assert sent_notification.delivery_status == "bounced"
    assert sent_notification.delivery_updated_at == now + dt.timedelta(minutes=1)


def test_tracking_for_an_unknown_message_changes_nothing(sent_notification):
    track("not-ours", "bounced", timezone.now())
    sent_notification.refresh_from_db()
    assert sent_notification.delivery_status == ""


MAILGUN_ID = "<20261126101500.1.ABCDEF@mg.example.com>"


def mailgun_body(event: str, message_id: str, *, key: str = "mailgun-signing-key", **extra) -> str:
    timestamp, token = str(int(timezone.now().timestamp())), "a" * 50
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    event_data = {
        "event": event,
        "timestamp": timezone.now().timestamp(),
        "id": "evt-1",
        "recipient": "someone@example.com",
        "message": {"headers": {"message-id": message_id.strip("<>")}},
        **extra,
    }
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}
    )


@pytest.fixture
def mailgun_sent(sent_notification, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook-user:hook-pass", "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key"}
    Notification.objects.filter(pk=sent_notification.pk).update(provider_message_id=MAILGUN_ID)
    sent_notification.refresh_from_db()
    return sent_notification


AUTH = "Basic " + base64.b64encode(b"hook-user:hook-pass").decode()


def test_the_mailgun_webhook_url_reaches_the_log(mailgun_sent, client):
    url = reverse("notifications:anymail:mailgun_tracking_webhook")
    assert url == "/anymail/mailgun/tracking/"
    body = mailgun_body(
        "failed",
        MAILGUN_ID,
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist.", "description": ""}},
    )

    response = client.post(url, data=body, content_type="application/json", HTTP_AUTHORIZATION=AUTH)

    assert response.status_code == 200
    mailgun_sent.refresh_from_db()
    assert mailgun_sent.delivery_status == "bounced"
    assert "does not exist" in mailgun_sent.delivery_detail
    assert mailgun_sent.status == Notification.Status.SENT


def test_the_webhook_refuses_a_caller_without_the_secret(mailgun_sent, client):
    url = reverse("notifications:anymail:mailgun_tracking_webhook")

    no_auth = client.post(url, data=mailgun_body("delivered", MAILGUN_ID), content_type="application/json")
    bad_signature = client.post(
        url,
        data=mailgun_body("delivered", MAILGUN_ID, key="wrong-key"),
        content_type="application/json",
        HTTP_AUTHORIZATION=AUTH,
    )

    assert no_auth.status_code in (400, 401, 403)
    assert bad_signature.status_code in (400, 401, 403)
    mailgun_sent.refresh_from_db()
    assert mailgun_sent.delivery_status == ""
