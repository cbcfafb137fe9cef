"""`make run`: the Daraja simulator on 127.0.0.1:8001 plus runserver on 127.0.0.1:8000, pointed at each other."""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

SIM_HOST, SIM_PORT = "127.0.0.1", 8001
WEB_ADDR = "127.0.0.1:8000"

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

    def handle(self, *args, **options):
        # runserver's autoreloader re-runs this command in a child (RUN_MAIN=true): only the parent
        # starts the simulator and prints the note.
        if os.environ.get("RUN_MAIN") == "true":
            call_command("runserver", WEB_ADDR, use_reloader=True)
            return
        # Ctrl-C, a closed terminal or a plain `kill` all unwind through the `finally` below, so the
        # simulator and runserver's reloader child never outlive this process.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _exit)
        signal.signal(signal.SIGHUP, _exit)
        sim_url = f"http://{SIM_HOST}:{SIM_PORT}"
        os.environ["DARAJA_BASE_URL"] = sim_url
        os.environ.setdefault("DARAJA_CALLBACK_BASE_URL", f"http://{WEB_ADDR}")
        simulator = None
        if _listening(SIM_HOST, SIM_PORT):
            self.stdout.write(f"A Daraja simulator is already listening on {sim_url}; using it.")
        else:
            simulator = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "daraja_simulator", "--port", str(SIM_PORT)],
                env=os.environ.copy(),
            )
            for _ in range(50):
                if _listening(SIM_HOST, SIM_PORT) or simulator.poll() is not None:
                    break
                time.sleep(0.1)
            if simulator.poll() is not None:
                self.stderr.write("The Daraja simulator did not start (is port 8001 taken?).")
                return
        self.stdout.write(self.style.SUCCESS(DEMO_NOTE.format(sim=f"{SIM_HOST}:{SIM_PORT}", web=WEB_ADDR)))
        try:
            call_command("runserver", WEB_ADDR, use_reloader=not options["noreload"])
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            if simulator is not None and simulator.poll() is None:
                simulator.terminate()
                try:
                    simulator.wait(5)
                except subprocess.TimeoutExpired:
                    simulator.kill()
