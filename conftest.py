"""Project-wide test set-up: a pinned clock, a clock sweep, and a private Redis server per run.

The clock. Every test that is not marked ``slow`` runs with the clock pinned (time-machine, ticking)
to ``DEFAULT_INSTANT``, or to ``--clock=ISO-8601``. ``--clock-sweep`` reruns each test at the other
seven ``INSTANTS`` instead; with ``--clock-readers-in=FILE`` only the tests that a
previous run (``--clock-readers-out=FILE``) saw reading the clock from the project's own code or
tests. ``make test`` runs both, so a test that depends on the hour, the weekday or the date fails
there and not on some later afternoon. Slow tests start real processes (Celery workers, a browser)
that a pin in this process cannot reach; they build their times from the real clock in whole days.

Redis. Tests that need a broker use ``sessions_app.tests.celery_workers.redis_url(db)``: a
redis-server this run starts on a free port of its own (or the server in ``TEST_REDIS_URL``,
checked for other clients first), so no other Redis user on the machine can collide with them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parent)
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=NAIROBI)


# The eight instants (Nairobi wall time), each with the label its test ids carry. The ordinary run
# is pinned to the first; the sweep reruns the clock readers at the other seven.
INSTANTS = {
    "wed-1330": _at("2026-12-02T13:30:00"),
    "wed-0030": _at("2026-12-02T00:30:00"),
    "wed-0600": _at("2026-12-02T06:00:00"),
    "wed-1259": _at("2026-12-02T12:59:00"),
    "wed-2359": _at("2026-12-02T23:59:00"),
    "sun-1000": _at("2026-12-06T10:00:00"),
    "month-end-2330": _at("2027-02-28T23:30:00"),
    "new-year-eve-2359": _at("2026-12-31T23:59:00"),
}
DEFAULT_INSTANT = INSTANTS["wed-1330"]
SWEEP_INSTANTS = {label: at for label, at in INSTANTS.items() if at != DEFAULT_INSTANT}


def pytest_addoption(parser):
    group = parser.getgroup("clock")
    group.addoption("--clock", help="pin the clock of non-slow tests to this ISO-8601 instant (default: a Wednesday)")
    group.addoption("--clock-sweep", action="store_true", help="run each non-slow test at every sweep instant")
    group.addoption("--clock-readers-out", help="write the ids of tests that read the clock to this file")
    group.addoption("--clock-readers-in", help="with --clock-sweep: only the tests listed in this file")


# --- who reads the clock -----------------------------------------------------------------------

_readers: set[str] = set()
_current: list[str] = []


def _base_id(nodeid: str) -> str:
    """The test's id without the sweep's own parameter, so that every instant maps to one name."""
    for label in SWEEP_INSTANTS:
        nodeid = nodeid.replace(f"[{label}]", "").replace(f"[{label}-", "[").replace(f"-{label}]", "]")
    return nodeid


def _ours(frame) -> bool:
    name = frame.f_code.co_filename
    return name.startswith(ROOT) and "/.venv/" not in name and name != __file__


def _watch_clock() -> None:
    """Note the running test whenever the project's code or tests ask for the time."""
    from django.utils import timezone

    def watched(real):
        def read():
            if _current and _ours(sys._getframe(1)):
                _readers.add(_current[0])
            return real()

        return read

    timezone.now = watched(timezone.now)
    time.time = watched(time.time)


@functools.cache
def _module_reads_clock(path: Path) -> bool:
    """``datetime.now()`` and ``date.today()`` are C methods that cannot be watched: read the module."""
    text = path.read_text(errors="replace")
    return "datetime.now(" in text or "date.today(" in text


def _reads_clock_in_source(item) -> bool:
    path = getattr(item, "path", None)
    return path is not None and _module_reads_clock(Path(path))


# --- Redis of our own --------------------------------------------------------------------------

_redis_proc: subprocess.Popen | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_private_redis() -> None:
    global _redis_proc
    binary = shutil.which("redis-server")
    if binary is None:
        os.environ["TEST_REDIS_MISSING"] = "redis-server is not installed (make test installs it)"
        return
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    _redis_proc = proc
                    os.environ["TEST_REDIS_URL"] = f"redis://127.0.0.1:{port}"
                    os.environ["TEST_REDIS_PRIVATE"] = "1"  # every client of it is this run's own
                    return
            time.sleep(0.05)
        proc.kill()  # the port was taken between our look and its bind: try another
    os.environ["TEST_REDIS_MISSING"] = "redis-server would not start on a free port"


