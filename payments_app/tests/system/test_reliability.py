"""Issue 8, item 2: a payment settles exactly once, to the truth Daraja's query gives, and odd callbacks change nothing.

Real pieces only: Daraja's callbacks are posted over HTTP to a live server whose
request threads each hold their own PostgreSQL connection (transaction=True, so
every commit, row lock and on-commit hook is the real one); STK Push Query goes
over HTTP to the Daraja simulator; Celery runs eagerly in the request threads, as
the test settings say, so each callback is processed inside its own request.

Each test prints its figures (``pytest -s`` shows them) for the closing note of
issue 8 and the README.
"""

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from notifications_app.models import Notification
from payments_app import services, tasks
from payments_app.models import MpesaCallback, PaymentAttempt, PaymentEvent
from sessions_app.models import Session, SessionEvent
from sessions_app.services import sessions as session_services
from sessions_app.tests.factories import PASSWORD, UserFactory

from ..conftest import CANCEL_PHONE, PAID_PHONE, SECRET, serve_live
from ..services.test_callbacks import failure_for, success_for

pytestmark = pytest.mark.django_db(transaction=True)

A = PaymentAttempt.Status
O = MpesaCallback.Outcome  # noqa: E741
K = Notification.Kind
RECEIPT = "NLJ7RT61SV"  # what success_for() puts in the callback
FIRED = 100
SERVER_THREADS = 24  # like a few gunicorn workers with threads; PostgreSQL here allows 100 connections in all


