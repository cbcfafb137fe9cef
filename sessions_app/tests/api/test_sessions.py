"""The sessions API: request (and its legacy alias), list, detail, approve, decline, cancel."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import Session, SessionEvent

from ..factories import (
    ClientFactory,
    SessionFactory,
    SessionTypeFactory,
    TherapistProfileFactory,
    UserFactory,
    future_slot,
)

pytestmark = pytest.mark.django_db

S = Session.Status
P = Session.PaymentStatus


def api_as(user) -> APIClient:
    """A client authenticated the way API users are: with a token header."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def booking(session_type, /, **overrides) -> dict:
    return {
        "therapist": session_type.therapist_id,
        "session_type": session_type.pk,
        "start": future_slot().isoformat(),
        "notes": "First time.",
        **overrides,
    }


# --- Requesting ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/sessions/request", "/api/sessions"])
def test_client_requests_a_session(url, session_type, client_user):
    start = future_slot(days=5, hour=14)
    response = api_as(client_user).post(
        url, booking(session_type, start=start.isoformat()), format="json", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    session = Session.objects.get()
    assert body["id"] == session.pk
    assert body["reference"] == f"BK{session.pk:06d}"
    assert (body["status"], body["status_label"]) == ("pending_approval", "Pending Approval")
    assert (body["payment_status"], body["payment_status_label"]) == ("pending", "Pending")
    assert body["amount"] == session_type.price_kes == 3000
    assert body["therapist"] == {"id": session_type.therapist_id, "name": session_type.therapist.user.full_name}
    assert body["client"] == {"id": client_user.pk, "name": client_user.full_name}
    assert body["session_type"] == {
        "id": session_type.pk,
        "name": "Individual session",
        "duration": 60,
        "mode": "online",
    }
    assert dt.datetime.fromisoformat(body["start"]) == start
    assert dt.datetime.fromisoformat(body["end"]) == start + dt.timedelta(minutes=60)
    assert body["start"].endswith("+03:00")  # the client's zone, with its offset
    assert body["notes"] == "First time."
    assert body["allowed_actions"] == ["cancel"]
    assert dt.datetime.fromisoformat(body["respond_by"]) > timezone.now()
    assert body["pay_by"] is None and body["mpesa_receipt_number"] is None
    event = SessionEvent.objects.get(session=session)
    assert (event.action, event.source, event.source_ip, event.actor) == ("request", "api", "10.1.2.3", client_user)


def test_times_are_shown_in_the_users_zone(session_type):
    client_user = ClientFactory(time_zone="Europe/London")
    start = future_slot(days=5, hour=14)
    body = api_as(client_user).post(
        "/api/sessions/request", booking(session_type, start=start.isoformat()), format="json"
    )
    shown = dt.datetime.fromisoformat(body.json()["start"])
    assert shown == start
    assert shown.utcoffset() == start.astimezone(zoneinfo.ZoneInfo("Europe/London")).utcoffset()


def test_utc_start_is_accepted(session_type, client_user):
    start = future_slot().astimezone(dt.UTC)
    response = api_as(client_user).post(
        "/api/sessions/request", booking(session_type, start=start.isoformat().replace("+00:00", "Z")), format="json"
    )
    assert response.status_code == 201
    assert Session.objects.get().start == start


def test_idempotency_key_returns_the_same_session(session_type, client_user):
    api = api_as(client_user)
    first = api.post("/api/sessions/request", booking(session_type), format="json", HTTP_IDEMPOTENCY_KEY="tap-1")
    again = api.post("/api/sessions/request", booking(session_type), format="json", HTTP_IDEMPOTENCY_KEY="tap-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert Session.objects.count() == 1
    # Keys are per person: another client's identical key books their own (here: a taken slot).
    other = api_as(ClientFactory()).post(
        "/api/sessions/request", booking(session_type), format="json", HTTP_IDEMPOTENCY_KEY="tap-1"
    )
    assert other.status_code == 409


def test_overlong_idempotency_key_is_refused(session_type, client_user):
    response = api_as(client_user).post(
        "/api/sessions/request", booking(session_type), format="json", HTTP_IDEMPOTENCY_KEY="k" * 201
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Session.objects.exists()


def test_taken_slot_is_409(session_type):
    start = future_slot()
    SessionFactory(session_type=session_type, start=start)
    response = api_as(ClientFactory()).post(
        "/api/sessions/request", booking(session_type, start=start.isoformat()), format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "slot_taken"
    assert "just been taken" in response.json()["message"]
    assert Session.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"therapist": 999999}, "therapist", 400),
        ({"session_type": 999999}, "session_type", 400),
        ({"start": "2030-01-01T10:00:00"}, "start", 400),  # no offset
        ({"start": "tomorrow at ten"}, "start", 400),
        ({"start": "0001-01-01T00:00:00+14:00"}, "start", 400),
        ({"notes": "x" * 2001}, "notes", 400),  # the service's limit
    ],
)
def test_request_validation_by_field(session_type, client_user, change, field, status):
    response = api_as(client_user).post("/api/sessions/request", booking(session_type, **change), format="json")
    assert response.status_code == status
    assert field in response.json()["fields"], response.json()
    assert not Session.objects.exists()


