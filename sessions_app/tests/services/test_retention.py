"""Retention (issue 18 part 4): past each period the nightly job anonymises or deletes, in batches, safely twice."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications_app.models import Notification
from notifications_app.tests.factories import NotificationFactory
from payments_app.models import MpesaCallback, PaymentAttempt
from payments_app.tests.factories import MpesaCallbackFactory, PaymentAttemptFactory
from sessions_app.models import AuditEntry, Session, SessionEvent, TherapistNote
from sessions_app.services import audit_record
from sessions_app.services.retention import REDACTED_KEY, retention_apply
from sessions_app.tests.factories import SessionFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
ZERO = {
    "callbacks_redacted": 0,
    "attempt_payloads_redacted": 0,
    "notifications_anonymised": 0,
    "audit_deleted": 0,
    "requests_anonymised": 0,
    "dry_run": False,
}


def _phone_of(payload) -> object:
    items = payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    return {item["Name"]: item.get("Value") for item in items}["PhoneNumber"]


@pytest.fixture
def world(settings):
    settings.RETENTION_CALLBACK_PAYLOAD_DAYS = 90
    settings.RETENTION_NOTIFICATION_DAYS = 180
    settings.RETENTION_AUDIT_DAYS = 730
    settings.RETENTION_CLOSED_REQUEST_DAYS = 90
    now = timezone.now()
    old_callbacks = [MpesaCallbackFactory(received_at=now - 91 * DAY) for _ in range(3)]
    new_callback = MpesaCallbackFactory(received_at=now - 89 * DAY)
    old_attempt = PaymentAttemptFactory(
        initiated_at=now - 91 * DAY, callback_payload=old_callbacks[0].payload, phone="254712000111"
    )
    old_notes = [NotificationFactory(to_email="a@example.com", last_error="x") for _ in range(2)]
    Notification.objects.filter(pk__in=[n.pk for n in old_notes]).update(created_at=now - 181 * DAY)
    new_note = NotificationFactory(to_email="b@example.com")
    for days in (731, 800, 1000):
        audit_record(actor=None, action="list", model="sessions_app.user")
        AuditEntry.objects.filter(pk=AuditEntry.objects.order_by("-pk").first().pk).update(at=now - days * DAY)
    kept_audit = audit_record(actor=None, action="view", model="sessions_app.user", object_id="1")
    expired = SessionFactory(status=Session.Status.EXPIRED, client_notes="call me", mpesa_phone="254712000222")
    SessionEvent.objects.create(session=expired, action="expire", note="No answer.", source_ip="10.0.0.1")
    expired_attempt = PaymentAttemptFactory(session=expired, phone="254712000222", status=PaymentAttempt.Status.FAILED)
    declined_recent = SessionFactory(status=Session.Status.DECLINED, decline_reason="Full that week")
    confirmed_old = SessionFactory(confirmed=True, client_notes="keep: a paid session")
    Session.objects.filter(pk__in=[expired.pk, confirmed_old.pk]).update(updated_at=now - 91 * DAY)
    Session.objects.filter(pk=declined_recent.pk).update(updated_at=now - 89 * DAY)
    return {
        "old_callbacks": old_callbacks,
        "new_callback": new_callback,
        "old_attempt": old_attempt,
        "old_notes": old_notes,
        "new_note": new_note,
        "kept_audit": kept_audit,
        "expired": expired,
        "expired_attempt": expired_attempt,
        "declined_recent": declined_recent,
        "confirmed_old": confirmed_old,
    }


def _state():
    return (
        sorted(MpesaCallback.objects.values_list("pk", "payload")),
        sorted(PaymentAttempt.objects.values_list("pk", "phone", "callback_payload")),
        sorted(Notification.objects.values_list("pk", "to_email", "last_error", "status")),
        sorted(AuditEntry.objects.values_list("pk", flat=True)),
        sorted(Session.objects.values_list("pk", "client_notes", "decline_reason", "mpesa_phone")),
        sorted(SessionEvent.objects.values_list("pk", "note")),
    )


def test_the_job_clears_what_is_past_its_period_and_keeps_the_rest(world, caplog):
    with caplog.at_level(logging.INFO, logger="sessions_app.services.retention"):
        report = retention_apply()
    assert report == ZERO | {
        "callbacks_redacted": 3,
        "attempt_payloads_redacted": 1,
        "notifications_anonymised": 2,
        "audit_deleted": 3,
        "requests_anonymised": 1,
    }
    assert "retention: callbacks_redacted=3, attempt_payloads_redacted=1" in caplog.text
    for callback in world["old_callbacks"]:
        callback.refresh_from_db()
        assert _phone_of(callback.payload) is None and REDACTED_KEY in callback.payload
        items = callback.payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
        assert {i["Name"]: i.get("Value") for i in items}["MpesaReceiptNumber"]  # the receipt stays
    world["new_callback"].refresh_from_db()
    assert _phone_of(world["new_callback"].payload) is not None
    world["old_attempt"].refresh_from_db()
    assert _phone_of(world["old_attempt"].callback_payload) is None
    assert list(Notification.objects.filter(pk__in=[n.pk for n in world["old_notes"]]).values_list("to_email")) == [
        ("",),
        ("",),
    ]
    assert Notification.objects.get(pk=world["new_note"].pk).to_email == "b@example.com"
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [world["kept_audit"].pk]
    expired = Session.objects.get(pk=world["expired"].pk)
    assert (expired.client_notes, expired.mpesa_phone) == ("", "")
    assert list(expired.events.values_list("note", "source_ip")) == [("", None)]
    assert PaymentAttempt.objects.get(pk=world["expired_attempt"].pk).phone == ""
    assert Session.objects.get(pk=world["declined_recent"].pk).decline_reason == "Full that week"
    assert Session.objects.get(pk=world["confirmed_old"].pk).client_notes == "keep: a paid session"


def test_the_job_run_twice_changes_nothing_the_second_time(world):
    retention_apply()
    after_first = _state()
    assert retention_apply() == ZERO
    assert _state() == after_first


def test_small_batches_do_the_same_work(world):
    assert retention_apply(batch_size=1)["callbacks_redacted"] == 3
    assert retention_apply(batch_size=1) == ZERO


def test_a_dry_run_counts_and_changes_nothing(world):
    before = _state()
    report = retention_apply(dry_run=True)
    assert report["dry_run"] is True and report["callbacks_redacted"] == 3 and report["audit_deleted"] == 3
    assert _state() == before


def test_the_command_runs_it_by_hand_and_dry(world):
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    assert "callbacks_redacted: 3 (would change)" in out.getvalue() and "nothing changed" in out.getvalue()
    assert MpesaCallback.objects.exclude(payload__has_key=REDACTED_KEY).count() == 4
    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    assert "callbacks_redacted: 3 (changed)" in out.getvalue()
    assert MpesaCallback.objects.exclude(payload__has_key=REDACTED_KEY).count() == 1


def test_the_command_refuses_a_bad_batch_size(world):
    before = _state()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("apply_retention", "--batch-size", "0")
    assert _state() == before


def test_private_notes_on_an_expired_request_go():
    expired = SessionFactory(status=Session.Status.EXPIRED)
    TherapistNote.objects.create(session=expired, therapist=expired.therapist, body="first thoughts")
    Session.objects.filter(pk=expired.pk).update(updated_at=timezone.now() - 200 * DAY)
    assert retention_apply()["requests_anonymised"] == 1
    assert not TherapistNote.objects.filter(session=expired).exists()
