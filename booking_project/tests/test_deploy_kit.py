"""The deployment kit in deploy/, run on loopback from those same files.

nginx (deploy/nginx/booking.conf, TLS with an openssl self-signed certificate) in front of two gunicorn
processes (deploy/gunicorn.conf.py, started by the ExecStart of deploy/systemd/booking-web@.service),
two Celery workers on their own queues and one beat (the ExecStart lines of the other units), the
Daraja simulator, a private Redis and the test database. scripts/booking_flow.py books and pays through
nginx; the session must end Confirmed / Paid with no error response, and the callback's secret must not
appear in any access log. Only strings named in booking.conf's header are changed. `make deploy-check`.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from sessions_app.models import Session
from sessions_app.tests.celery_workers import redis_ready, redis_url, wait_for

BASE = Path(settings.BASE_DIR)
DEPLOY = BASE / "deploy"
VENV_BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def _own_group_dying_with_us():
    """In the child before exec: its own process group, and SIGTERM if this test process dies uncleanly."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (AttributeError, OSError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exec_start(unit: str) -> list[str]:
    """The unit's ExecStart as argv, with the venv of this run instead of /srv/booking/.venv and
    systemd's %% unescaped."""
    text = (DEPLOY / "systemd" / unit).read_text()
    line = re.search(r"^ExecStart=(.+)$", text, re.M).group(1).replace("%%", "%")
    argv = shlex.split(line)
    argv[0] = str(VENV_BIN / Path(argv[0]).name)
    return argv


def render_nginx_conf(*, web_ports, http_port, tls_port, tls_dir: Path, log_dir: Path) -> str:
    """deploy/nginx/booking.conf with only the substitutions its header documents."""
    conf = (DEPLOY / "nginx" / "booking.conf").read_text()
    upstreams = re.findall(r"server 127\.0\.0\.1:800\d", conf)
    assert len(upstreams) == 2, upstreams
    for old, port in zip(upstreams, web_ports, strict=True):
        conf = conf.replace(old, f"server 127.0.0.1:{port}", 1)
    conf = re.sub(r"^\s*listen \[::\].*\n", "", conf, flags=re.M)  # loopback only
    conf = conf.replace("listen 443 ", f"listen 127.0.0.1:{tls_port} ").replace(
        "listen 80;", f"listen 127.0.0.1:{http_port};"
    )
    conf = conf.replace("/etc/ssl/booking/", f"{tls_dir}/")
    conf = conf.replace("/srv/booking/staticfiles/", f"{BASE / 'static'}/")
    conf = conf.replace("/var/log/nginx/", f"{log_dir}/")
    return conf


def nginx_main_conf(tmp: Path, site: Path) -> str:
    temp = tmp / "nginx-temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/logs/nginx-main.error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log {tmp}/logs/nginx-default.access.log;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {site};\n}}\n"
    )


