"""Run inside one code tree against one --scale database: log the bench's people in, count each page's queries.

    PYTHONPATH=<code tree> DJANGO_SETTINGS_MODULE=benchmarks.settings BENCH_DATABASE_URL=<db> \\
        python benchmarks/scale_probe.py '<json: [[name, path, who], ...]>'

Prints one JSON object: the session cookie of each person (staff, the busy therapist, the list
client), the list client's API token, the queries each scenario runs (Django's test client, the
same code and database as the gunicorn that is timed) and the reminders job's queries and times
(run in a transaction that is rolled back, so that every run does the same work).
It is a separate process so that the code measured can be another tree (``--scale-before``).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from sessions_app.models import TherapistProfile, User  # noqa: E402


class Rollback(Exception):
    pass


def people() -> dict[str, User]:
    busy = TherapistProfile.objects.select_related("user").get(pk=1)
    return {
        "staff": User.objects.get(email="staff@bench.example.com"),
        "therapist": busy.user,
        "client": User.objects.filter(role=User.Role.CLIENT).order_by("pk").first(),
    }


def reminders(runs: int = 7) -> dict:
    from notifications_app import services

    times, counts = [], []
    for _ in range(runs):
        try:
            with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
                began = time.perf_counter()
                services.reminders_queue_due()
                times.append(time.perf_counter() - began)
                counts.append(len(ctx.captured_queries))
                raise Rollback
        except Rollback:
            pass
    times.sort()
    return {"queries": counts[-1], "median_ms": statistics.median(times) * 1000, "p99_ms": times[-1] * 1000}


def main() -> None:
    scenarios = json.loads(sys.argv[1])
    who = people()
    token, _ = Token.objects.get_or_create(user=who["client"])
    clients = {"anon": Client(HTTP_HOST="127.0.0.1")}
    cookies = {}
    for name, user in who.items():
        clients[name] = Client(HTTP_HOST="127.0.0.1")
        clients[name].force_login(user)
        cookies[name] = clients[name].cookies["sessionid"].value
    clients["token"] = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token.key}")
    queries, statuses = {}, {}
    for name, path, as_who in scenarios:
        client = clients[as_who]
        client.get(path)  # warm: caches, first-request work
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        queries[name] = len(ctx.captured_queries)
        statuses[name] = response.status_code
    print(
        json.dumps(
            {
                "cookies": cookies,
                "token": token.key,
                "queries": queries,
                "statuses": statuses,
                "reminders": reminders(),
            }
        )
    )


if __name__ == "__main__":
    main()
