"""Issue 20, point 4: limits hold under concurrency, across processes, and for their full period.

Thirty wrong passwords for one account reach the token endpoint at the same moment from thirty
processes sharing one Redis (as gunicorn's workers do): at most five passwords may be checked. The same
bursts against the booking-per-day and STK-push limits let exactly the limit through. A lock lasts a
full window from the failure that set it, wherever the clock stands.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os

import pytest
import redis
import time_machine
from django.db import connections
from django.test import Client

from sessions_app import ratelimit
from sessions_app.exceptions import RateLimited

from ..celery_workers import redis_ready, redis_url
from ..factories import PASSWORD, ClientFactory
from .hashers import COUNTER

ATTEMPTS = 30
# This run's own Redis server; databases 1-4 are the Celery tests'; one database per xdist worker.
REDIS_DB = 5 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@pytest.fixture
def shared_redis(settings, monkeypatch):
    """The cache on Redis, as in production: one count for every process."""
    url = redis_url(REDIS_DB)
    redis_ready(url)
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    monkeypatch.setenv("HOSTILE_COUNTER_REDIS", url)
    yield conn
    conn.flushdb()
    conn.close()


def _burst(target, n: int = ATTEMPTS) -> list:
    """Run ``target(barrier)`` in n forked processes released together; their results."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(n), ctx.SimpleQueue()  # SimpleQueue: written before os._exit
    connections.close_all()  # each child opens its own connection

    def child():
        try:
            results.put(target(barrier))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            results.put(f"error: {exc!r}")
        finally:
            connections.close_all()
            os._exit(0)

    procs = [ctx.Process(target=child) for _ in range(n)]
    for proc in procs:
        proc.start()
    out = [results.get() for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return out


# Bursts of processes: the "exclusive" tests, which make test runs on their own, outside the clock sweep.
@pytest.mark.exclusive
@pytest.mark.django_db(transaction=True)
def test_thirty_simultaneous_wrong_passwords_from_thirty_processes_check_at_most_five(shared_redis, settings):
    settings.PASSWORD_HASHERS = ["sessions_app.tests.hostile.hashers.CountingHasher"]
    user = ClientFactory()
    assert user.password.startswith("counting_md5$")
    Client().get("/api/auth/token")  # import the views here once, not in each of the thirty children

    def attempt(barrier):
        barrier.wait(timeout=30)
        response = Client().post(
            "/api/auth/token", {"email": user.email, "password": "wrong-password-1"}, content_type="application/json"
        )
        return response.status_code

    statuses = _burst(attempt)
    checked = int(shared_redis.get(COUNTER) or 0)
    print(f"passwords checked: {checked} of {ATTEMPTS}")
    assert sorted(set(statuses)) == [400, 429], statuses
    assert 1 <= checked <= 5, f"{checked} passwords checked out of {ATTEMPTS}"
    assert statuses.count(400) == checked  # every checked password was wrong; every other attempt refused
    assert ratelimit.is_limited(scope="login-account", ident=user.email, limit=5, window=900)


@pytest.mark.exclusive
@pytest.mark.parametrize(("scope", "limit", "window"), [("booking-client", 10, 86400), ("stk-push-session", 5, 600)])
def test_a_burst_from_thirty_processes_gets_exactly_the_limit_through(shared_redis, scope, limit, window):
    def attempt(barrier):
        barrier.wait(timeout=30)
        try:
            ratelimit.hit(scope=scope, ident="42", limit=limit, window=window)
            return "allowed"
        except RateLimited as exc:
            return f"refused {exc.retry_after}"

    outcomes = _burst(attempt)
    assert outcomes.count("allowed") == limit, outcomes
    refused = [o for o in outcomes if o != "allowed"]
    assert all(o.startswith("refused ") and 0 < int(o.split()[1]) <= window for o in refused), refused


@pytest.mark.parametrize("backend", ["locmem", "redis"])
def test_a_lock_lasts_its_full_period_from_the_failure_that_set_it(request, backend):
    if backend == "redis":
        request.getfixturevalue("shared_redis")
    start = dt.datetime(2026, 12, 2, 10, 14, 50, tzinfo=dt.UTC)  # ten seconds before a 15-minute boundary
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(4):
            ratelimit.hit(scope="login-account", ident="a@example.com", limit=5, window=900)
            clock.shift(2)
        ratelimit.hit(scope="login-account", ident="a@example.com", limit=5, window=900)  # the 5th: locks
        assert ratelimit.retry_after(scope="login-account", ident="a@example.com", limit=5, window=900) == 900
        clock.shift(60)  # past the old fixed window's edge: still locked
        assert ratelimit.is_limited(scope="login-account", ident="a@example.com", limit=5, window=900)
        with pytest.raises(RateLimited) as exc:
            ratelimit.hit(scope="login-account", ident="a@example.com", limit=5, window=900)
        assert exc.value.retry_after == 840
        clock.shift(839)
        assert ratelimit.retry_after(scope="login-account", ident="a@example.com", limit=5, window=900) == 1
        clock.shift(1)  # a full window after the 5th failure
        assert ratelimit.retry_after(scope="login-account", ident="a@example.com", limit=5, window=900) == 0
        assert ratelimit.count(scope="login-account", ident="a@example.com", window=900) == 0
        assert not ratelimit.is_limited(scope="login-account", ident="a@example.com", limit=5, window=900)


def test_a_check_that_passes_holds_a_place_until_its_failure_is_counted():
    """The login's check-then-verify: five checks in flight fill a limit of five; the failures keep it."""
    for _ in range(5):
        assert not ratelimit.is_limited(scope="login-account", ident="b@example.com", limit=5, window=900)
        ratelimit._reservations().clear()  # as if each check had come from another thread
    assert ratelimit.is_limited(scope="login-account", ident="b@example.com", limit=5, window=900)


def test_a_check_whose_attempt_never_reports_back_frees_its_place_after_a_while():
    with time_machine.travel(dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC), tick=False) as clock:
        for _ in range(5):
            assert not ratelimit.is_limited(scope="login-ip", ident="10.0.0.1", limit=5, window=900)
            ratelimit._reservations().clear()
        assert ratelimit.is_limited(scope="login-ip", ident="10.0.0.1", limit=5, window=900)
        clock.shift(ratelimit.RESERVATION_SECONDS)
        assert not ratelimit.is_limited(scope="login-ip", ident="10.0.0.1", limit=5, window=900)


