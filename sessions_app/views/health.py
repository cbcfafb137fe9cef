"""The probes: GET /healthz/live (the process answers), GET /healthz/ready and /healthz (its dependencies).

``live`` touches nothing outside the process: a liveness probe that failed whenever the database was
away would restart every web process during a database outage, and fix nothing. ``ready`` (and the
older ``/healthz``, the same view) checks the database, the cache (Redis when ``REDIS_URL`` is set)
and, when configured, the broker and a worker: a load balancer sends no traffic to a process that
answers 503 there.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "1", timeout=10)
    if cache.get("healthz") != "1":
        raise RuntimeError("cache did not return what was written")
    return "ok"


def _check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "not configured (tasks run in-process)"
    from booking_project.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_worker() -> str:
    if not settings.CELERY_BROKER_URL or not settings.HEALTHZ_CHECK_WORKER:
        return "not checked"
    from booking_project.celery import app

    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no worker answered")
    return f"ok ({len(replies)} worker(s))"


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker, "worker": _check_worker}


@never_cache
@require_GET
def live(request):
    """The process is up and serving requests: no database, no cache, no broker."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def healthz(request):
    results, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", reported by name
            healthy = False
            results[name] = f"error: {type(exc).__name__}"
            logger.warning("healthz: %s check failed: %s", name, type(exc).__name__)
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results}, status=200 if healthy else 503
    )


ready = healthz
