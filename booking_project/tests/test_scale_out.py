"""Issue 19 part 5: scale-out shown, on the deployment kit's topology (booking_project/tests/kit.py).

1. Two web processes, one limit: the login lockout, the booking rate limit, an Idempotency-Key and the
   Daraja OAuth token live in the shared Redis and PostgreSQL, so requests sent straight to each
   gunicorn in turn see one count, one session and one token fetch (the simulator counts them).
2. A load run of bookings and payments through nginx (2 web, a payments and a default worker, one
   beat), during which one web process and the payments worker are SIGKILLed and, as systemd's
   Restart= would, started again: every booking answered 2xx exists exactly once, every payment the
   simulator reported as successful is Paid exactly once, no session is paid twice. The figures are
   printed (``-s``) as ``[scale-out]`` lines.

The Daraja simulator runs in this process, so its records (token requests, pushes, their outcomes,
callbacks posted) are read directly. Nothing here asserts a time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from payments_app.daraja.simulator import DarajaSimulator, SimConfig
from payments_app.models import PaymentAttempt, PaymentEvent
from sessions_app.models import Session, SessionEvent, TherapistProfile, User
from sessions_app.tests.celery_workers import redis_url, wait_for

from .kit import BASE, FORWARDED, Kit, bookable

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "demo-pass-2026"  # seed_demo's
OAUTH = ("GET", "/oauth/v1/generate")
ARTIFACTS = BASE / "test-artifacts"


def figures(name: str, **values) -> None:
    """Printed (seen with ``-s``) and appended to test-artifacts/scale-out.txt (xdist hides the print)."""
    line = f"[scale-out] {name}: " + ", ".join(f"{key}={value}" for key, value in values.items())
    print(f"\n{line}", flush=True)
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "scale-out.txt", "a") as out:
        out.write(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC {line}\n")


@pytest.fixture
def simulator(monkeypatch):
    """The Daraja simulator in this process; its callbacks go out through nginx (https, the kit's certificate)."""
    sim = DarajaSimulator(SimConfig(callback_delay=0.5, pending_seconds=0.5), port=0).start()
    sim.httpd.handle_error = lambda request, client_address: None  # a client gone mid-reply is no test failure
    yield sim
    sim.stop()


def token_for(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


# --- 1. one limit for two processes -----------------------------------------------------------------


def test_two_web_processes_share_one_lockout_one_limit_one_idempotency_key_and_one_daraja_token(tmp_path, simulator):
    simulator.config.callbacks = False  # no nginx here to take them
    kit = Kit(
        tmp_path,
        cache_url=redis_url(7),
        broker_url=redis_url(8),
        daraja_url=simulator.url,
        BOOKING_REQUESTS_PER_DAY="4",
    )
    try:
        kit.seed()
        kit.start_web(0)
        kit.start_web(1)
        kit.wait_web(0)
        kit.wait_web(1)

        def call(i: int, method: str, path: str, *, token: str | None = None, **kwargs) -> requests.Response:
            headers = {**FORWARDED, **kwargs.pop("headers", {})}
            if token:
                headers["Authorization"] = f"Token {token}"
            return requests.request(method, f"{kit.web_url(i)}{path}", headers=headers, timeout=30, **kwargs)

        # The login lockout: five wrong passwords, sent to the two processes in turn, lock the account on both.
        login = "/api/auth/token"
        assert call(0, "POST", login, json={"email": "client1@example.com", "password": DEMO_PASSWORD}).ok
        wrong = [call(n % 2, "POST", login, json={"email": "client1@example.com", "password": "wrong-guess"})
                 for n in range(5)]  # fmt: skip
        assert [r.status_code for r in wrong] == [400] * 5, [r.text for r in wrong]
        locked = [call(i, "POST", login, json={"email": "client1@example.com", "password": DEMO_PASSWORD})
                  for i in (1, 0)]  # fmt: skip
        assert [r.status_code for r in locked] == [429, 429], [r.text for r in locked]
        assert all(int(r.headers["Retry-After"]) > 0 for r in locked)

        # The booking limit (4 a day here) counted across both; a key replayed on the other process is
        # the same session and is not counted again.
        client = call(1, "POST", login, json={"email": "client2@example.com", "password": DEMO_PASSWORD}).json()[
            "token"
        ]
        therapist = TherapistProfile.objects.get(user__email="therapist1@example.com")
        slots = [s for s in bookable(kit.web_url(0), verify=True, headers=FORWARDED) if s[0] == therapist][:6]
        assert len(slots) == 6

        def book(i: int, n: int, key: str | None = None) -> requests.Response:
            _, session_type, start = slots[n]
            body = {"therapist": therapist.pk, "session_type": session_type.pk, "start": start}
            return call(i, "POST", "/api/sessions/request", token=client, json=body,
                        headers={"Idempotency-Key": key or str(uuid.uuid4())})  # fmt: skip

        key = str(uuid.uuid4())
        first, replayed = book(0, 0, key), book(1, 0, key)
        assert first.status_code == replayed.status_code == 201, (first.text, replayed.text)
        assert replayed.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
        assert replayed.json()["id"] == first.json()["id"]
        rest = [book(i, n) for n, i in ((1, 1), (2, 0), (3, 1))]
        assert [r.status_code for r in rest] == [201, 201, 201], [r.text for r in rest]
        over = [book(0, 4), book(1, 5)]
        assert [r.status_code for r in over] == [429, 429], [r.text for r in over]
        ids = [first.json()["id"]] + [r.json()["id"] for r in rest]
        assert Session.objects.filter(client__email="client2@example.com").count() == 4

        # One Daraja token for both: a push from each process, one token request at the simulator.
        therapist_token = token_for(therapist.user)
        for i, session_id in ((0, ids[0]), (1, ids[1])):
            assert call(i, "PUT", f"/api/sessions/{session_id}/approve", token=therapist_token).status_code == 200
            pushed = call(i, "POST", "/api/mpesa/initiate", token=client,
                          json={"session": session_id, "phone": f"07123456{i}0"})  # fmt: skip
            assert pushed.status_code == 201 and pushed.json()["checkout_request_id"], pushed.text
        kit.procs.alive()
        for i in range(2):  # each process really served its share
            assert kit.procs.log(f"web{i}") and (kit.log_dir / f"gunicorn{i}.access.log").read_text().count("\n") >= 8
    finally:
        kit.stop_all()

    seen = Counter(simulator.requests_seen)
    assert seen[OAUTH] == 1, seen
    assert seen[("POST", "/mpesa/stkpush/v1/processrequest")] == 2, seen
    figures(
        "shared limits (two gunicorns, each asked in turn)",
        login_lockout="5 wrong passwords over 2 processes -> 429 on both",
        booking_limit="4 bookings over 2 processes -> 429 on both",
        idempotency_key="replayed on the other process -> same session, Idempotent-Replayed",
        daraja_token_requests=seen[OAUTH],
        stk_pushes=seen[("POST", "/mpesa/stkpush/v1/processrequest")],
    )


# --- 2. killed mid-run -------------------------------------------------------------------------------

BOOKINGS = 30
THREADS = 6
# The simulator's outcome follows the phone's last digit: 0, 8, 9 paid; 6 paid with the callback sent
# twice; 5 paid but never called back (only STK Query tells); 1 insufficient balance.
OUTCOMES = "068591"


def phone(n: int) -> str:
    """A phone of booking n's own (the simulator refuses a second open push on one phone)."""
    return f"071{n:06d}{OUTCOMES[n % len(OUTCOMES)]}"


RETRYABLE = {502, 503, 504}


class Load:
    """The load generator's own record: every request, every answer, what it was told exists."""

    def __init__(self, base: str, cert: str):
        self.base, self.cert = base, cert
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.requests = 0
        self.retries = 0
        self.booked: dict[str, int] = {}  # Idempotency-Key -> session id answered 2xx
        self.checkouts: dict[int, str] = {}  # session id -> checkout request id
        self.started = threading.Event()  # a third of the bookings answered: time to kill
        # Pushes are held back while the kill happens (see push()): set = pushes may go.
        self.pushes_allowed = threading.Event()
        self.pushes_allowed.set()
        self.pushing = 0

    def call(self, method: str, path: str, *, token: str, expect: tuple[int, ...], **kwargs) -> requests.Response:
        """One request, tried again (same body, same Idempotency-Key) while nginx answers 502/503/504 or the
        connection breaks: what a client does when its server dies under it."""
        headers = {"Authorization": f"Token {token}", **kwargs.pop("headers", {})}
        for attempt in range(8):
            with self.lock:
                self.requests += 1
                self.retries += attempt > 0
            try:
                response = requests.request(
                    method, f"{self.base}{path}", headers=headers, timeout=30, verify=self.cert, **kwargs
                )
            except requests.RequestException as exc:
                with self.lock:
                    self.statuses[type(exc).__name__] += 1
                time.sleep(0.5)
                continue
            with self.lock:
                self.statuses[response.status_code] += 1
            if response.status_code in RETRYABLE:
                time.sleep(0.5)
                continue
            assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
            return response
        raise AssertionError(f"{method} {path}: no answer after 8 tries")

    def push(self, session_id: int, client_token: str, phone: str) -> dict:
        """POST /api/mpesa/initiate, never in flight while the killer strikes.

        A web process killed after Daraja accepted its STK Push but before it stored the checkout id is
        the one window where a payment is not followed automatically (the callback is kept as "unknown
        checkout" for staff; the attempt is abandoned after 60 s): see the scale-out report. The kill
        waits for the pushes in flight to be answered; everything else stays in flight.
        """
        self.pushes_allowed.wait(30)
        with self.lock:
            self.pushing += 1
        try:
            return self.call("POST", "/api/mpesa/initiate", token=client_token, expect=(200, 201),
                             json={"session": session_id, "phone": phone}).json()  # fmt: skip
        finally:
            with self.lock:
                self.pushing -= 1

    def hold_pushes(self) -> None:
        self.pushes_allowed.clear()
        wait_for(lambda: self.pushing == 0, timeout=30, what="the pushes in flight to be answered", every=0.01)

    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not (isinstance(status, int) and status < 400))

    def one_booking(self, n: int, slot, client_token: str, therapist_token: str) -> None:
        therapist, session_type, start = slot
        key = str(uuid.uuid4())
        body = {"therapist": therapist.pk, "session_type": session_type.pk, "start": start}
        made = self.call("POST", "/api/sessions/request", token=client_token, expect=(201,), json=body,
                         headers={"Idempotency-Key": key})  # fmt: skip
        session_id = made.json()["id"]
        with self.lock:
            self.booked[key] = session_id
            if len(self.booked) >= BOOKINGS // 3:
                self.started.set()
        approved = self.call("PUT", f"/api/sessions/{session_id}/approve", token=therapist_token, expect=(200, 409))
        if approved.status_code == 409:  # a retry of an approval that had gone through before its server died
            now = self.call("GET", f"/api/sessions/{session_id}", token=client_token, expect=(200,)).json()
            assert now["status"] == "approved", now
        deadline = time.monotonic() + 40
        while True:
            attempt = self.push(session_id, client_token, phone(n))
            if attempt.get("checkout_request_id"):
                break
            assert time.monotonic() < deadline, attempt  # a push committed but never sent: retried below
            time.sleep(1)
        with self.lock:
            self.checkouts[session_id] = attempt["checkout_request_id"]
        while not attempt["final"]:  # the client follows its payment, as the app does
            assert time.monotonic() < deadline, attempt
            time.sleep(1)
            path = f"/api/mpesa/status/{attempt['checkout_request_id']}"
            attempt = self.call("GET", path, token=client_token, expect=(200,)).json()


def test_killing_a_web_process_and_a_worker_mid_run_loses_nothing_and_doubles_nothing(tmp_path, simulator, monkeypatch):
    kit = Kit(
        tmp_path,
        cache_url=redis_url(9),
        broker_url=redis_url(10),
        daraja_url=simulator.url,
        MPESA_POLL_FIRST_DELAY_SECONDS="2",
        MPESA_POLL_INTERVAL_SECONDS="2",
        MPESA_STATUS_QUERY_INTERVAL_SECONDS="2",
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(kit.cert))  # the simulator's callbacks, from this process
    killed: dict[str, object] = {}
    finished = threading.Event()
    load = Load(kit.base_url, str(kit.cert))
    try:
        kit.seed()
        for i in range(2):
            kit.start_web(i)
        for queue in ("payments", "default"):
            kit.start_worker(queue)
        kit.start_beat()
        kit.start_nginx()
        kit.wait_ready()
        for queue in ("payments", "default"):
            kit.wait_worker(queue)

        clients = [User.objects.create(email=f"load{n}@example.com", full_name=f"Load {n}", role=User.Role.CLIENT,
                                       email_verified_at=timezone.now())
                   for n in range(BOOKINGS // 5)]  # fmt: skip  # five bookings each, under the daily limit
        client_tokens = [token_for(c) for c in clients]
        therapist_tokens = {t.pk: token_for(t.user) for t in TherapistProfile.objects.all()}
        slots = bookable(kit.base_url, verify=str(kit.cert))
        assert len(slots) >= BOOKINGS, len(slots)
        slots = slots[:: max(1, len(slots) // BOOKINGS)][:BOOKINGS]  # spread over the therapists

        def killer():
            if not load.started.wait(120):
                return
            broker = redis.Redis.from_url(kit.broker_url)
            killed["unacked_before"] = broker.hlen("unacked")
            killed["payments_queue_before"] = broker.llen("payments")
            broker.close()
            killed["booked_before"] = len(load.booked)
            load.hold_pushes()
            kit.procs.kill("web0")
            kit.procs.kill("worker-payments")
            load.pushes_allowed.set()
            time.sleep(2)  # RestartSec=2 in the units
            kit.start_web(0)
            kit.start_worker("payments")
            killed["restarted"] = True
            # Their parent-death signal follows this thread (PR_SET_PDEATHSIG): it lives until they are stopped.
            finished.wait(300)

        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()
        with ThreadPoolExecutor(THREADS) as pool:
            jobs = [
                pool.submit(load.one_booking, n, slot, client_tokens[n % len(clients)], therapist_tokens[slot[0].pk])
                for n, slot in enumerate(slots)
            ]
            for job in jobs:
                job.result()
        wait_for(lambda: killed.get("restarted"), timeout=30, what="the killed processes to be started again")
        kit.wait_web(0)
        kit.wait_worker("payments")
        kit.procs.alive()

        # The payments the simulator says succeeded, each settled by some path (callback, poll, status).
        paid_by_sim = {cid for cid, txn in simulator.transactions.items() if txn.outcome.result_code == 0}
        wait_for(
            lambda: (
                PaymentAttempt.objects.filter(
                    checkout_request_id__in=paid_by_sim, status=PaymentAttempt.Status.SUCCEEDED
                ).count()
                == len(paid_by_sim)
            ),
            timeout=30,
            what="every payment the simulator reported successful to be settled",
        )
    finally:
        kit.stop_all()
        finished.set()

    # Every booking answered 2xx exists exactly once; nothing else was made.
    ours = Session.objects.filter(client__email__startswith="load")
    acknowledged = set(load.booked.values())
    lost = acknowledged - set(ours.values_list("pk", flat=True))
    extra = ours.exclude(pk__in=acknowledged).count()
    doubled_slots = sum(n - 1 for n in Counter(ours.values_list("therapist_id", "start")).values() if n > 1)
    # Every payment the simulator reported successful is Paid exactly once; none paid twice.
    attempts = {a.checkout_request_id: a for a in PaymentAttempt.objects.filter(session__in=ours)}
    unpaid = [cid for cid in paid_by_sim if attempts[cid].session.payment_status != Session.PaymentStatus.PAID]
    succeeded_events = Counter(
        PaymentEvent.objects.filter(attempt__session__in=ours, kind=PaymentEvent.Kind.SUCCEEDED).values_list(
            "attempt_id", flat=True
        )
    )
    confirms = Counter(
        SessionEvent.objects.filter(session__in=ours, action="confirm").values_list("session_id", flat=True)
    )
    succeeded_per_session = Counter(
        PaymentAttempt.objects.filter(session__in=ours, status=PaymentAttempt.Status.SUCCEEDED).values_list(
            "session_id", flat=True
        )
    )
    paid_wrongly = [
        cid
        for cid, txn in simulator.transactions.items()
        if txn.outcome.result_code != 0 and attempts[cid].status == PaymentAttempt.Status.SUCCEEDED
    ]
    doubled_payments = (
        sum(n - 1 for n in succeeded_events.values())
        + sum(n - 1 for n in confirms.values())
        + sum(n - 1 for n in succeeded_per_session.values())
    )
    callbacks = Counter(str(s) for txn in simulator.transactions.values() for s in txn.callback_statuses)
    figures(
        "kill run through nginx",
        bookings_answered_2xx=len(acknowledged),
        requests=load.requests,
        errors=load.errors(),
        answers=dict(sorted(load.statuses.items(), key=str)),
        retried=load.retries,
        killed="web0 and worker-payments (SIGKILL), restarted 2 s later",
        booked_before_the_kill=killed["booked_before"],
        broker_unacked_at_the_kill=killed["unacked_before"],
        stk_pushes=len(simulator.transactions),
        simulator_success=len(paid_by_sim),
        paid=ours.filter(payment_status=Session.PaymentStatus.PAID).count(),
        callbacks_posted=dict(callbacks),
        daraja_token_requests=Counter(simulator.requests_seen)[OAUTH],
        lost=len(lost) + len(unpaid),
        doubled=extra + doubled_slots + doubled_payments + len(paid_wrongly),
    )
    assert len(acknowledged) == BOOKINGS
    assert not lost and extra == 0 and doubled_slots == 0, (lost, extra, doubled_slots)
    assert set(load.checkouts.values()) == set(simulator.transactions), "every push the clients saw, and no other"
    assert paid_by_sim and not unpaid, unpaid
    assert all(succeeded_events[attempts[cid].pk] == 1 for cid in paid_by_sim), succeeded_events
    assert all(confirms[attempts[cid].session_id] == 1 for cid in paid_by_sim), confirms
    assert doubled_payments == 0 and not paid_wrongly, (doubled_payments, paid_wrongly)
    assert ours.filter(payment_status=Session.PaymentStatus.PAID).count() == len(paid_by_sim)
