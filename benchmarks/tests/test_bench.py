"""The bench's own parts: baselines, seed data, request lists, wrk's list walker, the table. No timings asserted.

TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/booking_benchtest .venv/bin/pytest benchmarks/tests
"""

import datetime as dt
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from benchmarks import loadgen, payloads, report, seed
from payments_app import daraja
from payments_app.daraja.simulator import DarajaSimulator, SimConfig, Transaction, outcome_for
from payments_app.models import MpesaCallback, PaymentAttempt
from sessions_app.models import Session, TherapistProfile
from sessions_app.selectors import slot_is_free
from sessions_app.tests.factories import TherapistProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench_templates(settings):
    settings.TEMPLATES = [
        {**django_settings.TEMPLATES[0], "DIRS": [*django_settings.TEMPLATES[0]["DIRS"], seed_templates()]}
    ]


def seed_templates():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def now():
    return timezone.now()  # function-scoped: read inside the test's pinned clock, not before it


@pytest.fixture
def seeded(now):
    return seed.seed_all(now)


# --- Baselines -------------------------------------------------------------------------------


@pytest.mark.urls("benchmarks.urls")
def test_bare_baseline_answers_a_fixed_body_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/bench/bare")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "service": "baseline", "version": 1}


@pytest.mark.urls("benchmarks.urls")
def test_one_query_baseline_reads_one_row_by_primary_key(client, django_assert_num_queries):
    therapist = TherapistProfileFactory(city="Kisumu")
    with django_assert_num_queries(1):
        response = client.get(f"/bench/one/{therapist.pk}")
    assert response.json()["city"] == "Kisumu"
    assert client.get(f"/bench/one/{therapist.pk + 1000}").status_code == 404


@pytest.mark.urls("benchmarks.urls")
def test_template_baseline_lists_twenty_rows_from_one_query_through_the_base_template(
    client, bench_templates, django_assert_num_queries
):
    TherapistProfileFactory.create_batch(22)
    with django_assert_num_queries(1):
        response = client.get("/bench/rows")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<tr><td>") == 20
    assert 'class="site-header"' in body  # it went through templates/base.html


# --- Seed data -------------------------------------------------------------------------------


def test_seed_makes_the_busy_therapist_the_list_client_and_the_booking_clients(seeded, now):
    assert len(seeded.directory) == seed.DIRECTORY_THERAPISTS
    assert len(seeded.booking_tokens) == seed.BOOKING_CLIENTS
    assert Session.objects.filter(client=seeded.list_client).count() == seed.LIST_CLIENT_SESSIONS
    busy = Session.objects.filter(therapist=seeded.busy).order_by("start")
    assert busy.count() == seed.BUSY_SESSIONS
    starts = list(busy.values_list("start", "end"))
    assert all(end <= nxt for (_s, end), (nxt, _e) in zip(starts, starts[1:], strict=False))
    for start, end in starts:
        local = start.astimezone(seed.NAIROBI)
        assert local.weekday() < 6
        assert dt.time(9) <= local.time() and end.astimezone(seed.NAIROBI).time() <= dt.time(17)
        assert seeded.window_start <= start < seeded.window_start + dt.timedelta(days=seed.WINDOW_DAYS)


def test_busy_schedule_is_the_same_for_the_same_seed(now):
    import random

    start = seed.window_start_for(now)
    assert seed.busy_schedule(start, random.Random(9)) == seed.busy_schedule(start, random.Random(9))


# --- Request lists ---------------------------------------------------------------------------


def test_booking_slots_are_free_do_not_overlap_and_alternate_therapists(seeded, now):
    slots = payloads.booking_slots(seeded, now)
    assert len(slots) > 2 * 3000
    first = slots[: len(seeded.directory)]
    assert len({therapist for therapist, _st, _start in first}) == len(seeded.directory)
    by_therapist = {}
    for therapist, _st, start in slots:
        by_therapist.setdefault(therapist, []).append(start)
    for starts in by_therapist.values():
        assert len(starts) == len(set(starts))
        assert all(s.minute == 0 for s in starts)  # whole hours: 60-minute requests never overlap
    for therapist, session_type, start in slots[:: len(slots) // 10]:
        profile = TherapistProfile.objects.get(pk=therapist)
        assert slot_is_free(therapist=profile, session_type=profile.session_types.get(pk=session_type), start=start)


def test_booking_items_keep_every_client_under_the_daily_limit(seeded, now):
    slots = payloads.booking_slots(seeded, now)[:3000]
    lines = payloads.booking_items(slots, seeded.booking_tokens)
    per_token = {}
    for line in lines:
        method, path, token, body = line.split("\t")
        assert (method, path) == ("POST", "/api/sessions/request")
        per_token[token] = per_token.get(token, 0) + 1
        assert set(json.loads(body)) == {"therapist", "session_type", "start", "notes"}
    assert max(per_token.values()) <= min(payloads.BOOKINGS_PER_CLIENT, django_settings.BOOKING_REQUESTS_PER_DAY)
    with pytest.raises(ValueError):
        payloads.booking_items(slots, seeded.booking_tokens[:10])


def test_phones_are_distinct_and_all_paid_by_the_simulator():
    phones = [payloads.phone_for(i) for i in range(60_000)]
    assert len(set(phones)) == len(phones)
    assert all(len(p) == 12 and p.startswith("2547") for p in phones)
    assert {outcome_for(p).result_code for p in phones} == {0}
    assert {outcome_for(p).callbacks for p in phones} == {1}


def test_callback_body_has_the_simulators_shape_and_parses():
    sim = DarajaSimulator(SimConfig(callbacks=False), port=0)
    try:
        txn = Transaction(
            "ws_CO_1", "1-2-3", "254712345670", 3000, "BK000001", "http://x", outcome_for("0"), 0.0, "SABC123456", {}
        )
        theirs = sim.callback_body(txn)
    finally:
        sim.httpd.server_close()
    ours = payloads.callback_body(
        checkout_request_id="ws_CO_1",
        merchant_request_id="1-2-3",
        amount=3000,
        phone="254712345670",
        receipt="SABC123456",
    )

    def strip(body):
        return [(i["Name"], type(i.get("Value"))) for i in body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]]

    assert strip(ours) == strip(theirs)
    parsed = daraja.parse_callback(ours)
    # ResultCodes are strings end to end (issue 22).
    assert (parsed.checkout_request_id, parsed.result_code) == ("ws_CO_1", "0")


