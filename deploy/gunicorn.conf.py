"""Gunicorn settings for the web process: `gunicorn -c deploy/gunicorn.conf.py booking_project.wsgi`.

Every value can be overridden from the environment (GUNICORN_*), so the systemd unit, the
deployment-kit test (booking_project/tests/test_deploy_kit.py) and a bigger machine use this same file.
"""

import logging
import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


_cores = multiprocessing.cpu_count()

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threads, not processes, do most of the waiting (PostgreSQL, Redis, Daraja): gthread with a few
# processes per core keeps memory flat while a slow request does not hold a whole process.
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", max(2, min(_cores + 1, 8)))
threads = _int("GUNICORN_THREADS", 4)
# Above Daraja's own timeouts (the client gives up after 30 s), below nginx's proxy_read_timeout (75 s).
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)  # nginx keeps upstream connections open
# Recycle a process now and then (jittered so they do not all restart at once).
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Only nginx talks to gunicorn; it sets X-Forwarded-For/Proto (see deploy/nginx/booking.conf).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
# The heartbeat file in memory, not on a disk that can stall (gunicorn's own advice for systemd hosts).
_shm = "/dev/shm"  # noqa: S108 - gunicorn writes only its worker heartbeat file there
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", _shm if os.path.isdir(_shm) else None)
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# The access log is off by default: nginx keeps one already. When it is on, the M-Pesa callback's
# path is never written, because the path carries MPESA_CALLBACK_SECRET.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
CALLBACK_PREFIXES = ("/api/pay/cb/", "/api/mpesa/callback/")


class _HideCallbackSecret(logging.Filter):
    """Drops the access-log line of a callback. The project's record factory (sessions_app.logging) may
    already have formatted the line and masked the secret, so the formatted message is what is checked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f" {prefix}" in message for prefix in CALLBACK_PREFIXES)


def on_starting(server):
    server.log.access_log.addFilter(_HideCallbackSecret())
