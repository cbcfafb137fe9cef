"""GET /metrics: counters for an operator's Prometheus, as its text exposition format (version 0.0.4).

Who may read it: a request with ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time;
no token configured means no token is accepted), or a signed-in staff member. Anyone else: 403.

What it reports, all computed at scrape time, from the database and the broker, not from in-process
counters: with several gunicorn and Celery processes an in-memory counter would be per process, and
prometheus-client's multiprocess mode needs a shared directory and care at every restart. Counting the
rows the system keeps anyway is exact across processes and survives restarts; the cost is a few
aggregate queries per scrape (indexed columns; scrape every 15 s or more). Hence:

- ``booking_payment_attempts{status}``: STK pushes by their current status (a gauge: a Processing
  push later counts as Succeeded or Failed);
- ``booking_mpesa_callbacks_received_total``: callbacks accepted and stored, and
  ``booking_mpesa_callbacks{outcome}`` by what processing made of them ("unprocessed" while pending);
- ``booking_task_retries_total{task}``: the retries of the two retried jobs, from the tries each row
  records (an email's send attempts after its first, a callback's processing tries after its first);
- ``booking_notifications{status}``: emails by status;
- ``booking_celery_queue_length{queue}``: messages waiting in each Celery queue (Redis LLEN), when the
  broker is Redis; ``booking_celery_queue_length_error`` is 1 when the broker could not be read.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db.models import Count, F, Sum
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    def __init__(self):
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _by(queryset, field: str, choices, blank_label: str | None = None) -> list[tuple[dict, float]]:
    counts = dict(queryset.values_list(field).annotate(n=Count("pk")).order_by())
    samples = [({field: value}, float(counts.get(value, 0))) for value in choices]
    if blank_label is not None:
        samples.append(({field: blank_label}, float(counts.get("", 0))))
    return samples


def queue_names() -> list[str]:
    """The default queue, the declared ones and any a route names."""
    from booking_project.celery import app

    names = {app.conf.task_default_queue or "celery"}
    for queue in app.conf.task_queues or ():
        names.add(getattr(queue, "name", queue))
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(route["queue"])
    return sorted(str(n) for n in names)


def queue_lengths(broker_url: str) -> dict[str, int]:
    import redis

    conn = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return {name: int(conn.llen(name)) for name in queue_names()}
    finally:
        conn.close()


def render() -> str:
    from notifications_app.models import Notification
    from payments_app.models import MpesaCallback, PaymentAttempt

    out = Exposition()
    out.metric(
        "booking_payment_attempts",
        "gauge",
        "M-Pesa STK pushes by current status.",
        _by(PaymentAttempt.objects.all(), "status", PaymentAttempt.Status.values),
    )
    out.metric(
        "booking_mpesa_callbacks_received_total",
        "counter",
        "M-Pesa callbacks accepted and stored.",
        [({}, float(MpesaCallback.objects.count()))],
    )
    out.metric(
        "booking_mpesa_callbacks",
        "gauge",
        "Stored M-Pesa callbacks by processing outcome.",
        _by(MpesaCallback.objects.all(), "outcome", MpesaCallback.Outcome.values, blank_label="unprocessed"),
    )
    email_retries = Notification.objects.filter(attempts__gt=1).aggregate(n=Sum(F("attempts") - 1))["n"] or 0
    callback_retries = (
        MpesaCallback.objects.filter(process_tries__gt=1).aggregate(n=Sum(F("process_tries") - 1))["n"] or 0
    )
    out.metric(
        "booking_task_retries_total",
        "counter",
        "Task retries, from the tries each row records.",
        [
            ({"task": "notifications_app.tasks.send_notification"}, float(email_retries)),
            ({"task": "payments_app.tasks.process_callback"}, float(callback_retries)),
        ],
    )
    out.metric(
        "booking_notifications",
        "gauge",
        "Emails by status.",
        _by(Notification.objects.all(), "status", Notification.Status.values),
    )
    broker = settings.CELERY_BROKER_URL or ""
    if broker.startswith(("redis://", "rediss://", "unix://")):
        try:
            lengths = queue_lengths(broker)
            error = 0.0
        except Exception as exc:  # noqa: BLE001 - the broker away is itself worth a sample
            logger.warning("metrics: the broker's queues could not be read: %s", type(exc).__name__)
            lengths, error = {}, 1.0
        out.metric(
            "booking_celery_queue_length",
            "gauge",
            "Messages waiting in each Celery queue (Redis LLEN).",
            [({"queue": name}, float(n)) for name, n in sorted(lengths.items())],
        )
        out.metric("booking_celery_queue_length_error", "gauge", "1 when the broker could not be read.", [({}, error)])
    return out.text()


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponse(
            "Forbidden: a staff session or the metrics token is needed.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(render(), content_type=CONTENT_TYPE)
