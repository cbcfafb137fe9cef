"""Bench data, written straight to booking_bench with bulk inserts (seconds, not minutes).

Everything is deterministic (one seeded Random) and lives in its own database:
``seed_all()`` empties it first. What is made:

- 24 directory therapists: Mon-Sat 08:00-18:00 Nairobi, a 60-minute online type and
  a 90-minute in-person type, 24 h notice, 60 days ahead;
- one busy therapist for the slot finder: Mon-Sat 09:00-17:00, ~400 half-hour
  sessions that do not overlap in the 60 days from tomorrow (``busy_schedule``),
  and the same schedule is handed to django-appointment;
- a client with 50 sessions (past, future, every status) for GET /api/sessions;
- 1,200 booking clients with API tokens (the product allows 10 requests per client
  per day, so no client goes over it);
- payment therapists whose approved sessions the callback scenarios settle.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from sessions_app.models import Session, SessionEvent, SessionType, TherapistProfile, User, WeeklyAvailability

NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
PASSWORD = "bench-pass-2026"
SPECIALTIES = ["Anxiety", "Depression", "Couples", "Grief", "Trauma", "Stress", "Addiction", "Family", "Work"]
LANGUAGES = ["English", "Kiswahili", "Kikuyu", "Dholuo", "French", "Somali"]
CITIES = ["Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret", "Thika"]
FIRST = ["Achieng", "Wanjiru", "Otieno", "Kamau", "Njeri", "Mwangi", "Akinyi", "Kiprono", "Amina", "Baraka", "Zawadi"]
LAST = ["Odhiambo", "Mutua", "Wafula", "Cheruiyot", "Kariuki", "Omondi", "Njoroge", "Hassan", "Mugo", "Were"]

DIRECTORY_THERAPISTS = 24
BOOKING_CLIENTS = 1200
BUSY_SESSIONS = 400
WINDOW_DAYS = 60
LIST_CLIENT_SESSIONS = 50


@dataclass
class Seeded:
    directory: list[TherapistProfile] = field(default_factory=list)
    directory_type: dict[int, SessionType] = field(default_factory=dict)  # therapist pk -> 60-minute type
    busy: TherapistProfile | None = None
    busy_short: SessionType | None = None
    busy_type: SessionType | None = None
    busy_schedule: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    window_start: dt.datetime | None = None
    list_client: User | None = None
    list_token: str = ""
    booking_tokens: list[str] = field(default_factory=list)
    payments: list[TherapistProfile] = field(default_factory=list)
    payments_type: dict[int, SessionType] = field(default_factory=dict)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _users(prefix: str, count: int, role: str, rng: random.Random, password: str) -> list[User]:
    users = [
        User(
            email=f"{prefix}{i}@bench.example.com",
            full_name=_name(rng),
            role=role,
            phone=f"+2547{rng.randrange(10**8):08d}",
            password=password,
        )
        for i in range(count)
    ]
    return User.objects.bulk_create(users)


def _therapists(users: list[User], rng: random.Random, **overrides) -> list[TherapistProfile]:
    profiles = []
    for user in users:
        fields = {
            "title": rng.choice(["Counselling Psychologist", "Clinical Psychologist", "Family Counsellor"]),
            "bio": "Works with adults and couples; evidence-based, warm and practical.",
            "specialties": ", ".join(rng.sample(SPECIALTIES, 3)),
            "languages": ", ".join(["English", *rng.sample(LANGUAGES[1:], 1)]),
            "city": rng.choice(CITIES),
            "buffer_minutes": 0,
            "min_notice_hours": 24,
            "max_advance_days": 60,
        }
        fields.update(overrides)
        profiles.append(TherapistProfile(user=user, **fields))
    return TherapistProfile.objects.bulk_create(profiles)


def _hours(therapists: list[TherapistProfile], start: str, end: str, weekdays=range(6)) -> None:
    WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            therapist=t, weekday=d, start_time=dt.time.fromisoformat(start), end_time=dt.time.fromisoformat(end)
        )
        for t in therapists
        for d in weekdays
    )


def window_start_for(now: dt.datetime) -> dt.datetime:
    """Tomorrow, 00:00 in Nairobi: the slot finder's 60-day window starts there."""
    day = now.astimezone(NAIROBI).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time.min, tzinfo=NAIROBI)


def busy_schedule(window_start: dt.datetime, rng: random.Random) -> list[tuple[dt.datetime, dt.datetime]]:
    """~400 half-hour sessions on distinct half-hours of Mon-Sat 09:00-17:00 in 60 days: half the hours taken."""
    positions = []
    for offset in range(WINDOW_DAYS):
        day = window_start.date() + dt.timedelta(days=offset)
        if day.weekday() > 5:
            continue
        for half in range(16):
            start = dt.datetime.combine(day, dt.time(9), tzinfo=NAIROBI) + dt.timedelta(minutes=30 * half)
            positions.append(start)
    chosen = sorted(rng.sample(positions, BUSY_SESSIONS))
    return [(s, s + dt.timedelta(minutes=30)) for s in chosen]


def _session(*, client, therapist, session_type, start, status, payment_status, now, **extra) -> Session:
    return Session(
        client=client,
        therapist=therapist,
        session_type=session_type,
        start=start,
        end=start + dt.timedelta(minutes=session_type.duration_minutes),
        status=status,
        payment_status=payment_status,
        amount_kes=session_type.price_kes,
        respond_by=now + dt.timedelta(hours=48),
        **extra,
    )


