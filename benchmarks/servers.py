"""Start and stop the processes a bench run needs: gunicorn, a Celery worker, the Daraja simulator.

Each is started in its own process group on 127.0.0.1 and ended by its own id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOG_DIR = ROOT / "benchmarks" / "results" / "logs.tmp"


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:.0f}s")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


class Process:
    """One child process in its own group, logging to benchmarks/results/logs.tmp/<name>.log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.argv = argv
        self.log_path = LOG_DIR / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd or ROOT,
            env=env or bench_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Ask the leader to stop (gunicorn and Celery shut their children down cleanly), then make sure."""
        if self.alive():
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of this group only
        except (ProcessLookupError, PermissionError):
            pass
        if self.alive():
            self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def gunicorn(*, port: int, workers: int) -> Process:
    argv = [
        str(VENV_BIN / "gunicorn"),
        "booking_project.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
        "--keep-alive",
        "5",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    proc = Process(f"gunicorn-{workers}w", argv)
    wait_for_port(port)
    return proc


def celery_worker(*, concurrency: int = 2) -> Process:
    argv = [
        str(VENV_BIN / "celery"),
        "-A",
        "booking_project",
        "worker",
        "--loglevel",
        os.environ.get("BENCH_WORKER_LOGLEVEL", "warning"),
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return Process("celery-worker", argv)


def simulator(*, port: int) -> Process:
    argv = [str(VENV_BIN / "python"), "manage.py", "daraja_simulator", "--port", str(port)]
    proc = Process("daraja-simulator", argv)
    wait_for_port(port)
    return proc
