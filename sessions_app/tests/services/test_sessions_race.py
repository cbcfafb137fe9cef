"""Two clients racing for one slot on real, separate PostgreSQL connections."""

import threading

import pytest
from django.db import connection

from sessions_app import services
from sessions_app.exceptions import SlotUnavailable
from sessions_app.models import Session

from ..factories import ClientFactory, SessionTypeFactory, future_slot

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_clients_race_for_one_slot_exactly_one_wins():
    session_type = SessionTypeFactory()
    clients = [ClientFactory(), ClientFactory()]
    start = future_slot()
    barrier = threading.Barrier(len(clients))
    outcomes: list[str] = []

    def book(client):
        try:
            barrier.wait()
            services.session_request(
                client=client, therapist=session_type.therapist, session_type=session_type, start=start
            )
            outcomes.append("won")
        except SlotUnavailable:
            outcomes.append("slot_taken")
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            outcomes.append(f"error: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["slot_taken", "won"]
    assert Session.objects.filter(start=start).count() == 1


def test_exclusion_constraint_is_the_backstop():
    """Even a write that skips the service cannot double-book on PostgreSQL."""
    from django.db import IntegrityError

    from ..factories import SessionFactory

    session_type = SessionTypeFactory()
    SessionFactory(session_type=session_type, start=future_slot())
    with pytest.raises(IntegrityError):
        SessionFactory(session_type=session_type, start=future_slot(), status=Session.Status.APPROVED)
