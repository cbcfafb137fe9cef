"""Run the local Daraja sandbox: `python manage.py daraja_simulator --port 8001`."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand

from payments_app.daraja.simulator import OUTCOMES, DarajaSimulator, SimConfig


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class Command(BaseCommand):
    help = "Serve a Daraja (M-Pesa Express) simulator: OAuth, STK Push, STK Push Query, and the callback."
    # A stand-in for Safaricom's server, not our app: our production-settings checks say nothing about it,
    # so `make simulator` runs with DEBUG off as well as on.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--callback-delay",
            type=float,
            default=_env_float("DARAJA_SIM_CALLBACK_DELAY", 3.0),
            help="Seconds after a push until the callback is posted (env DARAJA_SIM_CALLBACK_DELAY, default 3).",
        )
        parser.add_argument(
            "--pending-seconds",
            type=float,
            default=_env_float("DARAJA_SIM_PENDING_SECONDS", 3.0),
            help="Seconds STK Query answers 'being processed' (env DARAJA_SIM_PENDING_SECONDS, default 3).",
        )
        parser.add_argument(
            "--no-callbacks",
            action="store_true",
            default=os.environ.get("DARAJA_SIM_CALLBACKS", "on").lower() in ("0", "off", "false", "no"),
            help="Never post callbacks; only STK Query tells the result (env DARAJA_SIM_CALLBACKS=off).",
        )

    def handle(self, *args, **options):
        config = SimConfig(
            consumer_key=settings.DARAJA_CONSUMER_KEY,
            consumer_secret=settings.DARAJA_CONSUMER_SECRET,
            shortcode=str(settings.DARAJA_SHORTCODE),
            passkey=settings.DARAJA_PASSKEY,
            party_b=str(settings.DARAJA_PARTY_B or ""),
            callback_delay=options["callback_delay"],
            pending_seconds=options["pending_seconds"],
            callbacks=not options["no_callbacks"],
        )
        sim = DarajaSimulator(config, host=options["host"], port=options["port"])
        self.stdout.write(
            f"Daraja simulator on {sim.url} (callback after {config.callback_delay:g} s, "
            f"query pending for {config.pending_seconds:g} s, callbacks {'on' if config.callbacks else 'off'})."
        )
        table = ", ".join(f"{d}: {o.result_code}" for d, o in sorted(OUTCOMES.items()))
        self.stdout.write(f"Outcome by the phone's last digit: {table}; 0/8/9: paid. Ctrl-C stops it.")
        try:
            sim.serve()
        except KeyboardInterrupt:
            pass
        finally:
            sim.httpd.server_close()