def test_session_type_of_another_therapist_is_refused(session_type, client_user):
    other_type = SessionTypeFactory()
    response = api_as(client_user).post(
        "/api/sessions/request", booking(session_type, session_type=other_type.pk), format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"session_type": ["That session type is not offered by this therapist."]}


def test_past_or_unavailable_time_is_409(session_type, client_user):
    past = timezone.now() - dt.timedelta(days=1)
    response = api_as(client_user).post(
        "/api/sessions/request", booking(session_type, start=past.isoformat()), format="json"
    )
    assert response.status_code == 409
    assert not Session.objects.exists()


def test_only_clients_can_request(session_type):
    therapist_user = TherapistProfileFactory().user
    for user in (therapist_user, UserFactory(staff=True)):
        response = api_as(user).post("/api/sessions/request", booking(session_type), format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "not_allowed"
    assert APIClient().post("/api/sessions/request", booking(session_type), format="json").status_code == 401
    assert not Session.objects.exists()


def test_client_cannot_set_status_price_or_payment_fields(session_type, client_user):
    other = ClientFactory()
    body = booking(
        session_type,
        status="confirmed",
        payment_status="paid",
        amount=1,
        amount_kes=1,
        price=1,
        price_kes=1,
        client=other.pk,
        mpesa_receipt_number="FAKE123",
        mpesa_amount=1,
        refund_due=True,
        meeting_link="https://evil.example.com",
        respond_by="2099-01-01T00:00:00Z",
        id=424242,
    )
    response = api_as(client_user).post("/api/sessions/request", body, format="json")
    assert response.status_code == 201
    session = Session.objects.get()
    assert session.pk != 424242
    assert (session.status, session.payment_status) == (S.PENDING_APPROVAL, P.PENDING)
    assert session.amount_kes == 3000 and session.client == client_user
    assert session.mpesa_receipt_number is None and session.mpesa_amount is None
    assert not session.refund_due and session.meeting_link == ""


def test_daily_booking_limit_is_429(settings, client_user):
    settings.BOOKING_REQUESTS_PER_DAY = 2
    session_type = SessionTypeFactory()
    api = api_as(client_user)
    for hour in (9, 11):
        start = future_slot(hour=hour).isoformat()
        assert api.post("/api/sessions/request", booking(session_type, start=start), format="json").status_code == 201
    response = api.post(
        "/api/sessions/request", booking(session_type, start=future_slot(hour=13).isoformat()), format="json"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert "daily limit" in response.json()["message"]
    assert 0 < int(response["Retry-After"]) <= 24 * 3600
    assert Session.objects.count() == 2
    # Other clients are not affected.
    other = api_as(ClientFactory()).post(
        "/api/sessions/request", booking(session_type, start=future_slot(hour=15).isoformat()), format="json"
    )
    assert other.status_code == 201


# --- Reading ------------------------------------------------------------------------------


def test_list_shows_only_ones_own_sessions():
    mine = SessionFactory()
    theirs = SessionFactory()
    client_ids = [s["id"] for s in api_as(mine.client).get("/api/sessions").json()["results"]]
    assert client_ids == [mine.pk]
    therapist_ids = [s["id"] for s in api_as(theirs.therapist.user).get("/api/sessions").json()["results"]]
    assert therapist_ids == [theirs.pk]
    assert api_as(ClientFactory()).get("/api/sessions").json()["count"] == 0


def test_list_filters_by_status_payment_and_dates():
    client_user = ClientFactory()
    session_type = SessionTypeFactory()
    pending = SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=2))
    approved = SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=4), approved=True)
    paid = SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=6), confirmed=True)
    api = api_as(client_user)

    def ids(**params):
        response = api.get("/api/sessions", params)
        assert response.status_code == 200, response.json()
        return {s["id"] for s in response.json()["results"]}

    assert ids() == {pending.pk, approved.pk, paid.pk}
    assert ids(status="approved") == {approved.pk}
    assert ids(status=["approved", "pending_approval"]) == {approved.pk, pending.pk}
    assert ids(payment_status="paid") == {paid.pk}
    assert ids(**{"from": future_slot(days=3).date().isoformat()}) == {approved.pk, paid.pk}
    assert ids(to=future_slot(days=4).date().isoformat()) == {pending.pk, approved.pk}
    assert ids(**{"from": future_slot(days=4, hour=9).isoformat(), "to": future_slot(days=4, hour=11).isoformat()}) == {
        approved.pk
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"payment_status": "lots"}, "payment_status"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2030-01-01T10:00"}, "to"),
    ],
)
def test_list_refuses_bad_filters(client_user, params, field):
    response = api_as(client_user).get("/api/sessions", params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize("rows", [5, 50])
def test_list_runs_fixed_queries(django_assert_num_queries, rows):
    session_type = SessionTypeFactory()
    client_user = ClientFactory()
    for n in range(rows):
        SessionFactory(
            client=client_user, session_type=session_type, start=future_slot(days=1 + n % 50, hour=8 + n // 50)
        )
    client_api, therapist_api = api_as(client_user), api_as(session_type.therapist.user)
    # token+user, the page with its total (COUNT(*) OVER ())
    with django_assert_num_queries(2):
        response = client_api.get("/api/sessions")
    body = response.json()
    assert len(body["results"]) == min(rows, 20)
    assert body["count"] == rows
    assert (body["next"] is not None) == (rows > 20)
    # token+user, therapist profile, the page with its total
    with django_assert_num_queries(3):
        response = therapist_api.get("/api/sessions", {"status": "pending_approval"})
    assert len(response.json()["results"]) == min(rows, 20)


def test_list_pages_count_and_links_from_the_one_query():
    session_type = SessionTypeFactory()
    client_user = ClientFactory()
    for n in range(45):
        SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=1 + n, hour=9))
    api = api_as(client_user)
    third = api.get("/api/sessions", {"page": 3}).json()
    assert third["count"] == 45 and len(third["results"]) == 5
    assert third["next"] is None and "page=2" in third["previous"]
    first_ids = [row["id"] for row in api.get("/api/sessions").json()["results"]]
    assert first_ids == list(
        Session.objects.filter(client=client_user).order_by("-start", "-id").values_list("pk", flat=True)[:20]
    )
    past_the_end = api.get("/api/sessions", {"page": 4})
    assert past_the_end.status_code == 404
    assert api.get("/api/sessions", {"page": "9" * 18}).status_code == 404  # no bigint overflow
    empty = api_as(ClientFactory()).get("/api/sessions").json()
    assert (empty["count"], empty["results"], empty["next"]) == (0, [], None)


