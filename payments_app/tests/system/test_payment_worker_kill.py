"""Issue 8, item 3: a Celery worker really killed while settling a payment loses nothing and duplicates nothing.

Real processes: Redis as the broker, ``celery worker`` subprocesses on the test
database, the Daraja simulator as an HTTP server. The callback is stored and its
task queued as the callback endpoint does; the worker processing it is SIGKILLed
(no cleanup, no ack) at a point the test holds it deterministically:

- while it waits for STK Query's answer (the simulator holds the reply);
- inside the settling transaction, after the session row was already marked
  paid (this test holds a row lock the transaction needs next);
- while the receipt email is being queued (this test holds a conflicting,
  uncommitted email row).

Tasks are acks_late with reject_on_worker_lost, so the message stays
unacknowledged in Redis and a second worker gets it once the visibility timeout
(seconds here, an hour in production) has passed. The payment must then settle
exactly once: one confirm event, one receipt, one receipt email.
"""

import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from notifications_app.models import Notification
from payments_app import daraja, services
from payments_app.daraja.simulator import DarajaSimulator, SimConfig
from payments_app.models import MpesaCallback, PaymentAttempt, PaymentEvent
from payments_app.services import intake
from sessions_app.models import Session, SessionEvent
from sessions_app.tests.celery_workers import Workers, kill, redis_ready, redis_url, wait_for

from ..conftest import PAID_PHONE, SECRET
from ..services.test_callbacks import success_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = redis_url(2)  # this run's own Redis server
VISIBILITY_TIMEOUT = 3
RECEIPT = "NLJ7RT61SV"