def _readers_files(path: str) -> list[Path]:
    """The readers list, and one per xdist worker beside it (``FILE.gw0``, ...)."""
    base = Path(path)
    return [base, *sorted(base.parent.glob(base.name + ".*"))]


def pytest_configure(config):
    out = config.getoption("--clock-readers-out")
    if out and not hasattr(config, "workerinput"):
        for stale in _readers_files(out):
            stale.unlink(missing_ok=True)
    if out or config.getoption("--clock-sweep"):
        _watch_clock()
    if config.getoption("--clock-sweep"):
        # The fuzzers run in full in the ordinary run; at each sweep instant a few examples show the clock's part.
        os.environ["TEST_FUZZ_EXAMPLES_SCALE"] = "0.1"
    if not os.environ.get("TEST_REDIS_URL"):
        _start_private_redis()


def pytest_unconfigure(config):
    path = config.getoption("--clock-readers-out")
    if path:
        worker = getattr(config, "workerinput", {}).get("workerid")
        target = Path(f"{path}.{worker}" if worker else path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{nodeid}\n" for nodeid in sorted(_readers)))
    if _redis_proc is not None and _redis_proc.poll() is None:
        _redis_proc.terminate()
        _redis_proc.wait(10)


# --- the pin and the sweep ---------------------------------------------------------------------


def pytest_generate_tests(metafunc):
    unswept = any(metafunc.definition.get_closest_marker(name) for name in ("slow", "exclusive"))
    if metafunc.config.getoption("--clock-sweep") and not unswept:
        metafunc.fixturenames.append("_clock_instant")
        metafunc.parametrize("_clock_instant", list(SWEEP_INSTANTS.values()), ids=list(SWEEP_INSTANTS))


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--clock-sweep"):
        return
    listed = config.getoption("--clock-readers-in")
    wanted = None
    if listed and Path(listed).exists():
        wanted = {line for path in _readers_files(listed) for line in path.read_text().split()}
    keep, drop = [], []
    for item in items:
        swept = "_clock_instant" in getattr(getattr(item, "callspec", None), "params", {})
        if swept and (wanted is None or _base_id(item.nodeid) in wanted or _reads_clock_in_source(item)):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _pinned_clock(request):
    """Pin the clock (ticking) for every non-slow test; record whether the test reads it."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    import time_machine

    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "_clock_instant" in callspec.params:
        instant = callspec.params["_clock_instant"]
    elif request.config.getoption("--clock"):
        instant = dt.datetime.fromisoformat(request.config.getoption("--clock"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=NAIROBI)
    else:
        instant = DEFAULT_INSTANT
    _current[:] = [_base_id(request.node.nodeid)]
    try:
        with time_machine.travel(instant, tick=True):
            yield
    finally:
        _current.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits and tokens live in the cache; each test starts with an empty one."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _celery_task_modules_loaded():
    """Celery's Django fix-up runs ``django.setup()`` again, which re-applies LOGGING and so replaces the
    root logger's handlers, the first time the app imports its task modules. Let that happen once,
    before any test, so it never swaps the handlers under a test's ``caplog`` (a log test then passes
    alone as well as in the suite)."""
    from booking_project.celery import app

    app.loader.import_default_modules()


# --- Two-step sign-in in tests (issue 18) --------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _force_login_passes_the_second_step():
    """``client.force_login(user)`` signs staff and therapists in with their second step passed, as if they had
    entered their code: the suite's views and API tests are about those pages, not about signing in.

    The sign-in tests (sessions_app/tests/views/test_two_factor.py) undo it with ``password_only(client)`` or
    sign in through the login page, which this does not touch."""
    from django.test.client import ClientMixin

    original = ClientMixin.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        from sessions_app.services import two_factor

        session = self.session
        if session.get(two_factor.STATE_KEY) in (two_factor.CODE, two_factor.SETUP):
            session[two_factor.STATE_KEY] = two_factor.VERIFIED
            session.save()

    ClientMixin.force_login = force_login
    try:
        yield
    finally:
        ClientMixin.force_login = original
