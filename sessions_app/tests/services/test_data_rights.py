"""Data rights (issue 18 part 3): the data map is complete, the export copies it all, erasure leaves no trace.

The completeness tests walk the app registry: a model or a text column added anywhere fails them until
``sessions_app.services.data_rights.DATA_MAP`` says whether it is personal, how it is exported and how
erasure treats it. The erasure test searches every text column of every table with SQL afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session as LoginSession
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from notifications_app.models import Notification
from payments_app.daraja import StkResult
from payments_app.models import MpesaCallback, PaymentAttempt, PaymentEvent
from payments_app.services import payment_apply_result
from payments_app.tests.factories import MpesaCallbackFactory, PaymentAttemptFactory
from sessions_app.exceptions import NotAllowed, ValidationFailed
from sessions_app.models import AuditEntry, CorrectionRequest, Session, SessionEvent, TherapistNote, User
from sessions_app.services import audit_record, data_rights, session_request, therapist_note_add
from sessions_app.tests.factories import (
    ClientFactory,
    SessionFactory,
    SessionTypeFactory,
    TimeOffFactory,
    UserFactory,
    future_slot,
)

pytestmark = pytest.mark.django_db

NAME = "Wanjiru Testperson-Erasable"
EMAIL = "wanjiru.erasable@example.com"
PHONE = "+254712998877"
MSISDN = "254712998877"
LOCAL = "0712998877"
NEEDLES = (NAME, EMAIL, PHONE, MSISDN, LOCAL)


# --- The map is complete ---------------------------------------------------------------------------


def test_every_text_column_of_every_model_is_classified():
    assert data_rights.data_map_problems() == []


def test_the_check_fails_on_a_column_nobody_classified(monkeypatch):
    spec = data_rights.DATA_MAP["sessions_app.Session"]
    forgetful = dataclasses.replace(spec, personal=spec.personal - {"client_notes"})
    monkeypatch.setitem(data_rights.DATA_MAP, "sessions_app.Session", forgetful)
    assert data_rights.data_map_problems() == [
        "sessions_app.Session: classify ['client_notes'] as personal or not_personal"
    ]


def test_the_check_fails_on_a_model_missing_from_the_map(monkeypatch):
    monkeypatch.delitem(data_rights.DATA_MAP, "payments_app.MpesaCallback")
    (problem,) = data_rights.data_map_problems()
    assert problem.startswith("payments_app.MpesaCallback: not in DATA_MAP; classify [")
    assert "'payload'" in problem


def test_the_check_fails_on_personal_data_without_an_erasure_rule(monkeypatch):
    spec = data_rights.DATA_MAP["sessions_app.TimeOff"]
    monkeypatch.setitem(data_rights.DATA_MAP, "sessions_app.TimeOff", dataclasses.replace(spec, erase=""))
    assert data_rights.data_map_problems() == [
        "sessions_app.TimeOff: holds personal data (['reason']) but has no erasure rule"
    ]


def test_the_registry_walk_sees_every_app():
    labels = {m._meta.label for m in apps.get_models()}
    assert {"sessions_app.User", "payments_app.PaymentAttempt", "notifications_app.Notification"} <= labels
    assert labels - {m._meta.label for m in apps.get_models() if m._meta.proxy} <= set(data_rights.DATA_MAP) | {
        m._meta.label for m in apps.get_models() if not data_rights.classifiable_fields(m)
    }


# --- A person with something in every table --------------------------------------------------------


def _world(*, django_capture_on_commit_callbacks):
    """A client with a paid past session (callback, events, emails), a paid and a pending future booking,
    private notes, admin views, an admin search for their email, a token, a login and a correction request."""
    person = ClientFactory(email=EMAIL, full_name=NAME, phone=PHONE)
    other = ClientFactory()
    session_type = SessionTypeFactory(price_kes=3500)
    therapist = session_type.therapist

    # A past session paid through a real callback.
    past = SessionFactory(
        client=person,
        session_type=session_type,
        approved=True,
        payment_status=Session.PaymentStatus.PROCESSING,
        start=timezone.now() - dt.timedelta(days=20),
        end=timezone.now() - dt.timedelta(days=20) + dt.timedelta(hours=1),
        respond_by=timezone.now() - dt.timedelta(days=21),
        pay_by=timezone.now() + dt.timedelta(days=1),
        client_notes=f"I am {NAME}, call me on {LOCAL}.",
        mpesa_phone=MSISDN,
    )
    attempt = PaymentAttemptFactory(session=past, processing=True, phone=MSISDN, initiated_by=person)
    callback = MpesaCallbackFactory(attempt=attempt, receipt="RCPT000001")
    paid = StkResult(
        checkout_request_id=attempt.checkout_request_id,
        merchant_request_id=attempt.merchant_request_id,
        result_code="0",
        result_desc="The service request is processed successfully.",
        amount=3500,
        receipt_number="RCPT000001",
        phone=MSISDN,
        transaction_date=timezone.now() - dt.timedelta(days=20),
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment_apply_result(attempt=attempt, result=paid, source="callback", callback=callback)
    past.refresh_from_db()
    assert past.payment_status == Session.PaymentStatus.PAID
    PaymentEvent.objects.create(
        attempt=attempt, session=past, kind="initiated", source="web", source_ip="10.1.2.3", actor=person,
        message="KES 3,500 to 2547******77.", data={"phone": MSISDN},
    )  # fmt: skip
    therapist_note_add(session=past, actor=therapist.user, body=f"{NAME} talked about work.")

    # An STK callback nobody asked for, with the person's phone (unknown checkout id).
    MpesaCallbackFactory(
        attempt=None,
        checkout_request_id="ws_CO_UNKNOWN1",
        merchant_request_id="1-2-3",
        phone=MSISDN,
        receipt="RCPTX00009",
    )

    # A future paid booking (cancelled first on erasure, refund due) and a future request.
    future_paid = SessionFactory(
        client=person, session_type=session_type, confirmed=True, start=future_slot(days=5), mpesa_amount=3500
    )
    with django_capture_on_commit_callbacks(execute=True):
        pending = session_request(
            client=person,
            therapist=therapist,
            session_type=session_type,
            start=future_slot(days=6, hour=11),
            notes=f"Please call {PHONE}",
        )
    Notification.objects.filter(recipient=person).update(to_email=EMAIL, last_error=f"bounce for <{EMAIL}>")

    # Staff looked at them and searched for them; a Django admin history row; a correction request.
    staff = UserFactory(staff=True)
    audit_record(actor=staff, action="view", model="sessions_app.user", object_id=str(person.pk), path="/admin/x/")
    audit_record(actor=staff, action="view", model="sessions_app.session", object_id=str(past.pk))
    audit_record(actor=staff, action="list", model="sessions_app.user", detail=f"q={EMAIL}", path=f"/admin/?q={EMAIL}")
    LogEntry.objects.log_action(
        user_id=staff.pk,
        content_type_id=ContentType.objects.get_for_model(User).pk,
        object_id=person.pk,
        object_repr=str(person),
        action_flag=CHANGE,
        change_message=f"Changed phone of {NAME}.",
    )
    CorrectionRequest.objects.create(user=person, message=f"My name is {NAME}, not what you have.")
    Token.objects.create(user=person)
    browser = Client()
    browser.force_login(person)
    return {
        "person": person,
        "other": other,
        "therapist": therapist,
        "past": past,
        "future_paid": future_paid,
        "pending": pending,
        "attempt": attempt,
        "browser": browser,
        "staff": staff,
    }


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND data_type IN ('character varying', 'text', 'jsonb', 'json', 'inet', 'character')
            ORDER BY table_name, column_name
            """
        )
        return cursor.fetchall()


