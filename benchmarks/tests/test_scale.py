"""The --scale datasets and table: the generator's rows obey the schema's rules; the verdict reads the figures."""

import pytest
from django.db import connection

from benchmarks import scale, scale_data
from notifications_app.models import Notification
from payments_app.models import MpesaCallback, PaymentAttempt
from sessions_app.models import Session, SessionEvent, TherapistProfile, User

pytestmark = pytest.mark.django_db(transaction=True)

TINY = scale_data.Sizes(therapists=6, clients=40, sessions=600, busy=120, busy_ahead=40, client_sessions=12)


def test_generator_makes_the_sizes_asked_within_the_schemas_constraints():
    with connection.cursor() as cursor:
        for _label, sql in scale_data.statements(TINY):
            for statement in sql.split(";\n"):
                cursor.execute(statement)  # the no-overlap exclusion and every check constraint hold
    assert TherapistProfile.objects.count() == TINY.therapists
    assert User.objects.filter(role=User.Role.CLIENT).count() == TINY.clients
    assert Session.objects.count() == TINY.sessions
    assert Session.objects.filter(therapist_id=1).count() == TINY.busy
    list_client = User.objects.filter(role=User.Role.CLIENT).order_by("pk").first()
    assert list_client.sessions_as_client.count() == TINY.client_sessions
    # The denormalised price agrees with the types, as SessionType.save() would have left it.
    for profile in TherapistProfile.objects.all():
        assert profile.from_price == min(t.price_kes for t in profile.session_types.filter(is_active=True))
    assert SessionEvent.objects.count() > 3 * TINY.sessions
    assert PaymentAttempt.objects.count() == MpesaCallback.objects.count() > 0
    assert Notification.objects.count() >= 6 * TINY.sessions
    # Sequences continue after the explicit ids: the product can still insert.
    assert User.objects.create_user(email="new@example.com", password="a-strong-test-pass-2026").pk > TINY.clients


def test_scaled_sizes_never_fall_below_the_small_ones():
    assert scale_data.scaled(1) == scale_data.LARGE
    tiny = scale_data.scaled(0.001)
    assert tiny.therapists == scale_data.SMALL.therapists and tiny.sessions == scale_data.SMALL.sessions


def test_verdict():
    small = scale.Figure(queries=3, times=[10.0, 11.0, 12.0])
    assert scale.verdict("directory page 1", small, scale.Figure(queries=3, times=[14.0, 15.0])) == "flat"
    assert "queries grow" in scale.verdict("x", small, scale.Figure(queries=30, times=[11.0]))
    assert "×2.0" in scale.verdict("x", small, scale.Figure(queries=3, times=[22.0]))
    slow_admin = scale.verdict("admin sessions list", scale.Figure(3, [290.0]), scale.Figure(3, [310.0]))
    assert "over 300 ms" in slow_admin
