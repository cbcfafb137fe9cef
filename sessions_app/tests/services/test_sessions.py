import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app import selectors, services
from sessions_app.exceptions import IllegalTransition, NotAllowed, SlotUnavailable, ValidationFailed
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


def request(client_user, session_type, start=None, **kw):
    return services.session_request(
        client=client_user,
        therapist=session_type.therapist,
        session_type=session_type,
        start=start or future_slot(),
        **kw,
    )


def test_request_creates_pending_session_with_event(client_user, session_type):
    session = request(client_user, session_type, notes="First time")
    assert (session.status, session.payment_status) == (S.PENDING_APPROVAL, P.PENDING)
    assert session.amount_kes == session_type.price_kes
    assert session.end - session.start == dt.timedelta(minutes=60)
    assert session.respond_by <= timezone.now() + dt.timedelta(hours=48)
    [event] = session.events.all()
    assert (event.action, event.actor, event.to_status) == ("request", client_user, S.PENDING_APPROVAL)


def test_request_is_idempotent_with_key(client_user, session_type):
    first = request(client_user, session_type, idempotency_key="abc")
    again = request(client_user, session_type, idempotency_key="abc")
    assert first.pk == again.pk
    assert Session.objects.count() == 1


def test_request_refuses_taken_slot(client_user, session_type):
    request(client_user, session_type)
    with pytest.raises(SlotUnavailable):
        request(ClientFactory(), session_type)
    assert Session.objects.count() == 1


def test_request_refuses_overlap_within_buffer(client_user):
    therapist = TherapistProfileFactory(buffer_minutes=15)
    session_type = SessionTypeFactory(therapist=therapist, duration_minutes=60)
    request(client_user, session_type, start=future_slot(hour=10))
    with pytest.raises(SlotUnavailable):
        request(ClientFactory(), session_type, start=future_slot(hour=11))


@pytest.mark.parametrize(
    "start,field",
    [
        (lambda: future_slot(hour=3), None),  # outside weekly hours
        (lambda: timezone.now() + dt.timedelta(hours=2), None),  # inside minimum notice
        (lambda: future_slot(days=90), None),  # beyond furthest booking date
    ],
)
def test_request_refuses_times_outside_rules(client_user, session_type, start, field):
    with pytest.raises(SlotUnavailable):
        request(client_user, session_type, start=start())


def test_request_refuses_naive_time_and_foreign_session_type(client_user, session_type):
    with pytest.raises(ValidationFailed) as exc:
        request(client_user, session_type, start=future_slot().replace(tzinfo=None))
    assert exc.value.field == "start"
    other = SessionTypeFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.session_request(
            client=client_user, therapist=session_type.therapist, session_type=other, start=future_slot()
        )
    assert exc.value.field == "session_type"


def test_only_clients_can_request(session_type):
    with pytest.raises(NotAllowed):
        request(session_type.therapist.user, session_type)


def test_therapist_not_accepting_new_clients(client_user, session_type):
    session_type.therapist.accepting_new_clients = False
    session_type.therapist.save()
    with pytest.raises(ValidationFailed):
        request(client_user, session_type)


# --- Every legal transition ---------------------------------------------------------------


def test_approve_sets_pay_by_and_logs(client_user, session_type):
    session = request(client_user, session_type)
    services.session_approve(session=session, actor=session_type.therapist.user)
    session.refresh_from_db()
    assert session.status == S.APPROVED
    assert session.pay_by is not None and session.pay_by <= session.start
    assert list(session.events.values_list("action", flat=True)) == ["request", "approve"]


def test_decline_requires_reason(client_user, session_type):
    session = request(client_user, session_type)
    with pytest.raises(ValidationFailed):
        services.session_decline(session=session, actor=session_type.therapist.user, reason="  ")
    services.session_decline(session=session, actor=session_type.therapist.user, reason="Fully booked")
    session.refresh_from_db()
    assert (session.status, session.decline_reason) == (S.DECLINED, "Fully booked")


def test_declined_slot_is_free_again(client_user, session_type):
    session = request(client_user, session_type)
    services.session_decline(session=session, actor=session_type.therapist.user, reason="No")
    assert request(ClientFactory(), session_type).status == S.PENDING_APPROVAL


