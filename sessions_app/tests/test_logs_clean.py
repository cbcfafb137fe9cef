"""Issue 8, item 10: a whole booking's logs carry no phone number, no notes and no callback secret.

The flow runs through the real URLs: sign up on the page, book through the API,
approve and write a private note on the dashboard, pay through
/api/mpesa/initiate against the Daraja simulator (over HTTP), Daraja's callback
posted to the real callback URL (and a malformed one), then status polling and
the client's pages. Every log record at DEBUG is captured, the root logger and
Django's, Celery's, requests' and urllib3's loggers included, with the settings'
redaction filter switched OFF: the messages must be clean at their source, not
only after the filter has masked them.

Not captured: SQL statements (django.db.backends logs them only with DEBUG=True,
which production never runs, and they hold every column by nature).
"""

import json
import logging
import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from payments_app.daraja.simulator import DarajaSimulator, SimConfig
from sessions_app import logging as redaction
from sessions_app.models import Session, User

from .factories import SessionTypeFactory, TherapistProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "cb-LOGTEST-7c1e9a4f0b"
SIGNUP_PHONE = "+254 711 223 348"  # the +254 form, spaced as people type it
PAY_PHONE = "0722334450"  # the 07 form; ends in 0 so the simulated customer pays; Daraja echoes it as 2547…
THERAPIST_PHONE = "+254733445566"
CLIENT_NOTE = "Worried about my brother's drinking since the funeral"
PRIVATE_NOTE = "Grief after the father's death; screen for depression next time"
PASSWORD = "correct-horse-battery-42"
LOGGERS = ["", "django", "django.request", "django.server", "celery", "celery.app.trace", "requests", "urllib3"]


def phone_pattern(number: str) -> re.Pattern:
    """The nine digits after 0/254/+254, in any form (07…, 2547…, +2547…), with or without separators."""
    core = re.sub(r"\D", "", number)[-9:]
    return re.compile(r"[\s-]?".join(core))


FORBIDDEN = {
    "signup phone": phone_pattern(SIGNUP_PHONE),
    "payment phone": phone_pattern(PAY_PHONE),
    "therapist phone": phone_pattern(THERAPIST_PHONE),
    "client notes": re.compile(re.escape(CLIENT_NOTE[:30])),
    "private note": re.compile(re.escape(PRIVATE_NOTE[:30])),
    "callback secret": re.compile(re.escape(SECRET)),
}


@pytest.fixture
def raw_logs(caplog, monkeypatch):
    """All records at DEBUG, with the redaction filter (which rewrites records in place) made a no-op."""
    monkeypatch.setattr(redaction.RedactPersonalData, "filter", lambda self, record: True)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def simulator(settings):
    sim = DarajaSimulator(
        SimConfig(
            consumer_key=settings.DARAJA_CONSUMER_KEY,
            consumer_secret=settings.DARAJA_CONSUMER_SECRET,
            callbacks=False,
            pending_seconds=0,
        ),
        port=0,
    ).start()
    settings.DARAJA_BASE_URL = sim.url
    settings.MPESA_CALLBACK_SECRET = SECRET
    yield sim
    sim.stop()


def record_texts(records) -> list[str]:
    formatter = logging.Formatter()
    texts = []
    for record in records:
        parts = [record.name, record.getMessage()]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        texts.append("\n".join(parts))
    return texts


