"""50 identical success callbacks at once over real HTTP and database connections, plus a poll: paid once."""

import threading

import pytest
import requests
from django.db import connection

from payments_app import services
from payments_app.models import MpesaCallback, PaymentAttempt, PaymentEvent
from sessions_app.models import Session, SessionEvent

from ..conftest import PAID_PHONE, SECRET
from ..services.test_callbacks import success_for

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACKS = 50


@pytest.mark.exclusive
def test_fifty_identical_callbacks_and_a_poll_give_one_paid_transition(
    wide_live_server, simulator, approved_session, client_user
):
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    simulator.transactions[attempt.checkout_request_id].created -= 10**6
    body = success_for(attempt)
    url = f"{wide_live_server}/api/mpesa/callback/{SECRET}/"
    barrier = threading.Barrier(CALLBACKS + 1)
    statuses: list[int] = []
    errors: list[str] = []

    def fire():
        try:
            barrier.wait(30)
            statuses.append(requests.post(url, json=body, timeout=60).status_code)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    def poll():
        try:
            barrier.wait(30)
            services.payment_check(attempt=PaymentAttempt.objects.get(pk=attempt.pk), source="poll")
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(CALLBACKS)] + [threading.Thread(target=poll)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)

    assert errors == []
    assert statuses == [200] * CALLBACKS
    session = Session.objects.get(pk=approved_session.pk)
    assert (session.status, session.payment_status) == ("confirmed", "paid")
    assert SessionEvent.objects.filter(session=session, action="confirm").count() == 1
    assert PaymentEvent.objects.filter(attempt=attempt, kind=PaymentEvent.Kind.SUCCEEDED).count() == 1
    assert PaymentAttempt.objects.filter(mpesa_receipt_number="NLJ7RT61SV").count() == 1
    assert Session.objects.filter(mpesa_receipt_number="NLJ7RT61SV").count() == 1
    assert session.mpesa_receipt_number == "NLJ7RT61SV"  # whether the poll or a callback got there first
    callbacks = MpesaCallback.objects.filter(checkout_request_id=attempt.checkout_request_id)
    assert callbacks.count() == CALLBACKS
    assert not callbacks.filter(processed_at__isnull=True).exists()
    assert callbacks.filter(outcome=MpesaCallback.Outcome.PAID).count() <= 1