def test_no_show_only_after_start(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, confirmed=True)
    with pytest.raises(IllegalTransition):
        services.session_mark_no_show(session=session, actor=session_type.therapist.user)
    Session.objects.filter(pk=session.pk).update(start=timezone.now() - dt.timedelta(minutes=20))
    services.session_mark_no_show(session=session, actor=session_type.therapist.user)
    session.refresh_from_db()
    assert session.status == S.NO_SHOW


def test_start_refused_too_early(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, confirmed=True)
    with pytest.raises(IllegalTransition, match="15 minutes"):
        services.session_start(session=session, actor=session_type.therapist.user)


@pytest.mark.parametrize("who", ["client", "therapist"])
def test_cancel_pending_by_client_or_therapist(client_user, session_type, who):
    session = request(client_user, session_type)
    actor = client_user if who == "client" else session_type.therapist.user
    services.session_cancel(session=session, actor=actor, reason="Change of plans")
    session.refresh_from_db()
    assert (session.status, session.cancel_reason, session.cancelled_by, session.refund_due) == (
        S.CANCELLED,
        "Change of plans",
        actor,
        False,
    )


def test_cancel_confirmed_refund_policy(client_user, session_type):
    early = SessionFactory(client=client_user, session_type=session_type, confirmed=True, start=future_slot(days=5))
    services.session_cancel(session=early, actor=client_user, reason="Travel")
    early.refresh_from_db()
    assert early.refund_due is True
    late = SessionFactory(
        client=client_user, session_type=session_type, confirmed=True, start=timezone.now() + dt.timedelta(hours=3)
    )
    assert selectors.session_cancellation_policy(session=late, actor=client_user)["refund"] is False
    services.session_cancel(session=late, actor=client_user, reason="Sick")
    late.refresh_from_db()
    assert late.refund_due is False
    # Therapist cancelling always refunds a paid session.
    third = SessionFactory(session_type=session_type, confirmed=True, start=timezone.now() + dt.timedelta(hours=30))
    services.session_cancel(session=third, actor=session_type.therapist.user, reason="Unwell")
    third.refresh_from_db()
    assert third.refund_due is True


# --- Every illegal transition -------------------------------------------------------------

ACTIONS = {
    "approve": lambda s, a: services.session_approve(session=s, actor=a),
    "decline": lambda s, a: services.session_decline(session=s, actor=a, reason="r"),
    "cancel": lambda s, a: services.session_cancel(session=s, actor=a, reason="r"),
    "start": lambda s, a: services.session_start(session=s, actor=a),
    "complete": lambda s, a: services.session_complete(session=s, actor=a),
    "mark_no_show": lambda s, a: services.session_mark_no_show(session=s, actor=a),
}


ILLEGAL = [
    (action, status) for action in ACTIONS for status in S.values if status not in services.MOVES[action].sources
]


@pytest.mark.parametrize("action,status", ILLEGAL)
def test_illegal_transitions_raise_and_change_nothing(session_type, status, action):
    session = SessionFactory(session_type=session_type, status=status)
    actor = session.client if action == "cancel" else session_type.therapist.user
    events_before = SessionEvent.objects.count()
    with pytest.raises(IllegalTransition):
        ACTIONS[action](session, actor)
    session.refresh_from_db()
    assert session.status == status
    assert SessionEvent.objects.count() == events_before


@pytest.mark.parametrize("action", ["approve", "decline", "start", "complete", "mark_no_show"])
def test_client_and_other_therapist_cannot_act(session_type, action):
    session = SessionFactory(session_type=session_type, status=next(iter(services.MOVES[action].sources)))
    for intruder in (session.client, TherapistProfileFactory().user, ClientFactory()):
        with pytest.raises(NotAllowed):
            ACTIONS[action](session, intruder)
    session.refresh_from_db()
    assert session.events.count() == 0


def test_other_client_cannot_cancel(session_type):
    session = SessionFactory(session_type=session_type)
    with pytest.raises(NotAllowed):
        services.session_cancel(session=session, actor=ClientFactory(), reason="mine now")


# --- Expiry -------------------------------------------------------------------------------