def test_callback_lines_post_to_the_real_callback_url_and_are_stored(seeded, now, client):
    clients = list(seeded.list_client.__class__.objects.filter(email__startswith="client")[:5])
    attempts = payloads.processing_attempts(seeded, 5, now + dt.timedelta(days=3), clients, offset=0)
    assert len({a.checkout_request_id for a in attempts}) == 5
    assert all(a.status == PaymentAttempt.Status.PROCESSING for a in attempts)
    lines = payloads.callback_lines(attempts, payloads.callback_path())
    method, path, token, body = lines[0].split("\t")
    assert (method, token) == ("POST", "-")
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 200
    assert MpesaCallback.objects.filter(checkout_request_id=attempts[0].checkout_request_id).count() == 1


# --- wrk -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_wrk_list_walker_sends_each_line_exactly_once():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            status = 404 if self.path.endswith("=3") else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        items = [f"GET\t/x?i={i}\t-\t" for i in range(7)]
        result = loadgen.run("list", f"http://127.0.0.1:{port}/", seconds=20, connections=3, items=items)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(seen) == sorted(f"/x?i={i}" for i in range(7))
    assert result.requests == 7
    assert result.errors == 1
    assert result.codes == {"404": 1}


# --- The table -------------------------------------------------------------------------------


def _result(name, rps, p99, errors=0):
    return loadgen.Result(name=name, rps=rps, p50_ms=p99 / 2, p99_ms=p99, requests=int(rps * 10), errors=errors)


def test_table_divides_by_the_right_baseline_and_judges_targets():
    best = report.Round(3)
    best.results = {
        report.QUERY_BASE: _result(report.QUERY_BASE, 1000, 10),
        report.TEMPLATE_BASE: _result(report.TEMPLATE_BASE, 500, 20),
        "directory page": _result("directory page", 350, 30),
        "session list API (client with 50)": _result("session list API (client with 50)", 500, 40),
        "booking request API (fresh slot each)": _result("booking request API (fresh slot each)", 400, 20, errors=1),
    }
    other = report.Round(5)
    other.results = {report.QUERY_BASE: _result(report.QUERY_BASE, 900, 12)}
    other.skipped = {"free slots API (busy therapist, 14 days)": "answers 404"}
    slot = {
        "median_s": 0.01,
        "queries": 3,
        "queries_by_days": {"7": 3, "30": 3, "60": 3},
        "existing_sessions": 400,
        "slots_sha1": "a",
    }
    peer = {
        "median_s": 0.5,
        "queries_by_days": {"7": 100, "30": 400, "60": 800},
        "version": "3.12.0",
        "slots_sha1": "a",
    }
    rows = report.build_table([best, other], best, slot, peer, report.Settle(n=300, skipped="no payments"), 2000.0)
    by_name = {row[0]: row for row in rows}
    assert len({len(row) for row in rows}) == 1
    directory = by_name["directory page"]
    assert directory[-4:-2] == ["70%", "1.5×"] and directory[-1] == "yes"
    assert by_name["session list API (client with 50)"][-1] == "NO"  # p99 4× its baseline's
    assert by_name["booking request API (fresh slot each)"][-1] == "NO"  # an error
    assert by_name["free slots API (busy therapist, 14 days)"][-1] == "not run: answers 404"
    assert by_name["slot finder, 60-day window, 400 sessions"][-1] == "yes"
    assert "| --- |" in report.markdown(rows)
    assert report.plain(rows).splitlines()[1].startswith("---")


def test_profile_summary_counts_self_and_inclusive_time(tmp_path):
    raw = tmp_path / "p.tmp"
    raw.write_text(
        "run (gunicorn:1);get (sessions_app/api.py:10);execute (django/db.py:5) 3\n"
        "run (gunicorn:1);get (sessions_app/api.py:10) 1\n"
    )
    text = report.summarize_profile([raw])
    assert "4 samples" in text
    assert "75.0%  execute (django/db.py:5)" in text
    assert "100.0%  get (sessions_app/api.py:10)" in text