def test_the_thread_s_own_failure_takes_its_reserved_place():
    """check, fail, hit, five times: five failures counted, the sixth check refused (not a leak of places)."""
    for n in range(1, 6):
        assert not ratelimit.is_limited(scope="login-account", ident="c@example.com", limit=5, window=900)
        assert ratelimit.hit(scope="login-account", ident="c@example.com", limit=5, window=900) == n
    assert ratelimit.is_limited(scope="login-account", ident="c@example.com", limit=5, window=900)
    ratelimit.reset(scope="login-account", ident="c@example.com", window=900)
    assert not ratelimit.is_limited(scope="login-account", ident="c@example.com", limit=5, window=900)


@pytest.mark.django_db
def test_the_token_endpoint_s_retry_after_counts_from_the_fifth_failure():
    user = ClientFactory()
    at = dt.datetime(2026, 12, 2, 10, 14, 0, tzinfo=dt.UTC)  # one minute before a 15-minute boundary
    with time_machine.travel(at, tick=False):
        for _ in range(5):
            response = Client().post(
                "/api/auth/token",
                {"email": user.email, "password": "wrong-password-1"},
                content_type="application/json",
            )
            assert response.status_code == 400
        response = Client().post(
            "/api/auth/token", {"email": user.email, "password": "wrong-password-1"}, content_type="application/json"
        )
    assert response.status_code == 429
    assert response["Retry-After"] == "900"  # not the 60 seconds left in the clock's bucket


@pytest.mark.django_db(transaction=True)
def test_good_logins_from_one_address_never_fill_its_limit():
    """Each check reserves a place; a good login gives the address's place back, so people behind one
    address (an office, a campus NAT), each signing in from their own worker thread, are never locked out."""
    import threading

    from sessions_app.services.users import LOGIN_IP_LIMIT, user_authenticate

    users = [ClientFactory() for _ in range(LOGIN_IP_LIMIT + 5)]
    signed_in = []

    def sign_in(user):  # one request, one worker thread (its own reservations, its own connection)
        try:
            signed_in.append(user_authenticate(email=user.email, password=PASSWORD, ip="10.0.0.7"))
        finally:
            connections.close_all()

    for user in users:
        thread = threading.Thread(target=sign_in, args=(user,))
        thread.start()
        thread.join()
    assert signed_in == users
    assert not ratelimit.is_limited(scope="login-ip", ident="10.0.0.7", limit=LOGIN_IP_LIMIT, window=900)
    assert ratelimit.count(scope="login-ip", ident="10.0.0.7", window=900) == 0