def report(name: str, **figures) -> None:
    print(f"\n[issue-8 figures] {name}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))


class _PooledServer(ThreadedWSGIServer):
    """Accepts a burst of connections (deep backlog) and serves them from a fixed pool of threads.

    Each request runs on a pool thread with its own database connection, closed
    after the request (ThreadedWSGIServer.close_request), so the number of
    PostgreSQL connections stays at the pool size however many clients fire.
    """

    request_queue_size = 512

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(max_workers=SERVER_THREADS, thread_name_prefix="live-request")

    def process_request(self, request, client_address):
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _PooledLiveServerThread(LiveServerThread):
    server_class = _PooledServer


@pytest.fixture
def live_url(transactional_db):
    yield from serve_live(_PooledLiveServerThread)


@pytest.fixture
def pay(simulator, approved_session, client_user):
    """Start a payment; the simulated customer has already answered (paid, or 1032 for CANCEL_PHONE)."""

    def _pay(phone=PAID_PHONE):
        attempt = services.payment_initiate(session=approved_session, phone=phone, actor=client_user)
        simulator.transactions[attempt.checkout_request_id].created -= 10**6
        return attempt

    return _pay


@pytest.fixture
def post_callback(live_url):
    def _post(body) -> requests.Response:
        response = requests.post(f"{live_url}/api/pay/cb/{SECRET}/", json=body, timeout=30)
        assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
        return response

    return _post


def receipt_emails(mailbox, user) -> list:
    return [m for m in mailbox if user.email in m.to and "your receipt" in m.subject]


def session_row(session) -> dict:
    return Session.objects.values().get(pk=session.pk)


def staff_page(client, path: str) -> str:
    client.force_login(UserFactory(staff=True))
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


# --- 100 identical callbacks and a poll --------------------------------------------------------


@pytest.mark.exclusive
def test_hundred_identical_success_callbacks_and_a_poll_settle_exactly_once(
    live_url, pay, approved_session, client_user, mailoutbox
):
    attempt = pay()
    body = success_for(attempt)
    token = requests.post(
        f"{live_url}/api/auth/token", json={"email": client_user.email, "password": PASSWORD}, timeout=10
    ).json()["token"]
    barrier = threading.Barrier(FIRED + 2)
    statuses: collections.Counter = collections.Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def fire():
        try:
            barrier.wait(30)
            status = requests.post(f"{live_url}/api/mpesa/callback/{SECRET}/", json=body, timeout=120).status_code
        except Exception as exc:  # counted and asserted below
            with lock:
                errors.append(f"callback: {exc!r}")
        else:
            with lock:
                statuses[status] += 1

    def poll_task():
        """The poller's own task, run as Celery runs it (eager here), on this thread's own connection."""
        try:
            barrier.wait(30)
            run = tasks.poll_payment.apply(args=[attempt.pk])
            assert run.successful(), run.traceback
        except Exception as exc:
            with lock:
                errors.append(f"poll: {exc!r}")
        finally:
            connection.close()

    def status_query():
        """The client's page asking where the payment stands (it asks Daraja while processing)."""
        try:
            barrier.wait(30)
            response = requests.get(
                f"{live_url}/api/mpesa/status/{attempt.checkout_request_id}",
                headers={"Authorization": f"Token {token}"},
                timeout=120,
            )
            assert response.status_code == 200, response.text
        except Exception as exc:
            with lock:
                errors.append(f"status: {exc!r}")

    threads = [threading.Thread(target=fire) for _ in range(FIRED)]
    threads += [threading.Thread(target=poll_task), threading.Thread(target=status_query)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    elapsed = time.monotonic() - started

    session = Session.objects.get(pk=approved_session.pk)
    confirms = SessionEvent.objects.filter(session=session, action="confirm").count()
    succeeded_events = PaymentEvent.objects.filter(attempt=attempt, kind=PaymentEvent.Kind.SUCCEEDED).count()
    receipts = PaymentAttempt.objects.filter(mpesa_receipt_number=RECEIPT).count()
    callbacks = MpesaCallback.objects.filter(checkout_request_id=attempt.checkout_request_id)
    outcomes = collections.Counter(callbacks.values_list("outcome", flat=True))
    notifications = Notification.objects.filter(session=session, recipient=client_user, kind=K.CLIENT_CONFIRMED)
    emails = receipt_emails(mailoutbox, client_user)
    report(
        "100 identical success callbacks + poll task + status query",
        fired=FIRED,
        http_statuses=dict(statuses),
        errors=errors or 0,
        confirm_transitions=confirms,
        settled_by=list(
            SessionEvent.objects.filter(session=session, action="confirm").values_list("source", flat=True)
        ),
        succeeded_events=succeeded_events,
        receipts_stored=receipts,
        callbacks_stored=callbacks.count(),
        callback_outcomes=dict(outcomes),
        receipt_emails=len(emails),
        server_threads=SERVER_THREADS,
        seconds=round(elapsed, 1),
    )

    assert errors == []
    assert statuses == {200: FIRED}
    assert (session.status, session.payment_status) == (Session.Status.CONFIRMED, Session.PaymentStatus.PAID)
    assert confirms == 1
    assert succeeded_events == 1
    assert receipts == 1 and session.mpesa_receipt_number == RECEIPT
    assert callbacks.count() == FIRED, "every raw callback is kept"
    assert not callbacks.filter(processed_at__isnull=True).exists()
    assert outcomes[O.PAID] <= 1 and outcomes[O.PAID] + outcomes[O.DUPLICATE] == FIRED
    assert notifications.count() == 1 and notifications.get().status == Notification.Status.SENT
    assert notifications.get().attempts == 1
    assert len(emails) == 1


# --- Out of order: the query's truth wins ------------------------------------------------------

ORDERS = {
    "failure-after-success": ("success", "failure"),
    "success-after-failure": ("failure", "success"),
}
TRUTHS = {"paid": PAID_PHONE, "cancelled-by-customer": CANCEL_PHONE}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("truth", TRUTHS)
def test_out_of_order_callbacks_settle_to_what_the_query_says(
    pay, post_callback, approved_session, client_user, mailoutbox, order, truth
):
    attempt = pay(phone=TRUTHS[truth])
    bodies = {"success": success_for(attempt), "failure": failure_for(attempt)}
    for kind in ORDERS[order]:
        post_callback(bodies[kind])

    attempt.refresh_from_db()
    session = Session.objects.get(pk=approved_session.pk)
    callbacks = list(MpesaCallback.objects.order_by("id").values_list("result_code", "outcome"))
    confirms = SessionEvent.objects.filter(session=session, action="confirm").count()
    failed_emails = Notification.objects.filter(session=session, kind=K.CLIENT_PAYMENT_FAILED).count()
    report(
        f"out of order ({order}), Daraja's query says {truth}",
        callbacks=callbacks,
        attempt=attempt.status,
        session=(session.status, session.payment_status),
        confirm_transitions=confirms,
        receipt_emails=len(receipt_emails(mailoutbox, client_user)),
        payment_failed_emails=failed_emails,
    )

    assert all(outcome for _, outcome in callbacks), "both callbacks were processed"
    assert callbacks[1][1] == O.DUPLICATE, "the second answer changed nothing"
    if truth == "paid":
        assert attempt.status == A.SUCCEEDED and attempt.result_code == "0"
        assert (session.status, session.payment_status) == (Session.Status.CONFIRMED, Session.PaymentStatus.PAID)
        # The receipt comes with the success callback, whichever came first.
        assert attempt.mpesa_receipt_number == RECEIPT and session.mpesa_receipt_number == RECEIPT
        assert confirms == 1
        assert len(receipt_emails(mailoutbox, client_user)) == 1
        assert failed_emails == 0
    else:
        assert attempt.status == A.FAILED and attempt.result_code == "1032"
        assert (session.status, session.payment_status) == (Session.Status.APPROVED, Session.PaymentStatus.FAILED)
        assert attempt.mpesa_receipt_number is None and session.mpesa_receipt_number is None
        assert confirms == 0
        assert receipt_emails(mailoutbox, client_user) == []
        assert failed_emails == 1


# --- Callbacks that must change no session, and that staff must see ----------------------------


def test_callback_for_an_unknown_checkout_id_changes_nothing_and_staff_see_it(
    pay, post_callback, approved_session, client
):
    attempt = pay()
    before = session_row(approved_session)
    events_before = SessionEvent.objects.count()
    body = success_for(attempt)
    body["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_UNKNOWN000000001"
    post_callback(body)

    attempt.refresh_from_db()
    callback = MpesaCallback.objects.get()
    report(
        "unknown checkout id",
        outcome=callback.outcome,
        session_changed=session_row(approved_session) != before,
        attempt=attempt.status,
    )
    assert session_row(approved_session) == before
    assert SessionEvent.objects.count() == events_before
    assert attempt.status == A.PROCESSING and attempt.callback_payload is None
    assert callback.outcome == O.UNKNOWN_CHECKOUT and callback.attempt is None and callback.processed_at
    assert PaymentEvent.objects.filter(kind=PaymentEvent.Kind.UNKNOWN_CHECKOUT, callback=callback).exists()

    page = staff_page(client, "/admin/payments_app/mpesacallback/?outcome=unknown_checkout")
    assert "ws_CO_UNKNOWN000000001" in page and "Unknown checkout id: changed nothing" in page
    page = staff_page(client, "/admin/payments_app/paymentevent/?kind=unknown_checkout")
    assert "ws_CO_UNKNOWN000000001" in page


def test_callback_with_a_mismatched_amount_changes_nothing_and_staff_see_it(
    pay, post_callback, approved_session, client_user, client, mailoutbox
):
    attempt = pay()
    before = session_row(approved_session)
    events_before = SessionEvent.objects.count()
    post_callback(success_for(attempt, amount=1, receipt="FORGED0001"))

    attempt.refresh_from_db()
    callback = MpesaCallback.objects.get()
    report(
        "mismatched amount (KES 1 reported for KES 3,500)",
        outcome=callback.outcome,
        session_changed=session_row(approved_session) != before,
        attempt=attempt.status,
        needs_review=attempt.needs_review,
    )
    assert session_row(approved_session) == before
    assert SessionEvent.objects.count() == events_before
    assert not Notification.objects.filter(session=approved_session).exclude(kind=K.CLIENT_APPROVED).exists()
    assert attempt.needs_review and "Amount mismatch" in attempt.review_reason
    assert attempt.mpesa_receipt_number is None, "nothing from an untrusted callback is stored on the payment"
    assert callback.outcome == O.REVIEW and callback.processed_at

    page = staff_page(client, "/admin/payments_app/paymentattempt/?needs_review__exact=1")
    assert attempt.checkout_request_id in page and "Amount mismatch" in page
    page = staff_page(client, "/admin/payments_app/mpesacallback/?outcome=review")
    assert attempt.checkout_request_id in page

    # Nothing is lost either: the poller still asks Daraja, whose answer (paid, the amount pushed) confirms it.
    run = tasks.poll_payment.apply(args=[attempt.pk])
    assert run.successful(), run.traceback
    attempt.refresh_from_db()
    session = Session.objects.get(pk=approved_session.pk)
    assert attempt.status == A.SUCCEEDED and attempt.paid_amount == 3500 and attempt.mpesa_receipt_number is None
    assert (session.status, session.payment_status) == (Session.Status.CONFIRMED, Session.PaymentStatus.PAID)
    assert SessionEvent.objects.filter(session=session, action="confirm").count() == 1
    assert attempt.needs_review, "staff still see the ignored callback"


def test_success_after_the_session_was_cancelled_changes_nothing_and_staff_see_it(
    pay, post_callback, approved_session, client_user, client, mailoutbox
):
    attempt = pay()
    session_services.session_cancel(session=approved_session, actor=client_user, reason="Plans changed")
    before = session_row(approved_session)
    events_before = SessionEvent.objects.count()
    notifications_before = Notification.objects.count()
    post_callback(success_for(attempt))

    attempt.refresh_from_db()
    callback = MpesaCallback.objects.get()
    report(
        "success after the session was cancelled",
        outcome=callback.outcome,
        session_changed=session_row(approved_session) != before,
        attempt=attempt.status,
        needs_review=attempt.needs_review,
    )
    assert before["status"] == Session.Status.CANCELLED
    assert session_row(approved_session) == before
    assert SessionEvent.objects.count() == events_before
    assert Notification.objects.count() == notifications_before
    assert receipt_emails(mailoutbox, client_user) == []
    # The money is on record for a refund, never lost.
    assert attempt.status == A.SUCCEEDED and attempt.mpesa_receipt_number == RECEIPT
    assert attempt.needs_review and "refund" in attempt.review_reason
    assert callback.outcome == O.REVIEW

    page = staff_page(client, "/admin/payments_app/paymentattempt/?needs_review__exact=1")
    assert attempt.checkout_request_id in page and "refund due" in page
