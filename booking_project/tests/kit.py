"""The deployment kit of deploy/ on loopback, from its own files: shared by the tests that run it.

``Kit`` starts any part of the production topology as real processes from the ExecStart lines of
deploy/systemd/ (gunicorn with deploy/gunicorn.conf.py, the payments and default Celery workers, one
beat), Debian's nginx with deploy/nginx/booking.conf (only the strings its header names are changed),
and, unless the test runs its own in-process simulator, the Daraja simulator; all on the test
database and two databases of this run's own Redis (cache, broker). Used by test_deploy_kit.py (the
booking and payment flow through nginx) and test_scale_out.py (shared limits, processes killed mid-run).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from sessions_app.tests.celery_workers import redis_ready, wait_for

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
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
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

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (gunicorn's or Celery's pool): a crash, nothing cleaned up."""
        proc = self.started[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

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


class Kit:
    """The topology's processes on loopback; ``env`` is the one environment file they all share.

    ``daraja_url``: a simulator the test runs itself (in-process, to read its records); without it,
    ``start_simulator()`` runs ``manage.py daraja_simulator`` on a free port.
    """

    def __init__(self, tmp: Path, *, cache_url: str, broker_url: str, daraja_url: str = "", **extra_env: str):
        redis_ready(cache_url)
        redis_ready(broker_url)
        self.tmp = tmp
        self.log_dir = tmp / "logs"
        self.log_dir.mkdir()
        self.cert = self_signed(tmp / "tls")
        self.web_ports = [free_port(), free_port()]
        self.http_port, self.tls_port = free_port(), free_port()
        self.sim_port = free_port()
        self.base_url = f"https://127.0.0.1:{self.tls_port}"
        self.callback_secret = secrets.token_urlsafe(24)
        self.broker_url = broker_url
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "booking_project.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": self.base_url,
            "DJANGO_BEHIND_PROXY": "1",
            "SITE_URL": self.base_url,
            "DATABASE_URL": f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": cache_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_PAYMENTS_QUEUE": "payments",
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "DARAJA_BASE_URL": daraja_url or f"http://127.0.0.1:{self.sim_port}",
            "DARAJA_CALLBACK_BASE_URL": self.base_url,
            "MPESA_CALLBACK_SECRET": self.callback_secret,
            # Every client (the simulator's callback, the tests' requests) trusts the self-signed certificate.
            "REQUESTS_CA_BUNDLE": str(self.cert),
            "SSL_CERT_FILE": str(self.cert),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "4",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.env.pop("DJANGO_DEBUG", None)
        self.env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        self.procs = Processes(self.log_dir, self.env)

    # -- the parts -------------------------------------------------------------------------------

    def seed(self) -> None:
        seeded = subprocess.run(
            [sys.executable, "manage.py", "seed_demo", "--skip-checks"],
            cwd=BASE,
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr

    def start_simulator(self) -> None:
        self.procs.start("simulator", [sys.executable, "manage.py", "daraja_simulator", "--port", str(self.sim_port)])

    def web_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[i]}"

    def start_web(self, i: int) -> None:
        """booking-web@<port>: one gunicorn (deploy/gunicorn.conf.py), its access log of its own."""
        self.procs.start(
            f"web{i}",
            exec_start("booking-web@.service"),
            GUNICORN_BIND=f"127.0.0.1:{self.web_ports[i]}",
            GUNICORN_ACCESSLOG=str(self.log_dir / f"gunicorn{i}.access.log"),
        )

    def start_worker(self, queue: str, *, concurrency: int = 1) -> None:
        self.procs.start(
            f"worker-{queue}", [*exec_start(f"booking-worker-{queue}.service"), f"--concurrency={concurrency}"]
        )

    def start_beat(self) -> None:
        beat = [a.replace("/var/lib/booking/", f"{self.tmp}/") for a in exec_start("booking-beat.service")]
        self.procs.start("beat", beat)

    def start_nginx(self) -> None:
        if NGINX is None:
            pytest.fail("needs Debian's nginx: run `bash scripts/ensure_nginx.sh` (make deploy-check does)")
        site = self.tmp / "booking.conf"
        site.write_text(
            render_nginx_conf(
                web_ports=self.web_ports,
                http_port=self.http_port,
                tls_port=self.tls_port,
                tls_dir=self.tmp / "tls",
                log_dir=self.log_dir,
            )
        )
        main_conf = self.tmp / "nginx.conf"
        main_conf.write_text(nginx_main_conf(self.tmp, site))
        test = subprocess.run(
            [NGINX, "-t", "-c", str(main_conf), "-e", str(self.log_dir / "nginx-t.log")], capture_output=True, text=True
        )
        assert test.returncode == 0, test.stderr
        self.procs.start("nginx", [NGINX, "-c", str(main_conf), "-e", str(self.log_dir / "nginx-main.error.log")])

    # -- waiting -----------------------------------------------------------------------------------

    def _answers(self, url: str) -> bool:
        self.procs.alive()
        try:
            return requests.get(url, timeout=2, verify=str(self.cert)).status_code == 200
        except requests.RequestException:
            return False

    def wait_web(self, i: int, timeout: float = 60) -> None:
        """/healthz/live straight from web process ``i`` (as nginx would ask it: https forwarded)."""

        def live():
            self.procs.alive()
            try:
                return requests.get(f"{self.web_url(i)}/healthz/live", headers=FORWARDED, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(live, timeout=timeout, what=f"web{i}", every=0.3)

    def wait_ready(self, timeout: float = 60) -> None:
        """/healthz/ready through nginx (database, Redis, broker)."""
        wait_for(lambda: self._answers(f"{self.base_url}/healthz/ready"), timeout=timeout, what="/healthz/ready")

    def wait_worker(self, queue: str, timeout: float = 60) -> None:
        name = f"worker-{queue}"
        wait_for(lambda: self.procs.alive() or "ready." in self.procs.log(name), timeout=timeout, what=name)

    def stop_all(self) -> None:
        self.procs.stop_all()


def spaced_slots(slots: list[str], *, minutes: int) -> list[str]:
    """Start times at least ``minutes`` apart, so that no two bookings of one therapist overlap."""
    kept: list[str] = []
    for start in slots:
        if not kept or dt.datetime.fromisoformat(start) - dt.datetime.fromisoformat(kept[-1]) >= dt.timedelta(
            minutes=minutes
        ):
            kept.append(start)
    return kept


def bookable(base: str, *, verify, headers=None) -> list[tuple]:
    """(therapist, type, start) for every free, non-overlapping start of every demo therapist's first type."""
    from sessions_app.models import TherapistProfile

    out = []
    for therapist in TherapistProfile.objects.order_by("pk"):
        session_type = therapist.session_types.filter(is_active=True).order_by("pk").first()
        response = requests.get(
            f"{base}/api/therapists/{therapist.pk}/slots",
            params={"session_type": session_type.pk},
            headers=headers,
            timeout=10,
            verify=verify,
        )
        assert response.status_code == 200, response.text
        gap = session_type.duration_minutes + therapist.buffer_minutes
        out += [(therapist, session_type, start) for start in spaced_slots(response.json()["slots"], minutes=gap)]
    return out


# What nginx adds to every request it passes on (deploy/nginx/booking.conf), for requests sent to a
# gunicorn directly: the scheme (DJANGO_BEHIND_PROXY trusts it from 127.0.0.1) and the client address.
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"}