def report(name: str, **figures) -> None:
    print(f"\n[issue-8 figures] {name}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))


class HoldingSimulator(DarajaSimulator):
    """The simulator, except that STK Query can be made to hang until released (a slow Daraja)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold_queries = threading.Event()
        self.query_waiting = threading.Event()
        self.release = threading.Event()

    def stk_query(self, headers, body):
        if self.hold_queries.is_set():
            self.query_waiting.set()
            self.release.wait(60)
        return super().stk_query(headers, body)


@pytest.fixture
def sim(settings):
    simulator = HoldingSimulator(
        SimConfig(
            consumer_key=settings.DARAJA_CONSUMER_KEY,
            consumer_secret=settings.DARAJA_CONSUMER_SECRET,
            callbacks=False,
            pending_seconds=0,
        ),
        port=0,
    ).start()
    # The held reply to the killed worker meets a closed socket: expected, not worth a traceback.
    simulator.httpd.handle_error = lambda request, client_address: None
    settings.DARAJA_BASE_URL = simulator.url
    settings.MPESA_CALLBACK_SECRET = SECRET
    yield simulator
    simulator.release.set()
    simulator.stop()


@pytest.fixture
def queue():
    return f"payments-kill-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workers(sim, queue, tmp_path):
    """Start named worker processes (prefork, one child) on the test queue; all are stopped afterwards."""
    redis_ready(REDIS_URL)
    env = {
        "DJANGO_SETTINGS_MODULE": "payments_app.tests.worker_settings",
        "WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "WORKER_BROKER_URL": REDIS_URL,
        "WORKER_QUEUE": queue,
        "WORKER_DARAJA_BASE_URL": sim.url,
        "WORKER_CALLBACK_BASE_URL": "http://127.0.0.1:9",
        "WORKER_CALLBACK_SECRET": SECRET,
        "WORKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    }
    pool = Workers(env=env, queue=queue, log_dir=tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def queue_to_worker(monkeypatch, queue):
    """Queue callback processing on Redis for the worker (this process's Celery is eager), keeping the task ids."""
    from celery import Celery

    # Not the current app: the project's eager app must stay current for the tests that run after this one.
    sender = Celery("payments-kill-test", broker=REDIS_URL, set_as_current=False)
    sender.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    task_ids: list[str] = []

    def _queue(callback_id: int) -> None:
        result = sender.send_task("payments_app.tasks.process_callback", args=[callback_id], queue=queue)
        task_ids.append(result.id)

    monkeypatch.setattr(intake, "_queue_callback", _queue)
    yield task_ids
    sender.close()


@pytest.fixture
def paying(sim, approved_session, client_user):
    """An STK Push the simulated customer has paid; its callback stored and queued, as the endpoint does."""
    attempt = services.payment_initiate(session=approved_session, phone=PAID_PHONE, actor=client_user)
    sim.transactions[attempt.checkout_request_id].created -= 10**6
    return attempt


def receive_callback(attempt) -> MpesaCallback:
    body = success_for(attempt)
    return services.mpesa_callback_record(payload=body, parsed=daraja.parse_callback(body), source_ip="196.201.214.200")


def callback_received_elsewhere(attempt):
    """Store and queue the callback on another connection, committed while this test's transaction stays open."""
    got: list[MpesaCallback] = []

    def run():
        try:
            got.append(receive_callback(attempt))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return lambda: got[0]


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is otherwise frozen
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def settle_after_restart(workers, session, client_user, task_id: str) -> None:
    time.sleep(VISIBILITY_TIMEOUT + 1)
    workers("second")
    wait_for(
        lambda: Notification.objects.filter(
            session=session, recipient=client_user, kind=Notification.Kind.CLIENT_CONFIRMED, status="sent"
        ).exists(),
        timeout=30,
        what="the second worker to settle the payment and send the receipt email",
    )
    wait_for(
        lambda: f"process_callback[{task_id}] succeeded" in workers.log("second"),
        timeout=10,
        what="the redelivered task to finish on the second worker",
    )


def assert_settled_exactly_once(session, attempt, client_user, callback, name: str, **figures) -> None:
    session.refresh_from_db()
    attempt.refresh_from_db()
    callback.refresh_from_db()
    confirms = SessionEvent.objects.filter(session=session, action="confirm").count()
    succeeded = PaymentEvent.objects.filter(attempt=attempt, kind=PaymentEvent.Kind.SUCCEEDED).count()
    receipts = PaymentAttempt.objects.filter(mpesa_receipt_number=RECEIPT).count()
    emails = Notification.objects.filter(
        session=session, recipient=client_user, kind=Notification.Kind.CLIENT_CONFIRMED
    )
    report(
        name,
        **figures,
        session=(session.status, session.payment_status),
        confirm_transitions=confirms,
        succeeded_events=succeeded,
        receipts_stored=receipts,
        receipt_emails=[(e.status, e.attempts) for e in emails],
        callback=(callback.outcome, callback.process_tries),
    )
    assert (session.status, session.payment_status) == (Session.Status.CONFIRMED, Session.PaymentStatus.PAID)
    assert session.mpesa_receipt_number == RECEIPT and attempt.mpesa_receipt_number == RECEIPT
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED
    assert confirms == 1 and succeeded == 1 and receipts == 1
    assert callback.outcome == MpesaCallback.Outcome.PAID and callback.processed_at is not None
    assert [(e.status, e.attempts) for e in emails] == [(Notification.Status.SENT, 1)]


def test_worker_killed_while_asking_daraja_settles_once_after_restart(
    workers, sim, paying, queue_to_worker, approved_session, client_user
):
    sim.hold_queries.set()
    first = workers("first")
    callback = receive_callback(paying)
    assert sim.query_waiting.wait(30), workers.log("first")
    kill(first)
    sim.hold_queries.clear()
    sim.release.set()

    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PROCESSING, "nothing settled yet"
    settle_after_restart(workers, approved_session, client_user, queue_to_worker[0])
    assert_settled_exactly_once(
        approved_session,
        paying,
        client_user,
        callback,
        "worker SIGKILLed while waiting for STK Query",
        tasks_queued=len(queue_to_worker),
        workers_killed=1,
    )


def test_worker_killed_inside_the_settling_transaction_rolls_back_and_settles_once(
    workers, sim, paying, queue_to_worker, approved_session, client_user
):
    sim.hold_queries.set()
    first = workers("first")
    callback = receive_callback(paying)
    assert sim.query_waiting.wait(30), workers.log("first")
    with transaction.atomic():
        # The settling transaction records its payment event against this callback row next.
        MpesaCallback.objects.select_for_update().get(pk=callback.pk)
        sim.hold_queries.clear()
        sim.release.set()
        wait_for(waiting_on_a_lock, timeout=30, what="the worker to block inside the settling transaction")
        kill(first)
    # PostgreSQL rolled the dead worker's transaction back: the session is as it was.
    approved_session.refresh_from_db()
    paying.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PROCESSING
    assert paying.status == PaymentAttempt.Status.PROCESSING
    assert not SessionEvent.objects.filter(session=approved_session, action="confirm").exists()

    settle_after_restart(workers, approved_session, client_user, queue_to_worker[0])
    assert_settled_exactly_once(
        approved_session,
        paying,
        client_user,
        callback,
        "worker SIGKILLed inside the settling transaction (session row already updated)",
        tasks_queued=len(queue_to_worker),
        workers_killed=1,
    )


def test_worker_killed_while_queueing_the_receipt_email_loses_no_email(
    workers, sim, paying, queue_to_worker, approved_session, client_user
):
    first = workers("first")
    with transaction.atomic():
        # An uncommitted row with the same key: the worker's own insert of the receipt email waits on it.
        Notification.objects.create(
            session=approved_session, recipient=client_user, kind=Notification.Kind.CLIENT_CONFIRMED
        )
        received = callback_received_elsewhere(paying)
        wait_for(waiting_on_a_lock, timeout=30, what="the worker to block while queueing the receipt email")
        kill(first)
        transaction.set_rollback(True)
    callback = received()
    # The emails are logged in the settling transaction itself, so the kill rolled the payment back with them.
    approved_session.refresh_from_db()
    assert approved_session.payment_status == Session.PaymentStatus.PROCESSING

    settle_after_restart(workers, approved_session, client_user, queue_to_worker[0])
    assert_settled_exactly_once(
        approved_session,
        paying,
        client_user,
        callback,
        "worker SIGKILLed while queueing the receipt email",
        tasks_queued=len(queue_to_worker),
        workers_killed=1,
    )
