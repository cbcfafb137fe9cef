"""`make run`'s ports: chosen by PORT / SIM_PORT, and a port someone else holds is refused, not reused."""

import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command


@pytest.fixture
def taken_port():
    """A port that a stranger listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_taken_simulator_port_is_refused_not_reused(taken_port):
    with pytest.raises(CommandError, match=rf"Port {taken_port} .* already in use.*Daraja simulator.*SIM_PORT="):
        call_command("rundemo", "--check-ports", port=_free_port(), sim_port=taken_port)


def test_a_taken_web_port_is_refused(taken_port):
    with pytest.raises(CommandError, match=rf"Port {taken_port} .* already in use.*web server.*PORT="):
        call_command("rundemo", "--check-ports", port=taken_port, sim_port=_free_port())


def test_the_same_port_twice_is_refused():
    port = _free_port()
    with pytest.raises(CommandError, match="different ports"):
        call_command("rundemo", "--check-ports", port=port, sim_port=port)


def test_free_ports_pass_the_check():
    call_command("rundemo", "--check-ports", port=_free_port(), sim_port=_free_port())


def test_make_run_refuses_a_taken_port_before_serving(taken_port):
    """The Makefile's own check, as a user runs it: exit non-zero with the reason, nothing started."""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "rundemo",
            "--check-ports",
            "--port",
            str(_free_port()),
            "--sim-port",
            str(taken_port),
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        # DJANGO_DEBUG=1 as the Makefile's run target sets it (with DEBUG off the production checks refuse first).
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "booking_project.settings", "DJANGO_DEBUG": "1"},
    )
    assert result.returncode != 0
    assert f"Port {taken_port} on 127.0.0.1 is already in use" in result.stderr
