"""The request id: from X-Request-ID (or new) into the response, every log line and the request's tasks;
JSON log lines (LOG_FORMAT=json) one per event, redacted."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import signals
from kombu import Connection

from booking_project import observability
from booking_project.celery import app
from sessions_app.logging import JsonFormatter, RedactPersonalData

pytestmark = pytest.mark.django_db


@app.task(name="booking_project.tests.echo_request_id")
def echo_request_id() -> str | None:
    logging.getLogger("booking_project.tests.echo").info("task ran for 0712345678")
    return observability.current_request_id()


@pytest.fixture
def json_lines():
    """A JSON handler on the root logger, as LOG_FORMAT=json configures it; yields a reader of its lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactPersonalData())
    handler.addFilter(observability.RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_sane_client_id_is_returned(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="booking-42.a_b")
    assert response["X-Request-ID"] == "booking-42.a_b"


@pytest.mark.parametrize("sent", [None, "", "x" * 65, "has space", "<script>", "é"])
def test_a_missing_or_odd_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/healthz/live", **headers)
    value = response["X-Request-ID"]
    assert value != sent and len(value) == 32 and int(value, 16) >= 0


def test_each_request_gets_its_own_id(client):
    assert client.get("/healthz/live")["X-Request-ID"] != client.get("/healthz/live")["X-Request-ID"]


def test_the_id_is_on_the_requests_log_lines_even_a_refusal(client, json_lines):
    response = client.get("/therapists/?q=%00", HTTP_X_REQUEST_ID="req-1")
    assert response.status_code == 400 and response["X-Request-ID"] == "req-1"
    lines = [line for line in json_lines() if line["logger"] == "sessions_app.hostile"]
    assert lines and all(line["request_id"] == "req-1" for line in lines)
    assert observability.current_request_id() is None  # cleared after the request


def test_a_json_line_per_event_redacted_with_the_exception(json_lines):
    observability.request_id.set("rid-7")
    try:
        try:
            raise ValueError("bad number 0712345678 for jane@example.com")
        except ValueError:
            logging.getLogger("sessions_app.x").exception("paying %s failed", "+254712345678")
    finally:
        observability.request_id.set(None)
    [line] = json_lines()
    assert line["level"] == "ERROR" and line["logger"] == "sessions_app.x" and line["request_id"] == "rid-7"
    assert line["message"] == "paying [phone …78] failed"
    assert "ValueError: bad number [phone …78] for [email]" in line["exception"]
    assert "0712345678" not in json.dumps(line) and "jane@example.com" not in json.dumps(line)
    assert line["time"].endswith("+00:00")


def test_outside_a_request_the_id_is_a_dash(json_lines):
    logging.getLogger("x").warning("hello")
    assert json_lines()[0]["request_id"] == "-"


def test_a_task_published_during_a_request_carries_its_id_in_the_message_headers():
    """Through a real (in-memory) broker: the header is on the message a worker would receive."""
    token = observability.request_id.set("req-publish")
    app.conf.task_always_eager = False
    try:
        with Connection("memory://localhost") as conn:
            echo_request_id.apply_async(connection=conn, queue="rid-test")
            message = conn.SimpleQueue("rid-test").get(timeout=2)
            assert message.headers["request_id"] == "req-publish"
            assert message.headers["task"] == "booking_project.tests.echo_request_id"
            message.ack()
    finally:
        app.conf.task_always_eager = True
        observability.request_id.reset(token)


def test_a_task_run_with_the_header_logs_and_sees_that_id_then_clears_it(json_lines):
    result = echo_request_id.apply(headers={"request_id": "req-worker"}).get()
    assert result == "req-worker"
    [line] = [line for line in json_lines() if line["logger"] == "booking_project.tests.echo"]
    assert line["request_id"] == "req-worker" and line["message"] == "task ran for [phone …78]"
    assert observability.current_request_id() is None


def test_a_forged_header_value_is_not_used_in_the_worker():
    assert echo_request_id.apply(headers={"request_id": "bad value\n"}).get() is None


def test_an_eager_task_of_a_request_sees_the_requests_id():
    seen = []

    def record(**kwargs):
        seen.append(observability.current_request_id())

    signals.task_prerun.connect(record, weak=False)
    token = observability.request_id.set("req-eager")
    try:
        echo_request_id.delay()
    finally:
        observability.request_id.reset(token)
        signals.task_prerun.disconnect(record)
    assert seen == ["req-eager"]


def test_log_format_json_in_settings(monkeypatch):
    import importlib

    import booking_project.settings as base

    monkeypatch.setenv("LOG_FORMAT", "json")
    try:
        reloaded = importlib.reload(base)
        assert reloaded.LOGGING["handlers"]["console"]["formatter"] == "json"
        assert reloaded.LOGGING["handlers"]["console"]["filters"] == ["redact", "request_id"]
        monkeypatch.setenv("LOG_FORMAT", "yaml")
        with pytest.raises(Exception, match="LOG_FORMAT must be plain or json"):
            importlib.reload(base)
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        importlib.reload(base)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_bookings_request_id_is_on_the_json_log_lines_of_its_tasks_in_a_real_worker(tmp_path):
    """The kit's gunicorn and default worker as subprocesses (booking_project/tests/kit.py), LOG_FORMAT=json:
    the id a booking request was given is on the worker's JSON line for each task that request queued,
    and the next request's tasks carry the next id, not a leftover."""
    import uuid

    import requests
    from rest_framework.authtoken.models import Token

    from sessions_app.models import TherapistProfile, User
    from sessions_app.tests.celery_workers import redis_url, wait_for

    from .kit import FORWARDED, Kit, bookable

    kit = Kit(tmp_path, cache_url=redis_url(11), broker_url=redis_url(13), LOG_FORMAT="json")
    ids = [f"req-booking-{uuid.uuid4().hex[:12]}", f"req-booking-{uuid.uuid4().hex[:12]}"]
    try:
        kit.seed()
        kit.start_web(0)
        kit.start_worker("default")
        kit.wait_web(0)
        kit.wait_worker("default")
        token = Token.objects.create(user=User.objects.get(email="client2@example.com")).key
        therapist = TherapistProfile.objects.get(user__email="therapist1@example.com")
        slots = [s for s in bookable(kit.web_url(0), verify=True, headers=FORWARDED) if s[0] == therapist]
        for rid, (_, session_type, start) in zip(ids, slots, strict=False):
            response = requests.post(
                f"{kit.web_url(0)}/api/sessions/request",
                json={"therapist": therapist.pk, "session_type": session_type.pk, "start": start},
                headers={**FORWARDED, "Authorization": f"Token {token}", "X-Request-ID": rid},
                timeout=30,
            )
            assert response.status_code == 201 and response.headers["X-Request-ID"] == rid, response.text

        def task_lines(rid: str) -> list[dict]:
            lines = []
            for raw in kit.procs.log("worker-default").splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # the console email backend's output
                if isinstance(line, dict) and line.get("request_id") == rid and "succeeded" in line["message"]:
                    lines.append(line)
            return lines

        for rid in ids:
            wait_for(lambda r=rid: task_lines(r), timeout=30, what=f"the worker's JSON line of {rid}'s task")
        kit.procs.alive()
    finally:
        kit.stop_all()
    for rid in ids:
        for line in task_lines(rid):
            assert line["logger"].startswith("celery") and "notifications_app.tasks." in line["message"], line
    # One task run per request, each under its own request's id: none leaked into the other's.
    tasks = [line["message"].split("[", 1)[1].split("]", 1)[0] for rid in ids for line in task_lines(rid)]
    assert len(tasks) == len(set(tasks)) >= 2, tasks