def self_signed(tls_dir: Path) -> Path:
    tls_dir.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tls_dir / "privkey.pem"), "-out", str(tls_dir / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return tls_dir / "fullchain.pem"


class Processes:
    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir, self.env, self.started = log_dir, env, {}

    def start(self, name: str, argv: list[str], **extra_env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv,
            cwd=BASE,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_group_dying_with_us,  # noqa: PLW1509 - no threads run Python before exec
        )
        self.started[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def alive(self) -> None:
        for name, proc in self.started.items():
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{self.log(name)[-3000:]}"

    def stop_all(self) -> None:
        for proc in reversed(self.started.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.started.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _booking_flow():
    spec = importlib.util.spec_from_file_location("booking_flow", BASE / "scripts" / "booking_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_conf_is_gthread_sized_from_the_cores_and_drops_callback_lines(monkeypatch):
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    conf = _gunicorn_conf()
    assert conf.worker_class == "gthread" and conf.threads >= 2 and conf.accesslog is None
    assert 2 <= conf.workers <= 8 and conf.timeout < 75  # below nginx's proxy_read_timeout
    keep = conf._HideCallbackSecret()

    def line(path):
        return logging.LogRecord(
            "gunicorn.access", logging.INFO, "", 0, "%s", (f'127.0.0.1 "POST {path} HTTP/1.1" 200',), None
        )

    assert not keep.filter(line("/api/pay/cb/s3cret/")) and not keep.filter(line("/api/mpesa/callback/s3cret/"))
    assert keep.filter(line("/api/sessions/request"))


def test_payments_queue_routes_only_payment_tasks():
    from celery.app.routes import Router, prepare

    from booking_project.celery import app

    # Unset (the default, and every other test's workers): one queue for everything.
    assert settings.CELERY_PAYMENTS_QUEUE == "" and settings.CELERY_TASK_ROUTES == {}
    routes = {"payments_app.tasks.*": {"queue": "payments"}}  # what CELERY_PAYMENTS_QUEUE=payments makes
    router = Router(prepare(routes), app.amqp.queues, create_missing=True, app=app)
    assert router.route({}, "payments_app.tasks.process_callback")["queue"].name == "payments"
    assert router.route({}, "notifications_app.tasks.send_due_reminders")["queue"].name == app.conf.task_default_queue


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_kit_books_and_pays_through_nginx(tmp_path, monkeypatch):
    if NGINX is None:
        pytest.fail("needs Debian's nginx: run `bash scripts/ensure_nginx.sh` (make deploy-check does)")
    cache_url, broker_url = redis_url(14), redis_url(15)  # db 12 is test_metrics's, 5.. test_limits'
    redis_ready(cache_url)
    redis_ready(broker_url)
    started = time.monotonic()

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    cert = self_signed(tmp_path / "tls")
    web_ports = [free_port(), free_port()]
    http_port, tls_port, sim_port = free_port(), free_port(), free_port()
    base_url = f"https://127.0.0.1:{tls_port}"
    callback_secret = secrets.token_urlsafe(24)
    db = connection.settings_dict

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "booking_project.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": base_url,
        "DJANGO_BEHIND_PROXY": "1",
        "SITE_URL": base_url,
        "DATABASE_URL": f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": cache_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_PAYMENTS_QUEUE": "payments",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "DARAJA_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "DARAJA_CALLBACK_BASE_URL": base_url,
        "MPESA_CALLBACK_SECRET": callback_secret,
        # Every client (the simulator's callback, booking_flow) trusts the self-signed certificate.
        "REQUESTS_CA_BUNDLE": str(cert),
        "SSL_CERT_FILE": str(cert),
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_DEBUG", None)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    procs = Processes(log_dir, env)

    site = tmp_path / "booking.conf"
    site.write_text(
        render_nginx_conf(
            web_ports=web_ports, http_port=http_port, tls_port=tls_port, tls_dir=tmp_path / "tls", log_dir=log_dir
        )
    )
    main_conf = tmp_path / "nginx.conf"
    main_conf.write_text(nginx_main_conf(tmp_path, site))
    test = subprocess.run(
        [NGINX, "-t", "-c", str(main_conf), "-e", str(log_dir / "nginx-t.log")], capture_output=True, text=True
    )
    assert test.returncode == 0, test.stderr

    try:
        seeded = subprocess.run(
            [sys.executable, "manage.py", "seed_demo", "--skip-checks"],
            cwd=BASE,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        procs.start("simulator", [sys.executable, "manage.py", "daraja_simulator", "--port", str(sim_port)])
        web = exec_start("booking-web@.service")
        for i, port in enumerate(web_ports):
            procs.start(
                f"web{i}",
                web,
                GUNICORN_BIND=f"127.0.0.1:{port}",
                GUNICORN_ACCESSLOG=str(log_dir / f"gunicorn{i}.access.log"),
            )
        for queue in ("payments", "default"):
            procs.start(f"worker-{queue}", [*exec_start(f"booking-worker-{queue}.service"), "--concurrency=1"])
        beat = exec_start("booking-beat.service")
        beat = [a.replace("/var/lib/booking/", f"{tmp_path}/") for a in beat]
        procs.start("beat", beat)
        procs.start("nginx", [NGINX, "-c", str(main_conf), "-e", str(log_dir / "nginx-main.error.log")])

        def ready():
            procs.alive()
            try:
                return requests.get(f"{base_url}/healthz/ready", timeout=2, verify=str(cert)).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=60, what="/healthz/ready through nginx", every=0.5)
        for name in ("worker-payments", "worker-default"):
            wait_for(lambda n=name: procs.alive() or "ready." in procs.log(n), timeout=60, what=name)

        # Plain http redirects to https; static files come from nginx itself.
        redirect = requests.get(f"http://127.0.0.1:{http_port}/therapists/", allow_redirects=False, timeout=5)
        assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://"), redirect.headers
        static = requests.get(f"{base_url}/static/js/booking.js", timeout=5, verify=str(cert))
        assert static.status_code == 200 and "immutable" in static.headers.get("Cache-Control", "")

        access_log = log_dir / "booking.access.log"
        before = access_log.stat().st_size  # the readiness polls (a 499 while gunicorn starts) are not the flow's
        flow = _booking_flow()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # booking_flow runs here, in this process
        args = argparse.Namespace(
            base_url=base_url, client="client1@example.com", therapist="therapist1@example.com",
            therapist_name="Amina Odhiambo", password=flow.PASSWORD, phone="0712345670", wait=120,
        )  # fmt: skip
        assert flow.run(args) == 0
        procs.alive()
    finally:
        procs.stop_all()

    session = Session.objects.order_by("-created_at").first()
    assert (session.status, session.payment_status) == ("confirmed", "paid")

    access = access_log.read_bytes()[before:].decode()
    statuses = [int(m) for m in re.findall(r'" (\d{3}) ', access)]
    errors = [s for s in statuses if s >= 400 and s != 409]  # 409: a slot just taken, which the flow retries
    print(
        f"\nthe flow through nginx: {len(statuses)} requests, {len(errors)} errors, {time.monotonic() - started:.1f} s"
    )
    assert statuses and not errors, access
    # Both web processes served; the callback came in through nginx but is in no access log.
    for i in range(2):
        assert (log_dir / f"gunicorn{i}.access.log").read_text().strip(), f"web{i} served nothing"
    assert not any("/api/pay/cb/" in (log_dir / f"gunicorn{i}.access.log").read_text() for i in range(2))
    for log in log_dir.glob("*access.log"):
        assert callback_secret not in log.read_text(), f"the callback secret is in {log.name}"
    # The payment tasks ran on the payments worker, none on the default one.
    received = re.compile(r"Task payments_app\.tasks\.\w+\[[^\]]+\] received")
    assert received.search(procs.log("worker-payments")), procs.log("worker-payments")[-3000:]
    assert not received.search(procs.log("worker-default")), procs.log("worker-default")[-3000:]
