"""Request lists for the write scenarios: each booking a fresh slot, each callback a distinct attempt."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sessions_app.models import Session
from sessions_app.selectors import free_slots

from .seed import NAIROBI, Seeded

BOOKINGS_PER_CLIENT = 6  # the product allows 10 requests per client per day


def booking_slots(seeded: Seeded, now: dt.datetime) -> list[tuple[int, int, dt.datetime]]:
    """Every free whole hour of every directory therapist, therapists interleaved.

    Whole hours only, so that no two of these 60-minute requests overlap each other;
    interleaved, so that concurrent requests go to different therapists (a booking
    locks its therapist's row, as two clients racing for one person would).
    """
    per_therapist = []
    for therapist in seeded.directory:
        st = seeded.directory_type[therapist.pk]
        slots = free_slots(
            therapist=therapist,
            session_type=st,
            window_start=now + dt.timedelta(hours=26),
            window_end=now + dt.timedelta(days=therapist.max_advance_days - 1),
            now=now,
        )
        per_therapist.append([(therapist.pk, st.pk, s) for s in slots if s.minute == 0])
    out = []
    for group in itertools.zip_longest(*per_therapist):
        out.extend(item for item in group if item is not None)
    return out


def booking_items(slots: list[tuple[int, int, dt.datetime]], tokens: list[str]) -> list[str]:
    """One POST /api/sessions/request per slot, spread so no client passes its daily limit."""
    if len(slots) > len(tokens) * BOOKINGS_PER_CLIENT:
        raise ValueError("not enough booking clients for that many requests")
    lines = []
    for i, (therapist, session_type, start) in enumerate(slots):
        body = json.dumps(
            {
                "therapist": therapist,
                "session_type": session_type,
                "start": start.astimezone(NAIROBI).isoformat(),
                "notes": "Evenings suit me best." if i % 5 == 0 else "",
            }
        )
        lines.append(f"POST\t/api/sessions/request\t{tokens[i % len(tokens)]}\t{body}")
    return lines


# --- Payments -----------------------------------------------------------------------------


def _payment_sessions(
    seeded: Seeded, count: int, first_hour: dt.datetime, clients: list, save: bool = True
) -> list[Session]:
    """Approved sessions on the payment therapists, one per hour round the clock (they never overlap)."""
    S, P = Session.Status, Session.PaymentStatus
    now = timezone.now()
    therapists = seeded.payments
    rows = []
    for i in range(count):
        therapist = therapists[i % len(therapists)]
        st = seeded.payments_type[therapist.pk]
        start = first_hour + dt.timedelta(hours=i // len(therapists))
        rows.append(
            Session(
                client=clients[i % len(clients)],
                therapist=therapist,
                session_type=st,
                start=start,
                end=start + dt.timedelta(minutes=st.duration_minutes),
                status=S.APPROVED,
                payment_status=P.PENDING,
                amount_kes=st.price_kes,
                respond_by=now + dt.timedelta(hours=48),
                pay_by=now + dt.timedelta(hours=24),
            )
        )
    return Session.objects.bulk_create(rows) if save else rows


def phone_for(i: int) -> str:
    """A distinct 12-digit MSISDN that the simulator pays (last digit 0, 8 or 9: success)."""
    return f"2547{(i // 3) % 10**7:07d}{'089'[i % 3]}"


def callback_body(*, checkout_request_id: str, merchant_request_id: str, amount: int, phone: str, receipt: str) -> dict:
    """A success callback exactly as Daraja (and the project's simulator) posts it."""
    stamp = int(timezone.now().astimezone(NAIROBI).strftime("%Y%m%d%H%M%S"))
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": merchant_request_id,
                "CheckoutRequestID": checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": float(amount)},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": stamp},
                        {"Name": "PhoneNumber", "Value": int(phone)},
                    ]
                },
            }
        }
    }


def callback_path() -> str:
    return f"/api/mpesa/callback/{settings.MPESA_CALLBACK_SECRET}/"


def callback_lines(attempts, path: str) -> list[str]:
    lines = []
    for attempt in attempts:
        body = callback_body(
            checkout_request_id=attempt.checkout_request_id,
            merchant_request_id=attempt.merchant_request_id,
            amount=attempt.amount,
            phone=attempt.phone,
            receipt=f"B{attempt.pk:09d}"[-10:],
        )
        lines.append(f"POST\t{path}\t-\t{json.dumps(body, separators=(',', ':'))}")
    return lines


@transaction.atomic
def processing_attempts(seeded: Seeded, count: int, first_hour: dt.datetime, clients: list, offset: int) -> list:
    """Sessions already waiting for M-Pesa, with their attempt, written directly (no push).

    For the callback's HTTP figure only: no worker runs then, so nobody asks the
    simulator about these ids. The rows are what payment_initiate leaves behind.
    """
    from payments_app.models import PaymentAttempt

    now = timezone.now()
    stamp = now.astimezone(NAIROBI).strftime("%d%m%Y%H%M%S")
    sessions = _payment_sessions(seeded, count, first_hour, clients, save=False)
    for i, session in enumerate(sessions):
        session.payment_status = Session.PaymentStatus.PROCESSING
        session.payment_method = "mpesa"
        session.mpesa_phone = phone_for(offset + i)
        session.mpesa_checkout_request_id = f"ws_CO_{stamp}{offset + i:09d}"
        session.mpesa_merchant_request_id = f"{secrets.randbelow(10**5):05d}-{secrets.randbelow(10**8):08d}-1"
        session.payment_initiated_at = now
        session.payment_attempts = 1
    sessions = Session.objects.bulk_create(sessions)
    return PaymentAttempt.objects.bulk_create(
        PaymentAttempt(
            session=session,
            initiated_by=session.client,
            phone=session.mpesa_phone,
            amount=session.amount_kes,
            account_reference=session.reference[:12],
            merchant_request_id=session.mpesa_merchant_request_id,
            checkout_request_id=session.mpesa_checkout_request_id,
            status=PaymentAttempt.Status.PROCESSING,
            message="Check your phone and enter your M-Pesa PIN.",
        )
        for session in sessions
    )


def pushed_attempts(seeded: Seeded, count: int, first_hour: dt.datetime, clients: list, offset: int) -> list:
    """Approved sessions paid for through the product itself: payment_initiate sends a real STK Push to the simulator.

    So the simulator knows every checkout id and STK Query can confirm it.
    """
    from payments_app.services import payment_initiate

    sessions = _payment_sessions(seeded, count, first_hour, clients)
    attempts = []
    for i, session in enumerate(sessions):
        attempt = payment_initiate(session=session.pk, phone=phone_for(offset + i), actor=session.client, source="web")
        if attempt.status != attempt.Status.PROCESSING:
            raise RuntimeError(f"the simulator did not accept push {i}: {attempt.status} {attempt.result_desc}")
        attempts.append(attempt)
    return attempts