def test_expire_due_pending_and_unpaid(session_type):
    now = timezone.now()
    stale = SessionFactory(session_type=session_type, respond_by=now - dt.timedelta(minutes=1))
    fresh = SessionFactory(session_type=session_type, start=future_slot(days=4))
    unpaid = SessionFactory(
        session_type=session_type, approved=True, pay_by=now - dt.timedelta(minutes=1), start=future_slot(days=5)
    )
    in_flight = SessionFactory(
        session_type=session_type,
        approved=True,
        pay_by=now - dt.timedelta(minutes=1),
        payment_status=P.PROCESSING,
        start=future_slot(days=6),
    )
    assert services.sessions_expire_due() == 2
    assert services.sessions_expire_due() == 0  # safe to run twice
    statuses = dict(Session.objects.values_list("pk", "status"))
    assert statuses[stale.pk] == S.EXPIRED
    assert statuses[fresh.pk] == S.PENDING_APPROVAL
    assert statuses[unpaid.pk] == S.EXPIRED
    assert statuses[in_flight.pk] == S.APPROVED


def test_transition_query_count(client_user, session_type):
    session = request(client_user, session_type)
    with CaptureQueriesContext(connection) as ctx:
        services.session_approve(session=session, actor=session_type.therapist.user)
    # 6 for the transition, the rest for the email notifications_app logs in the same transaction (issue 8).
    assert len(ctx.captured_queries) <= 16


# --- What allowed_actions answers ---------------------------------------------------------


def test_allowed_actions_answers_pay_for_the_client_of_an_approved_unpaid_session(session_type):
    session = SessionFactory(session_type=session_type, approved=True)
    assert services.allowed_actions(session=session, user=session.client) == {"cancel", "pay"}
    for status in (P.FAILED, P.PENDING):
        session.payment_status = status
        assert "pay" in services.allowed_actions(session=session, user=session.client)
    for status in (P.PROCESSING, P.PAID, P.REFUNDED):
        session.payment_status = status
        assert "pay" not in services.allowed_actions(session=session, user=session.client)
    session.payment_status = P.PENDING
    for other in (session.therapist.user, ClientFactory(), UserFactory(staff=True)):
        assert "pay" not in services.allowed_actions(session=session, user=other)
    session.status = S.PENDING_APPROVAL
    assert "pay" not in services.allowed_actions(session=session, user=session.client)


@pytest.mark.parametrize("status", [S.APPROVED, S.CONFIRMED, S.IN_PROGRESS])
def test_allowed_actions_answers_set_link_for_the_sessions_therapist_on_online_sessions(session_type, status):
    session = SessionFactory(session_type=session_type, status=status)
    therapist = session.therapist.user
    assert "set_link" in services.allowed_actions(session=session, user=therapist)
    for other in (session.client, TherapistProfileFactory().user):
        assert "set_link" not in services.allowed_actions(session=session, user=other)
    in_person = SessionTypeFactory(therapist=session.therapist, mode="in_person")
    session.session_type = in_person
    assert "set_link" not in services.allowed_actions(session=session, user=therapist)


@pytest.mark.parametrize("status", [S.PENDING_APPROVAL, S.DECLINED, S.COMPLETED, S.CANCELLED])
def test_set_link_refused_outside_approved_to_running(session_type, status):
    session = SessionFactory(session_type=session_type, status=status)
    assert "set_link" not in services.allowed_actions(session=session, user=session.therapist.user)
    with pytest.raises(IllegalTransition):
        services.session_meeting_link_set(session=session, actor=session.therapist.user, link="https://meet.example/x")
    assert session.events.count() == 0


def test_set_link_goes_through_the_table_and_writes_one_event(session_type):
    session = SessionFactory(session_type=session_type, approved=True)
    with pytest.raises(NotAllowed):
        services.session_meeting_link_set(session=session, actor=session.client, link="https://meet.example/x")
    services.session_meeting_link_set(session=session, actor=session.therapist.user, link="https://meet.example/x")
    session.refresh_from_db()
    assert session.meeting_link == "https://meet.example/x"
    event = session.events.get()
    assert (event.action, event.from_status, event.to_status) == ("set_link", S.APPROVED, S.APPROVED)


def test_the_api_action_names_are_the_status_buttons():
    assert {"approve", "decline", "cancel", "start", "complete", "mark_no_show"} == services.STATUS_ACTIONS
    assert {"pay", "set_link"} == services.PAGE_ACTIONS


def test_the_packages_export_what_they_name():
    from sessions_app import selectors

    assert [name for name in services.__all__ if not hasattr(services, name)] == []
    assert [name for name in selectors.__all__ if not hasattr(selectors, name)] == []
