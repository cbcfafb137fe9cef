"""SessionSerializer builds its JSON directly (issue 21): it must equal what its declared fields give."""

import datetime as dt

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers

from sessions_app.api.sessions import SessionSerializer
from sessions_app.models import Session

from ..factories import ClientFactory, SessionFactory, SessionTypeFactory, UserFactory, future_slot

pytestmark = pytest.mark.django_db

S, P = Session.Status, Session.PaymentStatus


def _sessions() -> list[Session]:
    online = SessionTypeFactory(mode="online", name="Video — première")
    in_person = SessionTypeFactory(therapist=online.therapist, mode="in_person", duration_minutes=90)
    client = ClientFactory(full_name="Wanjiru <b>Kamau</b>")
    rows = [
        SessionFactory(session_type=online, client=client),
        SessionFactory(session_type=online, client=client, approved=True, start=future_slot(days=4)),
        SessionFactory(
            session_type=online,
            client=client,
            confirmed=True,
            start=future_slot(days=5),
            meeting_link="https://meet.example.com/abc",
        ),
        SessionFactory(
            session_type=in_person,
            client=client,
            status=S.DECLINED,
            decline_reason="Away that week.",
            start=future_slot(days=6),
        ),
        SessionFactory(
            session_type=online,
            client=client,
            status=S.CANCELLED,
            payment_status=P.PAID,
            refund_due=True,
            cancel_reason="Ill.",
            mpesa_receipt_number="QWE1234567",
            start=future_slot(days=7),
        ),
        SessionFactory(
            session_type=online,
            client=client,
            status=S.CONFIRMED,
            payment_status=P.PAID,
            start=timezone.now() - dt.timedelta(hours=3),
            end=timezone.now() - dt.timedelta(hours=2),
            client_notes="Line one\nline two",
        ),
    ]
    return list(
        Session.objects.filter(pk__in=[r.pk for r in rows])
        .select_related("client", "therapist__user", "session_type")
        .order_by("pk")
    )


def _generic(serializer: SessionSerializer, session: Session) -> dict:
    return serializers.ModelSerializer.to_representation(serializer, session)


@pytest.mark.parametrize("zone", ["Africa/Nairobi", "UTC", "America/New_York"])
@pytest.mark.parametrize("viewer", ["client", "therapist", "staff", "anonymous"])
def test_direct_json_equals_the_declared_fields(zone, viewer):
    sessions = _sessions()
    users = {
        "client": sessions[0].client,
        "therapist": sessions[0].therapist.user,
        "staff": UserFactory(is_staff=True),
        "anonymous": None,
    }
    request = RequestFactory().get("/api/sessions")
    if users[viewer] is not None:
        request.user = users[viewer]
    else:
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
    with timezone.override(zone):
        for session in sessions:
            serializer = SessionSerializer(session, context={"request": request})
            direct = serializer.data
            assert direct == _generic(serializer, session)
            assert list(direct) == list(_generic(serializer, session))  # same keys in the same order
        listed = SessionSerializer(sessions, many=True, context={"request": request}).data
        assert [dict(row) for row in listed] == [
            _generic(SessionSerializer(s, context={"request": request}), s) for s in sessions
        ]
