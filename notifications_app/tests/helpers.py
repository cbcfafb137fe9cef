"""Drive sessions through the real services, the way views and the payments app do."""

import datetime as dt
import itertools
import zoneinfo

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from sessions_app import services as sessions
from sessions_app.tests.factories import SessionFactory, future_slot

_receipts = itertools.count(1)


def absolute(viewname, *args):
    from django.conf import settings

    return f"{settings.SITE_URL}{reverse(viewname, args=args)}"


def take_outbox():
    sent = list(mail.outbox)
    mail.outbox.clear()
    return sent


def html_of(message) -> str:
    return next(content for content, mimetype in message.alternatives if mimetype == "text/html")


def local(value, zone_name: str):
    return value.astimezone(zoneinfo.ZoneInfo(zone_name))


def request_session(on_commit, *, client, therapist, session_type, start=None):
    return on_commit(
        sessions.session_request,
        client=client,
        therapist=therapist,
        session_type=session_type,
        start=start or future_slot(days=3, hour=10),
        notes="Would like to talk about work stress.",
    )


def approve(on_commit, session):
    return on_commit(sessions.session_approve, session=session, actor=session.therapist.user)


def push(on_commit, session, checkout="ws_CO_1"):
    return on_commit(
        sessions.session_payment_processing,
        session=session,
        actor=session.client,
        phone="254712345678",
        checkout_request_id=checkout,
        merchant_request_id=f"m-{checkout}",
    )


def fail_payment(on_commit, session, checkout="ws_CO_1", desc="You cancelled the request on your phone."):
    return on_commit(
        sessions.session_payment_failed,
        session=session,
        checkout_request_id=checkout,
        result_code="1032",
        result_desc=desc,
    )


def pay(on_commit, session, checkout="ws_CO_1"):
    return on_commit(
        sessions.session_mark_paid,
        session=session,
        receipt_number=f"TKR{next(_receipts):07d}",
        amount=session.amount_kes,
        phone="254712345678",
        checkout_request_id=checkout,
    )


def confirmed_session(on_commit, *, client, therapist, session_type, start=None):
    session = request_session(on_commit, client=client, therapist=therapist, session_type=session_type, start=start)
    approve(on_commit, session)
    push(on_commit, session)
    pay(on_commit, session)
    session.refresh_from_db()
    take_outbox()
    return session


def starting_in(delta, session_type, **kwargs):
    start = (timezone.now() + delta).replace(second=0, microsecond=0)
    kwargs.setdefault("confirmed", True)
    kwargs.setdefault("payment_verified_at", timezone.now() - dt.timedelta(days=3))
    return SessionFactory(session_type=session_type, start=start, **kwargs)