def test_detail_for_client_and_therapist_and_404_for_others():
    session = SessionFactory(approved=True)
    client_view = api_as(session.client).get(f"/api/sessions/{session.pk}")
    assert client_view.status_code == 200
    assert client_view.json()["allowed_actions"] == ["cancel"]
    assert client_view.json()["pay_by"] is not None
    therapist_view = api_as(session.therapist.user).get(f"/api/sessions/{session.pk}")
    assert therapist_view.status_code == 200
    assert therapist_view.json()["allowed_actions"] == ["cancel"]

    for stranger in (ClientFactory(), TherapistProfileFactory().user, UserFactory(staff=True)):
        response = api_as(stranger).get(f"/api/sessions/{session.pk}")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "message": "No such session.", "fields": {}}
    assert api_as(session.client).get("/api/sessions/999999999").status_code == 404
    assert APIClient().get(f"/api/sessions/{session.pk}").status_code == 401


# --- Approve / decline --------------------------------------------------------------------


def test_therapist_approves(client_user):
    session = SessionFactory(client=client_user)
    response = api_as(session.therapist.user).put(f"/api/sessions/{session.pk}/approve", format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["status_label"]) == ("approved", "Approved")
    assert response.json()["pay_by"] is not None
    session.refresh_from_db()
    assert session.status == S.APPROVED
    assert session.events.get(action="approve").source == "api"


