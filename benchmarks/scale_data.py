"""The --scale datasets: a platform-sized database and a small one, made by SQL in PostgreSQL itself.

Everything is generated server-side with ``INSERT ... SELECT generate_series`` (no rows cross the
wire), deterministic (ids and values are functions of the row number), in the bench's own
databases ``booking_scale_small`` and ``booking_scale_large``. Sizes (issue 21), at ``factor`` 1:

- 2,004 therapists (Mon-Sat 08:00-18:00 Nairobi, a 60-minute online and a 90-minute in-person
  type), one of them busy (5,000 sessions: 400 in the next 60 days, the rest over two years);
- 50,000 clients; one of them has 300 sessions (the "my sessions" and session list figures);
- 500,000 sessions over the last two years and the next 60 days, never overlapping per therapist;
- ~5 session events per session (request .. complete), a payment attempt and its callback per
  paid session, ~6.3 notifications per session, an audit entry per five sessions.

The small dataset is the same generator at the sizes of ``make bench``: 25 therapists, a busy
therapist with 400 sessions, a client with 50, 1,200 clients, 5,000 sessions in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PASSWORD_HASH = "md5$benchsalt$0d8f9e5d8c2f5a4c8fdc1b0d7c3d2e11"  # nobody logs in with a password here
DAYS_PAST, DAYS_AHEAD = 730, 60


@dataclass(frozen=True)
class Sizes:
    therapists: int
    clients: int
    sessions: int
    busy: int  # the busy therapist's sessions
    busy_ahead: int  # of them, in the next 60 days
    client_sessions: int  # the list client's

    def describe(self) -> str:
        return (
            f"{self.therapists:,} therapists, {self.clients:,} clients, {self.sessions:,} sessions "
            f"(busy therapist {self.busy:,}, a client with {self.client_sessions:,})"
        )


SMALL = Sizes(therapists=25, clients=1_200, sessions=5_000, busy=400, busy_ahead=400, client_sessions=50)
LARGE = Sizes(therapists=2_004, clients=50_000, sessions=500_000, busy=5_000, busy_ahead=400, client_sessions=300)


def scaled(factor: float) -> Sizes:
    """LARGE times ``factor`` (for a first, lighter try), never below SMALL."""
    if factor >= 1:
        return LARGE

    def f(name: str) -> int:
        return max(getattr(SMALL, name), math.ceil(getattr(LARGE, name) * factor))

    return Sizes(
        therapists=f("therapists"),
        clients=f("clients"),
        sessions=f("sessions"),
        busy=f("busy"),
        busy_ahead=SMALL.busy_ahead,
        client_sessions=f("client_sessions"),
    )


# Ids: user 1 is staff, users 2 .. T+1 the therapists (profile id = user id - 1; profile 1 is the
# busy one), users T+2 .. T+1+C the clients (the first is the list client). Types 2t-1 (60 min,
# online) and 2t (90 min, in person) belong to profile t.
def statements(s: Sizes) -> list[tuple[str, str]]:
    T, C = s.therapists, s.clients
    first_client = T + 2
    other = T - 1  # therapists other than the busy one
    regular = s.sessions - s.busy - s.client_sessions
    per_therapist = math.ceil(regular / other)
    if per_therapist > DAYS_PAST + DAYS_AHEAD:
        raise ValueError("more regular sessions per therapist than days: they would overlap")
    past_busy = s.busy - s.busy_ahead
    past_busy_days = max(1, math.ceil(past_busy / 7))
    day0 = f"(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '{DAYS_PAST} days') AT TIME ZONE 'UTC'"
    tomorrow = "(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'"
    span = DAYS_PAST + DAYS_AHEAD
    status_sql = """
        CASE WHEN st < now() THEN
            CASE WHEN n % 20 IN (0, 1) THEN 'cancelled' WHEN n % 20 = 2 THEN 'declined'
                 WHEN n % 20 = 3 THEN 'expired' WHEN n % 20 = 4 THEN 'no_show' ELSE 'completed' END
        ELSE CASE n % 3 WHEN 0 THEN 'pending_approval' WHEN 1 THEN 'approved' ELSE 'confirmed' END END"""
    session_cols = (
        'start, "end", status, payment_status, amount_kes, client_notes, decline_reason, cancel_reason, '
        "refund_due, meeting_link, respond_by, payment_method, mpesa_phone, mpesa_checkout_request_id, "
        "mpesa_merchant_request_id, mpesa_result_code, mpesa_result_desc, payment_attempts, created_at, "
        "updated_at, client_id, session_type_id, therapist_id"
    )

    def sessions_from(source: str) -> str:
        # source yields (n, st, minutes, client, type, therapist, price)
        return f"""
        INSERT INTO sessions_app_session ({session_cols})
        SELECT st, st + make_interval(mins => minutes), status,
               CASE WHEN status IN ('completed', 'no_show', 'confirmed') THEN 'paid' ELSE 'pending' END,
               price, '', '', '', false, '', st - interval '5 days', 'mpesa', '', '', '', '', '', 0,
               st - interval '7 days', st - interval '7 days', client, type, therapist
        FROM (SELECT *, {status_sql} AS status FROM ({source}) src) rows"""

    out = [
        (
            "users",
            f"""
        INSERT INTO sessions_app_user (id, password, is_superuser, email, full_name, phone, role, time_zone,
                                       is_active, is_staff, date_joined)
        SELECT 1, '{PASSWORD_HASH}', true, 'staff@bench.example.com', 'Bench Staff', '+254700000001', 'staff',
               'Africa/Nairobi', true, true, now()
        UNION ALL
        SELECT n, '{PASSWORD_HASH}', false,
               CASE WHEN n <= {T + 1} THEN 'therapist' || n ELSE 'client' || n END || '@bench.example.com',
               (ARRAY['Achieng','Wanjiru','Otieno','Kamau','Njeri','Mwangi','Akinyi','Kiprono','Amina','Baraka'])[1 + n % 10]
               || ' ' || (ARRAY['Odhiambo','Mutua','Wafula','Cheruiyot','Kariuki','Omondi','Njoroge','Hassan','Mugo','Were'])[1 + (n / 10) % 10]
               || ' ' || n,
               '+2547' || lpad((n % 100000000)::text, 8, '0'),
               CASE WHEN n <= {T + 1} THEN 'therapist' ELSE 'client' END, 'Africa/Nairobi', true, false, now()
        FROM generate_series(2, {T + 1 + C}) n""",
        ),
        (
            "therapists",
            f"""
        INSERT INTO sessions_app_therapistprofile (id, title, bio, specialties, languages, city,
            accepting_new_clients, time_zone, buffer_minutes, min_notice_hours, max_advance_days, created_at,
            updated_at, user_id, from_price)
        SELECT t, (ARRAY['Counselling Psychologist','Clinical Psychologist','Family Counsellor'])[1 + t % 3],
               'Works with adults and couples; evidence-based, warm and practical.',
               (ARRAY['Anxiety, Depression, Grief','Couples, Family, Stress','Trauma, Addiction, Work'])[1 + t % 3],
               (ARRAY['English, Kiswahili','English, Kikuyu','English, Dholuo','English, French'])[1 + t % 4],
               (ARRAY['Nairobi','Mombasa','Kisumu','Nakuru','Eldoret','Thika'])[1 + t % 6],
               true, 'Africa/Nairobi', 0, CASE WHEN t = 1 THEN 0 ELSE 24 END, CASE WHEN t = 1 THEN 90 ELSE 60 END,
               now(), now(), t + 1, 2500 + (t % 4) * 500
        FROM generate_series(1, {T}) t""",
        ),
        (
            "session types and hours",
            f"""
        INSERT INTO sessions_app_sessiontype (id, name, duration_minutes, price_kes, mode, is_active, therapist_id)
        SELECT 2 * t - 1, 'Individual session', 60, 2500 + (t % 4) * 500, 'online', true, t FROM generate_series(1, {T}) t
        UNION ALL
        SELECT 2 * t, 'Extended session', 90, 5000, 'in_person', true, t FROM generate_series(1, {T}) t;
        INSERT INTO sessions_app_weeklyavailability (weekday, start_time, end_time, therapist_id)
        SELECT d, '08:00', '18:00', t FROM generate_series(1, {T}) t, generate_series(0, 5) d""",
        ),
        (
            "sessions: the busy therapist's",
            # Nairobi 09:00-15:00 is 06:00-12:00 UTC: seven back-to-back hours a day.
            sessions_from(f"""
            SELECT k AS n, {tomorrow} + make_interval(days => k / 7, hours => 6 + k % 7) AS st, 60 AS minutes,
                   {first_client + 1} + (k::bigint * 7919) % {C - 1} AS client, 1 AS type, 1 AS therapist, 3000 AS price
            FROM generate_series(0, {s.busy_ahead - 1}) k
            UNION ALL
            SELECT k, {day0} + make_interval(days => (k / 7) * {DAYS_PAST - 2} / {past_busy_days}, hours => 6 + k % 7),
                   60, {first_client + 1} + (k::bigint * 7919) % {C - 1}, 1, 1, 3000
            FROM generate_series(0, {past_busy - 1}) k"""),
        ),
        (
            "sessions: the list client's",
            # 19:00 Nairobi (16:00 UTC): outside the hours the regular sessions use.
            sessions_from(f"""
            SELECT j AS n, {day0} + make_interval(days => j * {span - 1} / {s.client_sessions}, hours => 16) AS st,
                   60 AS minutes, {first_client} AS client, 2 * (2 + j % {other}) - 1 AS type,
                   2 + j % {other} AS therapist, 3000 AS price
            FROM generate_series(0, {s.client_sessions - 1}) j"""),
        ),
        (
            "sessions: everyone else's",
            # Therapist 2 + i % other, its k-th session on its own day, 08:00-17:00 Nairobi (05-14 UTC).
            sessions_from(f"""
            SELECT i AS n,
                   {day0} + make_interval(days => (i / {other}) * {span - 1} / {per_therapist}, hours => 5 + i % 10) AS st,
                   60 AS minutes, {first_client + 1} + (i::bigint * 7919) % {C - 1} AS client,
                   2 * (2 + i % {other}) - 1 AS type, 2 + i % {other} AS therapist, 2500 + ((2 + i % {other}) % 4) * 500 AS price
            FROM generate_series(0, {regular - 1}) i"""),
        ),
        (
            "session events",
            """
        INSERT INTO sessions_app_sessionevent (action, at, from_status, to_status, from_payment_status,
                                               to_payment_status, note, source, source_ip, actor_id, session_id)
        SELECT (ARRAY['request','approve','payment_processing','confirm','complete','receipt'])[g],
               s.created_at + make_interval(hours => g), '', CASE WHEN g = 5 THEN 'completed' ELSE '' END, '', '', '',
               (ARRAY['web','web','web','daraja','web','daraja'])[g], NULL, NULL, s.id
        FROM sessions_app_session s,
             generate_series(1, CASE WHEN s.status = 'completed' THEN 5 + (s.id % 10 < 6)::int ELSE 3 END) g""",
        ),
        (
            "payment attempts and callbacks",
            """
        INSERT INTO payments_app_paymentattempt (phone, amount, account_reference, merchant_request_id,
            checkout_request_id, status, result_code, result_desc, message, payer_phone, initiated_at, needs_review,
            review_reason, problem_class, problem, created_at, updated_at, session_id)
        SELECT '254712345678', s.amount_kes, 'BK' || lpad(s.id::text, 6, '0'), 'mr-' || s.id, 'ws_CO_' || s.id,
               CASE WHEN s.payment_status = 'paid' THEN 'succeeded' ELSE 'failed' END,
               CASE WHEN s.payment_status = 'paid' THEN '0' ELSE '1032' END, '', '', '',
               s.created_at + interval '1 hour', false, '', '', '', s.created_at, s.created_at, s.id
        FROM sessions_app_session s WHERE s.payment_status = 'paid' OR s.id % 10 = 0;
        INSERT INTO payments_app_mpesacallback (received_at, source_ip, checkout_request_id, merchant_request_id,
            result_code, payload, processed_at, process_tries, outcome, note, attempt_id)
        SELECT a.initiated_at + interval '1 minute', '196.201.214.200', a.checkout_request_id, a.merchant_request_id,
               a.result_code, '{}'::jsonb, a.initiated_at + interval '61 seconds', 1,
               CASE WHEN a.status = 'succeeded' THEN 'paid' ELSE 'failed' END, '', a.id
        FROM payments_app_paymentattempt a""",
        ),
        (
            "notifications",
            """
        INSERT INTO notifications_app_notification (kind, status, attempts, last_error, to_email, subject,
            provider_message_id, delivery_status, delivery_detail, sent_at, created_at, updated_at, recipient_id,
            session_id)
        SELECT k.kind, 'sent', 1, '', '', 'Your session', '', 'delivered', '', s.created_at + make_interval(mins => g),
               s.created_at + make_interval(mins => g), s.created_at + make_interval(mins => g),
               CASE WHEN k.kind LIKE 'therapist%' THEN s.therapist_id + 1 ELSE s.client_id END, s.id
        FROM sessions_app_session s,
             generate_series(1, 6 + (s.id % 3 = 0)::int) g,
             LATERAL (SELECT (ARRAY['client_request_received','therapist_new_request','client_approved',
                     'client_confirmed','therapist_payment_received','reminder_24h','reminder_1h'])[g] AS kind) k""",
        ),
        (
            "audit entries",
            f"""
        INSERT INTO sessions_app_auditentry (at, action, model, object_id, detail, path, source_ip, actor_id)
        SELECT now() - make_interval(mins => n), (ARRAY['view','list'])[1 + n % 2], 'sessions_app.session',
               (1 + n % {s.sessions})::text, '', '/admin/', '10.0.0.1', 1
        FROM generate_series(1, {max(100, s.sessions // 5)}) n""",
        ),
        (
            "sequences",
            ";\n".join(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                for table in ("sessions_app_user", "sessions_app_therapistprofile", "sessions_app_sessiontype")
            ),
        ),
    ]
    return out