def test_a_whole_booking_and_payment_logs_no_phone_notes_or_secret(raw_logs, simulator):
    therapist = TherapistProfileFactory(user__phone=THERAPIST_PHONE)
    session_type = SessionTypeFactory(therapist=therapist, price_kes=2500)
    web, api, practitioner, daraja = Client(), Client(), Client(), Client(REMOTE_ADDR="196.201.214.200")

    # Sign up on the page.
    response = web.post(
        reverse("sessions:signup"),
        {
            "full_name": "Achieng Otieno",
            "email": "achieng@example.com",
            "phone": SIGNUP_PHONE,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "time_zone": "Africa/Nairobi",
            "consent": "on",
        },
    )
    assert response.status_code == 302, response.content
    client_user = User.objects.get(email="achieng@example.com")
    # Confirm the email with the link it was sent (issue 18: no booking before).
    from sessions_app.services.signin import email_verification_token

    link = reverse("sessions:verify_email", args=[email_verification_token(client_user)])
    assert web.get(link).status_code == 200
    wrong = Client().post(reverse("sessions:login"), {"username": client_user.email, "password": "wrong"})
    assert wrong.status_code == 200

    # Book through the API.
    token = api.post(
        "/api/auth/token", {"email": client_user.email, "password": PASSWORD}, content_type="application/json"
    ).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    slots = api.get(f"/api/therapists/{therapist.pk}/slots", {"session_type": session_type.pk}).json()["slots"]
    booked = api.post(
        "/api/sessions/request",
        {"therapist": therapist.pk, "session_type": session_type.pk, "start": slots[0], "notes": CLIENT_NOTE},
        content_type="application/json",
        **auth,
    )
    assert booked.status_code == 201, booked.content
    session_id = booked.json()["id"]

    # The therapist reads it, approves it and keeps a private note.
    practitioner.force_login(therapist.user)
    assert practitioner.get(reverse("sessions:dashboard_session", args=[session_id])).status_code == 200
    practitioner.post(reverse("sessions:dashboard_session_approve", args=[session_id]))
    practitioner.post(reverse("sessions:dashboard_note_add", args=[session_id]), {"body": PRIVATE_NOTE})
    assert Session.objects.get(pk=session_id).status == Session.Status.APPROVED

    # Pay: the STK Push, Daraja's callback to the real URL (and a malformed one), then status polling.
    paying = api.post(
        "/api/mpesa/initiate", {"session": session_id, "phone": PAY_PHONE}, content_type="application/json", **auth
    )
    assert paying.status_code == 201, paying.content
    checkout = paying.json()["checkout_request_id"]
    txn = simulator.transactions[checkout]
    txn.created -= 10**6  # the customer has entered the PIN
    callback_url = f"/api/pay/cb/{SECRET}/"
    assert daraja.post(callback_url, "{not json", content_type="application/json").status_code == 400
    assert daraja.post(f"/api/mpesa/callback/{SECRET}/", [], content_type="application/json").status_code == 400
    accepted = daraja.post(callback_url, json.dumps(simulator.callback_body(txn)), content_type="application/json")
    assert accepted.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    status = api.get(f"/api/mpesa/status/{checkout}", **auth).json()
    assert status["status"] == "succeeded"
    web.get(reverse("payments:pay", args=[session_id]))
    web.get(reverse("sessions:session_detail", args=[session_id]))
    assert web.get(reverse("sessions:session_detail", args=[session_id + 1000])).status_code == 404
    session = Session.objects.get(pk=session_id)
    assert (session.status, session.payment_status) == (Session.Status.CONFIRMED, Session.PaymentStatus.PAID)

    # factory_boy logs the test's own data set-up (the therapist's phone among it): not the product's logs.
    texts = record_texts(r for r in raw_logs.records if not r.name.startswith("factory"))
    leaks = {what: [t for t in texts if pattern.search(t)] for what, pattern in FORBIDDEN.items()}
    loggers = sorted({r.name for r in raw_logs.records})
    print(
        f"\n[issue-8 figures] clean logs: {len(texts)} records from {len(loggers)} loggers, leaks: "
        + ", ".join(f"{what}={len(found)}" for what, found in leaks.items())
        + f"; loggers: {', '.join(loggers)}"
    )
    # The capture saw the request log, our own apps, Celery's task log and the HTTP client talking to Daraja.
    assert {"django.request", "payments_app.api", "payments_app.services", "celery.app.trace"} <= set(loggers)
    assert "urllib3.connectionpool" in loggers
    assert {what: found for what, found in leaks.items() if found} == {}
    # The filter the settings attach stays as a second line of defence.
    assert "redact" in django_settings.LOGGING["handlers"]["console"]["filters"]