def test_approve_ignores_any_fields_in_the_body():
    session = SessionFactory()
    response = api_as(session.therapist.user).put(
        f"/api/sessions/{session.pk}/approve",
        {"status": "confirmed", "payment_status": "paid", "amount": 1, "therapist": 1},
        format="json",
    )
    assert response.status_code == 200
    session.refresh_from_db()
    assert (session.status, session.payment_status, session.amount_kes) == (S.APPROVED, P.PENDING, 3000)


def test_approve_refusals():
    session = SessionFactory()
    url = f"/api/sessions/{session.pk}/approve"
    # Its own client: visible, but not theirs to approve.
    response = api_as(session.client).put(url, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    # Another therapist or client: not visible at all.
    assert api_as(TherapistProfileFactory().user).put(url, format="json").status_code == 404
    assert api_as(ClientFactory()).put(url, format="json").status_code == 404
    assert APIClient().put(url, format="json").status_code == 401
    session.refresh_from_db()
    assert session.status == S.PENDING_APPROVAL


@pytest.mark.parametrize("status", [S.APPROVED, S.DECLINED, S.CANCELLED, S.EXPIRED, S.CONFIRMED])
def test_approve_from_the_wrong_state_is_409(status):
    session = SessionFactory(status=status)
    response = api_as(session.therapist.user).put(f"/api/sessions/{session.pk}/approve", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert "cannot approve" in response.json()["message"]
    session.refresh_from_db()
    assert session.status == status


def test_therapist_declines_with_a_reason():
    session = SessionFactory()
    response = api_as(session.therapist.user).put(
        f"/api/sessions/{session.pk}/decline", {"reason": "  Fully booked that week.  "}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert response.json()["decline_reason"] == "Fully booked that week."
    assert response.json()["allowed_actions"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "This field is required."),
        ({"reason": ""}, "Please give a reason."),
        ({"reason": "   "}, "Please give a reason."),
        ({"reason": "x" * 1001}, "Please keep the reason under 1000 characters."),
        ({"reason": None}, "This field may not be null."),
        ({"reason": 42}, "Must be a string."),
        ({"reason": ["busy"]}, "Must be a string."),
    ],
)
def test_decline_reason_is_required_and_typed(body, message):
    session = SessionFactory()
    response = api_as(session.therapist.user).put(f"/api/sessions/{session.pk}/decline", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"reason": [message]}
    session.refresh_from_db()
    assert session.status == S.PENDING_APPROVAL


def test_decline_refusals():
    session = SessionFactory(approved=True)
    url = f"/api/sessions/{session.pk}/decline"
    assert api_as(session.therapist.user).put(url, {"reason": "No."}, format="json").status_code == 409
    pending = SessionFactory()
    pending_url = f"/api/sessions/{pending.pk}/decline"
    assert api_as(pending.client).put(pending_url, {"reason": "No."}, format="json").status_code == 403
    assert api_as(TherapistProfileFactory().user).put(pending_url, {"reason": "No."}, format="json").status_code == 404
    pending.refresh_from_db()
    assert pending.status == S.PENDING_APPROVAL


def test_wrong_methods_are_405():
    session = SessionFactory()
    api = api_as(session.therapist.user)
    response = api.post(f"/api/sessions/{session.pk}/approve", format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert api.get(f"/api/sessions/{session.pk}/cancel").status_code == 405
    assert api.delete(f"/api/sessions/{session.pk}").status_code == 405


# --- Cancel -------------------------------------------------------------------------------


def test_client_cancels_a_pending_request():
    session = SessionFactory()
    response = api_as(session.client).post(
        f"/api/sessions/{session.pk}/cancel", {"reason": "Plans changed."}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancel_reason"], body["refund_due"]) == ("cancelled", "Plans changed.", False)


def test_therapist_cancels_a_paid_session_and_a_refund_is_due():
    session = SessionFactory(confirmed=True)
    response = api_as(session.therapist.user).post(
        f"/api/sessions/{session.pk}/cancel", {"reason": "Unwell."}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["refund_due"] is True
    assert response.json()["mpesa_receipt_number"] == session.mpesa_receipt_number


def test_cancel_refusals():
    session = SessionFactory(status=S.DECLINED)
    url = f"/api/sessions/{session.pk}/cancel"
    response = api_as(session.client).post(url, {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"

    pending = SessionFactory()
    url = f"/api/sessions/{pending.pk}/cancel"
    assert api_as(pending.client).post(url, {}, format="json").json()["fields"] == {
        "reason": ["This field is required."]
    }
    assert api_as(ClientFactory()).post(url, {"reason": "x"}, format="json").status_code == 404
    assert api_as(TherapistProfileFactory().user).post(url, {"reason": "x"}, format="json").status_code == 404
    pending.refresh_from_db()
    assert pending.status == S.PENDING_APPROVAL


def test_started_session_cannot_be_cancelled():
    start = timezone.now() - dt.timedelta(minutes=5)
    session = SessionFactory(confirmed=True, start=start)
    response = api_as(session.client).post(f"/api/sessions/{session.pk}/cancel", {"reason": "Late."}, format="json")
    assert response.status_code == 409
    assert "already started" in response.json()["message"]


# --- The flat representation ----------------------------------------------------------------


def test_the_flat_json_is_what_the_declared_fields_give():
    """SessionSerializer's JSON is what its declared fields render (the schema comes from them): no hand-built
    to_representation may shadow them."""
    from rest_framework import serializers as drf

    from sessions_app.api.sessions import SessionSerializer
    from sessions_app.selectors import sessions_visible_to

    session_type = SessionTypeFactory()
    client_user = ClientFactory(time_zone="Europe/London")
    SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=2))
    SessionFactory(
        client=client_user,
        session_type=session_type,
        start=future_slot(days=3),
        status=S.CONFIRMED,
        payment_status=P.PAID,
        pay_by=timezone.now(),
        meeting_link="https://meet.example/abc",
        mpesa_receipt_number="QKJ4ABCDE1",
        decline_reason="",
        cancel_reason="Moved.",
        refund_due=True,
    )
    for user in (client_user, session_type.therapist.user):
        request = APIClient().get("/").wsgi_request
        request.user = user
        with timezone.override(zoneinfo.ZoneInfo(user.time_zone)):
            for session in sessions_visible_to(user=user):
                serializer = SessionSerializer(session, context={"request": request})
                assert serializer.data == drf.ModelSerializer.to_representation(serializer, session)


def test_the_session_json_is_exactly_the_published_shape():
    """Every session endpoint's body, key for key and in order, as it was built by hand before the fields
    were declared: ids, the people's names, the brief type, times in the viewer's zone, a blank link as null."""
    import json

    from rest_framework import serializers as drf

    from sessions_app import services

    session_type = SessionTypeFactory()
    client_user = ClientFactory(time_zone="Europe/London")
    plain = SessionFactory(client=client_user, session_type=session_type, start=future_slot(days=2))
    paid = SessionFactory(
        client=client_user,
        session_type=session_type,
        start=future_slot(days=3),
        status=S.CONFIRMED,
        payment_status=P.PAID,
        pay_by=timezone.now(),
        meeting_link="https://meet.example/abc",
        mpesa_receipt_number="QKJ4ABCDE1",
        cancel_reason="Moved.",
        refund_due=True,
    )
    therapist_user = session_type.therapist.user
    for user in (client_user, therapist_user):
        with timezone.override(zoneinfo.ZoneInfo(user.time_zone)):
            render = drf.DateTimeField().to_representation
            for session in (plain, paid):
                session.refresh_from_db()
                expected = {
                    "id": session.pk,
                    "reference": session.reference,
                    "therapist": {"id": session_type.therapist_id, "name": therapist_user.full_name},
                    "client": {"id": client_user.pk, "name": client_user.full_name},
                    "session_type": {
                        "id": session_type.pk,
                        "name": session_type.name,
                        "duration": session_type.duration_minutes,
                        "mode": str(session_type.mode),
                    },
                    "start": render(session.start),
                    "end": render(session.end),
                    "status": str(session.status),
                    "status_label": session.get_status_display(),
                    "payment_status": str(session.payment_status),
                    "payment_status_label": session.get_payment_status_display(),
                    "amount": session.amount_kes,
                    "notes": session.client_notes,
                    "respond_by": render(session.respond_by),
                    "pay_by": render(session.pay_by),
                    "meeting_link": session.meeting_link or None,
                    "decline_reason": session.decline_reason,
                    "cancel_reason": session.cancel_reason,
                    "refund_due": session.refund_due,
                    "mpesa_receipt_number": session.mpesa_receipt_number,
                    "allowed_actions": sorted(
                        services.allowed_actions(session=session, user=user) & services.STATUS_ACTIONS
                    ),
                    "created_at": render(session.created_at),
                }
                response = api_as(user).get(f"/api/sessions/{session.pk}")
                assert response.status_code == 200
                assert response.content == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert api_as(client_user).get(f"/api/sessions/{plain.pk}").json()["meeting_link"] is None
    assert api_as(client_user).get(f"/api/sessions/{paid.pk}").json()["pay_by"] is not None


def test_a_request_answers_from_what_the_service_returned(session_type, client_user, monkeypatch):
    """No re-read of the new session: the service's instance already has its client, therapist and type."""

    def no_reread(**kwargs):
        raise AssertionError("the new session was read again")

    monkeypatch.setattr("sessions_app.api.sessions.selectors.session_get_visible", no_reread)
    response = api_as(client_user).post("/api/sessions/request", booking(session_type), format="json")
    assert response.status_code == 201
    body = response.json()
    session = Session.objects.get(pk=body["id"])
    assert body["therapist"] == {"id": session_type.therapist_id, "name": session_type.therapist.user.full_name}
    assert body["client"] == {"id": client_user.pk, "name": client_user.full_name}
    assert body["session_type"] == {
        "id": session_type.pk,
        "name": session_type.name,
        "duration": session_type.duration_minutes,
        "mode": session_type.mode,
    }
    assert body["reference"] == session.reference
    assert body["status"] == S.PENDING_APPROVAL
    assert body["allowed_actions"] == ["cancel"]