def reset_database() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


@transaction.atomic
def seed_all(now: dt.datetime | None = None) -> Seeded:
    now = now or timezone.now()
    rng = random.Random(9)  # issue 9
    password = make_password(PASSWORD)
    out = Seeded()
    S, P = Session.Status, Session.PaymentStatus

    # Directory therapists.
    users = _users("therapist", DIRECTORY_THERAPISTS, User.Role.THERAPIST, rng, password)
    out.directory = _therapists(users, rng)
    _hours(out.directory, "08:00", "18:00")
    types = []
    for t in out.directory:
        types.append(
            SessionType(
                therapist=t,
                name="Individual session",
                duration_minutes=60,
                price_kes=rng.choice([2500, 3000, 3500, 4000]),
            )
        )
        types.append(
            SessionType(
                therapist=t,
                name="Extended session",
                duration_minutes=90,
                price_kes=5000,
                mode=SessionType.Mode.IN_PERSON,
            )
        )
    for st in SessionType.objects.bulk_create(types):
        if st.duration_minutes == 60:
            out.directory_type[st.therapist_id] = st

    # The busy therapist.
    (busy_user,) = _users("busy-therapist", 1, User.Role.THERAPIST, rng, password)
    (out.busy,) = _therapists([busy_user], rng, min_notice_hours=0, max_advance_days=90)
    _hours([out.busy], "09:00", "17:00")
    out.busy_short, out.busy_type = SessionType.objects.bulk_create(
        [
            SessionType(therapist=out.busy, name="Short check-in", duration_minutes=30, price_kes=1500),
            SessionType(therapist=out.busy, name="Individual session", duration_minutes=60, price_kes=3000),
        ]
    )
    out.window_start = window_start_for(now)
    out.busy_schedule = busy_schedule(out.window_start, rng)
    busy_clients = _users("busy-client", 40, User.Role.CLIENT, rng, password)
    holding = [S.PENDING_APPROVAL, S.APPROVED, S.CONFIRMED]
    Session.objects.bulk_create(
        _session(
            client=busy_clients[i % len(busy_clients)],
            therapist=out.busy,
            session_type=out.busy_short,
            start=start,
            status=holding[i % 3],
            payment_status=P.PAID if holding[i % 3] == S.CONFIRMED else P.PENDING,
            now=now,
        )
        for i, (start, _end) in enumerate(out.busy_schedule)
    )

    # The client with 50 sessions: 20 done, 15 closed (cancelled, declined, expired), 15 upcoming.
    (out.list_client,) = _users("list-client", 1, User.Role.CLIENT, rng, password)
    sessions = []
    for i in range(LIST_CLIENT_SESSIONS):
        therapist = out.directory[i % DIRECTORY_THERAPISTS]
        st = out.directory_type[therapist.pk]
        if i < 20:
            start = (now - dt.timedelta(days=7 * (i + 1))).replace(minute=0, second=0, microsecond=0)
            status, pay = S.COMPLETED, P.PAID
        elif i < 35:
            start = (now + dt.timedelta(days=i - 25)).replace(minute=0, second=0, microsecond=0)
            status, pay = [S.CANCELLED, S.DECLINED, S.EXPIRED][i % 3], P.PENDING
        else:
            # Upcoming ones hold their slot: an evening hour outside the bookable hours, one per day.
            day = (now + dt.timedelta(days=i - 33)).astimezone(NAIROBI).date()
            start = dt.datetime.combine(day, dt.time(19), tzinfo=NAIROBI)
            status, pay = [S.CONFIRMED, S.APPROVED, S.PENDING_APPROVAL][i % 3], P.PAID if i % 3 == 0 else P.PENDING
        receipt = {"mpesa_receipt_number": f"BENCHL{i:04d}"} if pay == P.PAID else {}
        sessions.append(
            _session(
                client=out.list_client,
                therapist=therapist,
                session_type=st,
                start=start,
                status=status,
                payment_status=pay,
                now=now,
                client_notes="First time trying this." if i % 4 == 0 else "",
                **receipt,
            )
        )
    Session.objects.bulk_create(sessions)
    (out.list_token,) = _tokens([out.list_client])

    # Booking clients, each with a token.
    booking_clients = _users("client", BOOKING_CLIENTS, User.Role.CLIENT, rng, password)
    out.booking_tokens = _tokens(booking_clients)

    # Payment therapists: their sessions are made by payments.prepare_* once the payments app exists.
    pay_users = _users("pay-therapist", 4, User.Role.THERAPIST, rng, password)
    out.payments = _therapists(pay_users, rng, accepting_new_clients=False, max_advance_days=365)
    for st in SessionType.objects.bulk_create(
        SessionType(therapist=t, name="Individual session", duration_minutes=60, price_kes=3000) for t in out.payments
    ):
        out.payments_type[st.therapist_id] = st
    return out


def _tokens(users: list[User]) -> list[str]:
    tokens = [Token(user=u, key=Token.generate_key()) for u in users]
    Token.objects.bulk_create(tokens)
    return [t.key for t in tokens]


def analyze() -> None:
    """Fresh planner statistics after bulk loads, as autovacuum would give a live database."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def counts() -> dict[str, int]:
    return {
        "therapists": TherapistProfile.objects.count(),
        "clients": User.objects.filter(role=User.Role.CLIENT).count(),
        "sessions": Session.objects.count(),
        "session_events": SessionEvent.objects.count(),
    }
