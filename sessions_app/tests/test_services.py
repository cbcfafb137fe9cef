import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app import services
from sessions_app.exceptions import IllegalTransition, NotAllowed, SlotUnavailable, ValidationFailed
from sessions_app.models import Session, SessionEvent

from .factories import (
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


def test_full_happy_path(client_user, session_type):
    therapist_user = session_type.therapist.user
    session = request(client_user, session_type, start=future_slot(days=2))
    services.session_approve(session=session, actor=therapist_user)
    services.session_payment_processing(
        session=session,
        actor=client_user,
        phone="254708374149",
        checkout_request_id="ws_CO_1",
        merchant_request_id="m1",
    )
    confirmed = services.session_mark_paid(
        session=session, receipt_number="NLJ7RT61SV", amount=3000, phone="254708374149", checkout_request_id="ws_CO_1"
    )
    assert confirmed is not None
    session.refresh_from_db()
    assert (session.status, session.payment_status, session.mpesa_receipt_number) == (S.CONFIRMED, P.PAID, "NLJ7RT61SV")
    # A duplicate confirmation changes nothing.
    assert (
        services.session_mark_paid(
            session=session,
            receipt_number="NLJ7RT61SV",
            amount=3000,
            phone="254708374149",
            checkout_request_id="ws_CO_1",
        )
        is None
    )
    Session.objects.filter(pk=session.pk).update(start=timezone.now() - dt.timedelta(minutes=5))
    services.session_start(session=session, actor=therapist_user)
    services.session_complete(session=session, actor=therapist_user)
    session.refresh_from_db()
    assert session.status == S.COMPLETED
    assert list(session.events.values_list("action", flat=True)) == [
        "request",
        "approve",
        "payment_processing",
        "confirm",
        "start",
        "complete",
    ]


def test_payment_failure_leaves_approved_and_allows_retry(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, approved=True)
    services.session_payment_processing(
        session=session, actor=client_user, phone="254708374149", checkout_request_id="a", merchant_request_id="m"
    )
    # A failure for another (stale) checkout id changes nothing.
    assert (
        services.session_payment_failed(session=session, checkout_request_id="zzz", result_code="1032", result_desc="x")
        is None
    )
    services.session_payment_failed(
        session=session, checkout_request_id="a", result_code="1032", result_desc="Request cancelled by user"
    )
    session.refresh_from_db()
    assert (session.status, session.payment_status, session.mpesa_result_code) == (S.APPROVED, P.FAILED, "1032")
    services.session_payment_processing(
        session=session, actor=client_user, phone="254708374149", checkout_request_id="b", merchant_request_id="m"
    )
    session.refresh_from_db()
    assert (session.payment_status, session.payment_attempts) == (P.PROCESSING, 2)


def test_paid_after_expiry_raises_so_money_is_kept(client_user, session_type):
    session = SessionFactory(client=client_user, session_type=session_type, status=S.EXPIRED)
    with pytest.raises(IllegalTransition):
        services.session_mark_paid(session=session, receipt_number="R1", amount=1, phone="", checkout_request_id="x")


def test_cannot_pay_before_approval(client_user, session_type):
    session = request(client_user, session_type)
    with pytest.raises(IllegalTransition):
        services.session_payment_processing(
            session=session, actor=client_user, phone="254708374149", checkout_request_id="a", merchant_request_id="m"
        )


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
    assert services.cancellation_policy(session=late, actor=client_user)["refund"] is False
    services.session_cancel(session=late, actor=client_user, reason="Sick")
    late.refresh_from_db()
    assert late.refund_due is False
    # Therapist cancelling always refunds a paid session.
    third = SessionFactory(session_type=session_type, confirmed=True, start=timezone.now() + dt.timedelta(hours=30))
    services.session_cancel(session=third, actor=session_type.therapist.user, reason="Unwell")
    third.refresh_from_db()
    assert third.refund_due is True


def test_refund_recorded_by_staff_only(session_type):
    session = SessionFactory(session_type=session_type, confirmed=True, status=S.CANCELLED, refund_due=True)
    with pytest.raises(NotAllowed):
        services.session_mark_refunded(session=session, actor=session.client)
    services.session_mark_refunded(session=session, actor=UserFactory(staff=True))
    session.refresh_from_db()
    assert (session.payment_status, session.refund_due) == (P.REFUNDED, False)


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
    (action, status) for action in ACTIONS for status in S.values if status not in services.TRANSITIONS[action].sources
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
    session = SessionFactory(session_type=session_type, status=next(iter(services.TRANSITIONS[action].sources)))
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


def test_respond_by_is_before_notice_or_48h(therapist):
    now = timezone.now()
    far = services.respond_by_for(start=now + dt.timedelta(days=10), therapist=therapist, now=now)
    assert far == now + dt.timedelta(hours=48)
    near = services.respond_by_for(start=now + dt.timedelta(hours=40), therapist=therapist, now=now)
    assert near == now + dt.timedelta(hours=16)


def test_transition_query_count(client_user, session_type):
    session = request(client_user, session_type)
    with CaptureQueriesContext(connection) as ctx:
        services.session_approve(session=session, actor=session_type.therapist.user)
    # 6 for the transition, the rest for the email notifications_app logs in the same transaction (issue 8).
    assert len(ctx.captured_queries) <= 16
