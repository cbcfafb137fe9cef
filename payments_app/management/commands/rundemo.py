"""`make run`: the Daraja simulator on 127.0.0.1:8001 plus runserver on 127.0.0.1:8000, pointed at each other.

`--port` and `--sim-port` (`make run PORT=8100 SIM_PORT=8101`) choose others. A port that something
else already listens on is refused with a message: the demo never talks to a stranger's server.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

HOST = "127.0.0.1"

DEMO_NOTE = """
  Demo (seeded by seed_demo) -- password for every login: demo-pass-2026
    client1@example.com, client2@example.com      book and pay
    therapist1@example.com .. therapist3@example.com  approve requests
    staff@example.com                              admin at /admin/
  M-Pesa is simulated on http://{sim}: the phone's last digit decides the outcome
    0/8/9 paid . 1 insufficient balance . 2 you cancel . 3 phone unreachable . 4 wrong PIN
    5 paid, callback never sent . 6 paid, callback sent twice . 7 request expired
  Open http://{web}/  (Ctrl-C stops both)
"""


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _exit(signum, frame):
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Run the demo: the Daraja simulator and the development server, wired together."

    def add_arguments(self, parser):
        parser.add_argument("--noreload", action="store_true", help="Do not restart the web server on code changes.")
        parser.add_argument("--port", type=int, default=8000, help="The web server's port (default 8000).")
        parser.add_argument("--sim-port", type=int, default=8001, help="The Daraja simulator's port (default 8001).")
        parser.add_argument("--check-ports", action="store_true", help="Only check that both ports are free.")

    def _refuse_taken(self, web_port: int, sim_port: int) -> None:
        if web_port == sim_port:
            raise CommandError(f"PORT and SIM_PORT are both {web_port}: give them different ports.")
        for what, port, var in (("web server", web_port, "PORT"), ("Daraja simulator", sim_port, "SIM_PORT")):
            if not 0 < port < 65536:
                raise CommandError(f"{port} is not a port number ({var}).")
            if _listening(HOST, port):
                raise CommandError(
                    f"Port {port} on {HOST} is already in use, so the {what} cannot start there. "
                    f"Stop what listens on it, or choose another: make run {var}=<free port>."
                )

    def handle(self, *args, **options):
        # runserver's autoreloader re-runs this command in a child (RUN_MAIN=true): only the parent
        # starts the simulator and prints the note.
        web_addr = f"{HOST}:{options['port']}"
        if os.environ.get("RUN_MAIN") == "true":
            call_command("runserver", web_addr, use_reloader=True)
            return
        self._refuse_taken(options["port"], options["sim_port"])
        if options["check_ports"]:
            return
        # Ctrl-C, a closed terminal or a plain `kill` all unwind through the `finally` below, so the
        # simulator and runserver's reloader child never outlive this process.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _exit)
        signal.signal(signal.SIGHUP, _exit)
        sim_port = options["sim_port"]
        sim_url = f"http://{HOST}:{sim_port}"
        os.environ["DARAJA_BASE_URL"] = sim_url
        os.environ.setdefault("DARAJA_CALLBACK_BASE_URL", f"http://{web_addr}")
        os.environ.setdefault("SITE_URL", f"http://{web_addr}")
        # runserver's reloader child reads the environment afresh; with --noreload this process serves.
        settings.DARAJA_BASE_URL = sim_url
        settings.DARAJA_CALLBACK_BASE_URL = os.environ["DARAJA_CALLBACK_BASE_URL"]
        settings.SITE_URL = os.environ["SITE_URL"]
        simulator = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "daraja_simulator", "--port", str(sim_port)],
            env=os.environ.copy(),
        )
        for _ in range(50):
            if _listening(HOST, sim_port) or simulator.poll() is not None:
                break
            time.sleep(0.1)
        if simulator.poll() is not None:
            raise CommandError(f"The Daraja simulator did not start on port {sim_port}.")
        self.stdout.write(self.style.SUCCESS(DEMO_NOTE.format(sim=f"{HOST}:{sim_port}", web=web_addr)))
        try:
            call_command("runserver", web_addr, use_reloader=not options["noreload"])
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            if simulator is not None and simulator.poll() is None:
                simulator.terminate()
                try:
                    simulator.wait(5)
                except subprocess.TimeoutExpired:
                    simulator.kill()
