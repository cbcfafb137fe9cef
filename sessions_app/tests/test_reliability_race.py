"""Double booking under real concurrency: separate OS processes, separate PostgreSQL connections.

Each process goes through the whole web stack (Django test client -> view ->
service -> database), so a server error would show as a 500.
"""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connections

from sessions_app.models import Session, SessionEvent

from .factories import ClientFactory, SessionFactory, SessionTypeFactory, future_slot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CTX = multiprocessing.get_context("fork")


def _in_child(barrier, queue, index, fn, args):
    """Run fn in a forked child with its own database connection; report its result (or the error) on the queue."""
    for conn in connections.all():
        conn.connection = None  # forget (never close) the parent's socket; open our own
    try:
        barrier.wait(timeout=60)
        queue.put((index, fn(*args)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as data
        queue.put((index, f"error: {exc!r}"))
    finally:
        connections.close_all()


def _book_over_http(client_id: int, therapist_id: int, session_type_id: int, start_iso: str) -> str:
    from django.test import Client

    from sessions_app.models import User

    client = Client()
    client.force_login(User.objects.get(pk=client_id))
    response = client.post(
        "/api/sessions/request",
        {"therapist": therapist_id, "session_type": session_type_id, "start": start_iso, "notes": ""},
        content_type="application/json",
    )
    if response.status_code == 201:
        return "won"
    if response.status_code == 409 and response.json().get("code") == "slot_taken":
        return "slot_taken"
    return f"status {response.status_code}: {response.content[:200]!r}"


def _approve(therapist_user_id: int, session_id: int) -> str:
    from sessions_app import services
    from sessions_app.exceptions import IllegalTransition
    from sessions_app.models import User

    try:
        services.session_approve(session=session_id, actor=User.objects.get(pk=therapist_user_id))
        return "approved"
    except IllegalTransition:
        return "already"


def _race(fn, argsets):
    """Start one process per argument set, release them together, return their outcomes in order."""
    connections.close_all()
    barrier, queue = CTX.Barrier(len(argsets)), CTX.Queue()
    procs = [CTX.Process(target=_in_child, args=(barrier, queue, i, fn, args)) for i, args in enumerate(argsets)]
    for proc in procs:
        proc.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(30)
    return [results[i] for i in range(len(argsets))]


def test_twenty_clients_race_for_one_slot_over_http():
    session_type = SessionTypeFactory()
    clients = [ClientFactory() for _ in range(20)]
    start = future_slot()
    outcomes = _race(
        _book_over_http,
        [(c.pk, session_type.therapist_id, session_type.pk, start.isoformat()) for c in clients],
    )
    assert outcomes.count("won") == 1, outcomes
    assert outcomes.count("slot_taken") == 19, outcomes
    assert Session.objects.filter(therapist=session_type.therapist, start=start).count() == 1


def test_therapist_approving_from_two_processes_approves_once():
    session = SessionFactory()
    outcomes = _race(_approve, [(session.therapist.user_id, session.pk)] * 2)
    assert sorted(outcomes) == ["already", "approved"]
    assert SessionEvent.objects.filter(session=session, action="approve").count() == 1


def test_overlapping_requests_cannot_both_hold_the_slot():
    """Two overlapping requests never coexist (pending holds the slot), so a therapist can never approve both."""
    session_type = SessionTypeFactory(duration_minutes=60)
    start = future_slot(hour=10)
    outcomes = _race(
        _book_over_http,
        [
            (ClientFactory().pk, session_type.therapist_id, session_type.pk, start.isoformat()),
            (ClientFactory().pk, session_type.therapist_id, session_type.pk, start.replace(minute=30).isoformat()),
        ],
    )
    assert sorted(outcomes) == ["slot_taken", "won"], outcomes