def _find_anywhere(needles) -> list[str]:
    """Every (table.column: needle) where a needle appears, by SQL over every text column of every table."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608 - names from the catalogue
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column}: {needle}")
    return hits


def _money():
    return (
        sorted(
            Session.objects.exclude(mpesa_receipt_number=None).values_list("pk", "mpesa_receipt_number", "amount_kes")
        ),
        sorted(PaymentAttempt.objects.values_list("pk", "mpesa_receipt_number", "amount", "paid_amount", "status")),
        sum(PaymentAttempt.objects.exclude(paid_amount=None).values_list("paid_amount", flat=True)),
    )


# --- Export ------------------------------------------------------------------------------------------


def test_the_export_copies_every_personal_field_of_every_model_about_the_person(django_capture_on_commit_callbacks):
    world = _world(django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    export = data_rights.user_export(user=world["person"])
    json.dumps(export)  # a file, as it is
    sections = {s["model"]: s for s in export["sections"]}
    for label, spec in data_rights.DATA_MAP.items():
        copied = spec.personal - spec.secret
        if not copied or not spec.owners:
            continue
        model = apps.get_model(label)
        about = model._default_manager.filter(data_rights._owner_q(spec, world["person"])).distinct()
        if not about.exists():
            continue
        assert label in sections, f"{label}: rows about the person, no section in the export"
        section = sections[label]
        if spec.withheld:
            assert section["count"] == about.count() and section["withheld"] == spec.withheld
            continue
        assert {row["id"] for row in section["rows"]} == set(about.values_list("pk", flat=True)), label
        for row in section["rows"]:
            assert copied <= set(row), f"{label}: the export leaves out {sorted(copied - set(row))}"
    for secret in ("password", "key", "session_data"):
        assert all(secret not in row for s in export["sections"] for row in s["rows"])
    text = json.dumps(export)
    assert world["person"].password not in text and Token.objects.get(user=world["person"]).key not in text


def test_the_export_names_what_it_holds_and_who_viewed_it(django_capture_on_commit_callbacks):
    world = _world(django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    export = data_rights.user_export(user=world["person"])
    assert export["account"]["email"] == EMAIL and export["account"]["full_name"] == NAME
    assert export["account"]["phone"] == PHONE
    sections = {s["model"]: s for s in export["sections"]}
    assert {"sessions_app.Session", "payments_app.PaymentAttempt", "payments_app.MpesaCallback"} <= set(sections)
    assert {"notifications_app.Notification", "sessions_app.CorrectionRequest"} <= set(sections)
    assert sections["sessions_app.TherapistNote"]["rows"] == [] and sections["sessions_app.TherapistNote"]["count"] == 1
    viewed = [(v["action"], v["what"]) for v in export["viewed_by"]]
    assert viewed == [("Viewed", "sessions_app.user"), ("Viewed", "sessions_app.session")]
    assert export["consents"][0]["agreed_at"] is None or "T" in export["consents"][0]["agreed_at"]
    # Nobody else's data: the other client's email is nowhere in it.
    assert world["other"].email not in json.dumps(export)


# --- Erasure -----------------------------------------------------------------------------------------


def test_after_erasure_the_person_is_nowhere_in_the_database_and_the_money_still_adds_up(
    django_capture_on_commit_callbacks,
):
    world = _world(django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    person = world["person"]
    assert len(_find_anywhere(NEEDLES)) > 10  # the search finds them before
    money_before = _money()
    other_before = User.objects.filter(pk=world["other"].pk).values_list("email", "full_name", "phone").get()

    with django_capture_on_commit_callbacks(execute=True):
        result = data_rights.user_erase(user=person)

    assert _find_anywhere(NEEDLES) == []
    assert _money() == money_before
    assert User.objects.filter(pk=world["other"].pk).values_list("email", "full_name", "phone").get() == other_before
    # Future bookings were cancelled under the policy first: the paid one is due a refund.
    assert sorted(result.cancelled) == sorted([world["future_paid"].reference, world["pending"].reference])
    world["future_paid"].refresh_from_db()
    assert world["future_paid"].status == Session.Status.CANCELLED and world["future_paid"].refund_due
    assert world["future_paid"].mpesa_receipt_number  # the receipt staff refund by
    # Logins and tokens are gone; the account cannot sign in.
    person.refresh_from_db()
    assert not person.is_active and not person.has_usable_password() and person.erased_at is not None
    assert not Token.objects.filter(user=person).exists()
    assert not [s for s in LoginSession.objects.all() if s.get_decoded().get("_auth_user_id") == str(person.pk)]
    assert world["browser"].get("/profile/").status_code == 302
    assert not TherapistNote.objects.filter(session__client=person).exists()
    # Emails still waiting to the person are not sent.
    assert not Notification.objects.filter(recipient=person, status=Notification.Status.QUEUED).exists()
    # The access record stays (who looked, when), without what named them.
    assert AuditEntry.objects.filter(model="sessions_app.user", object_id=str(person.pk)).count() == 1
    assert AuditEntry.objects.filter(model="sessions_app.user", action="list").get().detail == "q=[erased]"
    # The callback keeps amount, receipt and date; the phone goes.
    items = MpesaCallback.objects.get(attempt=world["attempt"]).payload["Body"]["stkCallback"]["CallbackMetadata"]
    values = {item["Name"]: item.get("Value") for item in items["Item"]}
    assert values["MpesaReceiptNumber"] == "RCPT000001" and values["Amount"] == 3500.0 and values["PhoneNumber"] is None


def test_erasure_twice_changes_nothing_the_second_time(django_capture_on_commit_callbacks):
    world = _world(django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        data_rights.user_erase(user=world["person"])
    snapshot = (
        list(User.objects.order_by("pk").values()),
        list(Session.objects.order_by("pk").values()),
        list(SessionEvent.objects.order_by("pk").values_list("pk", "note")),
    )
    again = data_rights.user_erase(user=world["person"])
    assert again.already and not again.cancelled and not again.changed
    assert snapshot == (
        list(User.objects.order_by("pk").values()),
        list(Session.objects.order_by("pk").values()),
        list(SessionEvent.objects.order_by("pk").values_list("pk", "note")),
    )


def test_a_therapist_with_sessions_ahead_is_refused_with_the_reason_and_nothing_changes():
    session = SessionFactory(confirmed=True, start=future_slot(days=4))
    therapist_user = session.therapist.user
    before = (therapist_user.email, therapist_user.full_name, session.therapist.bio)
    with pytest.raises(NotAllowed) as refused:
        data_rights.user_erase(user=therapist_user)
    assert session.reference in refused.value.message and "sessions ahead" in refused.value.message
    therapist_user.refresh_from_db()
    session.therapist.refresh_from_db()
    assert (therapist_user.email, therapist_user.full_name, session.therapist.bio) == before
    assert therapist_user.is_active and therapist_user.erased_at is None
    assert data_rights.user_erase_preview(user=therapist_user)["refusal"] == refused.value.message


def test_a_therapist_without_sessions_ahead_is_erased_and_leaves_the_directory(django_capture_on_commit_callbacks):
    past = SessionFactory(
        confirmed=True,
        start=timezone.now() - dt.timedelta(days=3),
        end=timezone.now() - dt.timedelta(days=3, minutes=-60),
        status=Session.Status.COMPLETED,
        meeting_link="https://meet.example.com/dr-erasable",
    )
    profile = past.therapist
    user = profile.user
    User.objects.filter(pk=user.pk).update(full_name="Dr Erasable Practitioner", email="dr.erasable@example.com")
    TimeOffFactory(therapist=profile, reason="Dr Erasable Practitioner on leave")
    therapist_note_add(session=past, actor=user, body="notes")
    user.refresh_from_db()
    receipt = past.mpesa_receipt_number
    with django_capture_on_commit_callbacks(execute=True):
        data_rights.user_erase(user=user)
    assert _find_anywhere(["Dr Erasable Practitioner", "dr.erasable@example.com", "meet.example.com/dr-erasable"]) == []
    profile.refresh_from_db()
    past.refresh_from_db()
    assert profile.from_price is None and not profile.accepting_new_clients and profile.bio == ""
    assert past.status == Session.Status.COMPLETED and past.mpesa_receipt_number == receipt  # the client's history
    assert past.client.is_active  # the client is not touched


def test_staff_cannot_delete_their_own_account_here():
    staff = UserFactory(staff=True)
    with pytest.raises(NotAllowed, match="Staff accounts"):
        data_rights.user_erase(user=staff)


def test_a_session_under_way_or_a_payment_waiting_holds_the_deletion(django_capture_on_commit_callbacks):
    person = ClientFactory()
    running = SessionFactory(
        client=person,
        status=Session.Status.IN_PROGRESS,
        start=timezone.now() - dt.timedelta(minutes=10),
        end=timezone.now() + dt.timedelta(minutes=50),
    )
    with pytest.raises(NotAllowed, match=running.reference):
        data_rights.user_erase(user=person)
    Session.objects.filter(pk=running.pk).update(status=Session.Status.COMPLETED, end=timezone.now())
    paying = SessionFactory(client=person, approved=True, payment_status=Session.PaymentStatus.PROCESSING)
    with pytest.raises(NotAllowed, match="still waiting"):
        data_rights.user_erase(user=person)
    assert Session.objects.get(pk=paying.pk).status == Session.Status.APPROVED
    person.refresh_from_db()
    assert person.is_active and person.erased_at is None


# --- Correction --------------------------------------------------------------------------------------


def test_a_correction_request_is_recorded_and_staff_are_emailed_without_the_persons_words(
    django_capture_on_commit_callbacks,
):
    person = ClientFactory(full_name=NAME)
    UserFactory(staff=True, email="staff-one@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        request = data_rights.correction_request_create(user=person, message="  My phone is wrong.  ")
    assert request.message == "My phone is wrong." and request.status == CorrectionRequest.Status.OPEN
    (email,) = mail.outbox
    assert email.to == ["staff-one@example.com"] and str(request.pk) in email.subject
    assert "phone is wrong" not in email.body and NAME not in email.body


@pytest.mark.parametrize("message", ["", "   ", "x" * 2001])
def test_a_bad_correction_request_is_refused_and_records_nothing(message):
    with pytest.raises(ValidationFailed) as refused:
        data_rights.correction_request_create(user=ClientFactory(), message=message)
    assert refused.value.field == "message"
    assert not CorrectionRequest.objects.exists()


def test_staff_answer_a_correction_request():
    request = CorrectionRequest.objects.create(user=ClientFactory(), message="wrong name")
    staff = UserFactory(staff=True)
    done = data_rights.correction_request_handle(request=request, actor=staff, status="done", staff_note="Fixed")
    assert (done.status, done.handled_by, done.staff_note) == ("done", staff, "Fixed") and done.handled_at
    with pytest.raises(NotAllowed):
        data_rights.correction_request_handle(request=request, actor=ClientFactory(), status="open")


def test_the_system_check_warns_about_an_unclassified_model(monkeypatch):
    from sessions_app.checks import data_map_is_complete

    assert data_map_is_complete(None) == []
    monkeypatch.delitem(data_rights.DATA_MAP, "sessions_app.TimeOff")
    (warning,) = data_map_is_complete(None)
    assert warning.id == "booking.W101" and warning.msg.startswith("sessions_app.TimeOff: not in DATA_MAP")
