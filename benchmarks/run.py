"""`make bench`: baselines, HTTP scenarios, the slot finder against its peer, callbacks end to end, pgbench.

Prints one table and writes it to benchmarks/results/latest.md with the machine,
the date and the exact commands. Figures are read as ratios to baselines served
by the same gunicorn in the same run; nothing here asserts a time.

    .venv/bin/python benchmarks/run.py [--seconds 10] [--workers 3,5] [--callbacks 300] [--quick]
    .venv/bin/python benchmarks/run.py --profile booking   # py-spy on the workers during one scenario
    .venv/bin/python benchmarks/run.py --scale-out         # only the 1 web vs 2 web processes ratios
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks import loadgen, payloads, seed, servers, slotfinder  # noqa: E402
from benchmarks.report import (  # noqa: E402
    META,
    QUERY_BASE,
    TEMPLATE_BASE,
    Round,
    Scenario,
    Settle,
    build_table,
    markdown,
    plain,
    summarize_profile,
)
from sessions_app.models import Session, SessionEvent, User  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NOTES = ROOT / "benchmarks" / "notes.md"
PORT = int(os.environ.get("BENCH_PORT", "8730"))  # another port when another bench runs alongside
SIM_PORT = int(settings.DARAJA_BASE_URL.rsplit(":", 1)[1])
CONNECTIONS = 8
PAIRS = 3  # each scenario runs in this many turns, each right after a turn of its baseline
LIST_SIZE = 3000  # distinct bookings / callbacks offered per round (each round also ends at --seconds)
PG = {"host": "127.0.0.1", "user": "postgres"}


class Log:
    """Every external command the run executes, for the results file."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def add(self, cmd: str | list[str], env: bool = False) -> None:
        text = cmd if isinstance(cmd, str) else shlex.join(cmd)
        text = text.replace(f"{ROOT}/", "")
        text = re.sub(r"Token [0-9a-f]{40}", "Token <the list client's token>", text)
        if env:
            text = "DJANGO_SETTINGS_MODULE=benchmarks.settings " + text
        if text not in self.commands:
            self.commands.append(text)


LOG = Log()


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Setup ------------------------------------------------------------------------------------


def check_services() -> None:
    """PostgreSQL and Redis must be up; say how to start them rather than fail deep inside a phase."""
    import psycopg
    import redis

    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL is not reachable on {PG['host']}:5432 ({exc}).\n"
            "Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis is not reachable at {settings.REDIS_URL} ({exc}).\n"
            'Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
        )
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench is missing: apt-get install postgresql-client")


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis() -> None:
    """Redis DB 3 is the bench's own: empty queue, rate-limit counters and cache between phases."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def wait_for_quiet(limit_s: float = 90.0, threshold: float = 1.0) -> str:
    """Other work on these two cores skews every figure: wait a little for the 1-minute load to settle."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] > threshold and time.monotonic() < deadline:
        time.sleep(5)
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        (int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync_commit = cursor.fetchone()[0]
    import gunicorn
    import redis

    redis_version = redis.Redis.from_url(settings.REDIS_URL).info("server").get("redis_version", "?")
    wrk_version = subprocess.run([loadgen.ensure_wrk(), "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "PostgreSQL": f"{pg_version} (synchronous_commit={sync_commit})",
        "Redis": redis_version,
        "wrk": wrk_version.strip(),
    }


# --- Scenarios ------------------------------------------------------------------------------


def _reverse(name: str, **kwargs) -> str:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return ""


def http_get(path: str, headers: dict[str, str] | None = None, body: bytes | None = None, port: int = PORT) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _mk(name: str, path: str = "", **kwargs) -> Scenario:
    meta = META[name]
    return Scenario(name, meta.kind, path, baseline=meta.baseline, target=meta.target, **kwargs)


def scenarios(seeded: seed.Seeded, now: dt.datetime, slots: list, copies: int) -> list[Scenario]:
    """The scenarios; the write ones get LIST_SIZE distinct requests for each of ``copies`` servers."""
    first_day = seeded.window_start.date()
    to_day = first_day + dt.timedelta(days=13)
    directory = _reverse("sessions:directory")
    out = [
        _mk("baseline: bare JSON", "/bench/bare"),
        _mk(QUERY_BASE, f"/bench/one/{seeded.directory[0].pk}"),
        _mk(TEMPLATE_BASE, "/bench/rows"),
        _mk("directory page", directory, skipped="" if directory else "no sessions:directory URL yet"),
        _mk(
            "free slots API (busy therapist, 14 days)",
            f"/api/therapists/{seeded.busy.pk}/slots?session_type={seeded.busy_type.pk}"
            f"&from={first_day.isoformat()}&to={to_day.isoformat()}",
        ),
        _mk(
            "session list API (client with 50)",
            "/api/sessions",
            headers={"Authorization": f"Token {seeded.list_token}"},
        ),
    ]
    lines = payloads.booking_items(slots[: copies * LIST_SIZE + 1], seeded.booking_tokens)
    out.append(
        _mk("booking request API (fresh slot each)", "/api/sessions/request", items=lines[1:], preflight_line=lines[0])
    )
    name = "M-Pesa callback (distinct attempt each)"
    try:
        clients = list(User.objects.filter(email__startswith="client").order_by("pk")[:200])
        first_hour = (now + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        attempts = payloads.processing_attempts(seeded, copies * LIST_SIZE + 1, first_hour, clients, offset=0)
    except ImportError as exc:
        out.append(_mk(name, skipped=f"payments not built: {exc}"))
    else:
        lines = payloads.callback_lines(attempts, payloads.callback_path())
        out.append(_mk(name, payloads.callback_path(), items=lines[1:], preflight_line=lines[0]))
    return out


def preflight(sc: Scenario, port: int = PORT) -> str:
    """One request before the load: a scenario that does not answer 2xx is reported, not measured."""
    if sc.skipped:
        return sc.skipped
    if sc.preflight_line:
        _method, path, token, body = sc.preflight_line.split("\t", 3)
        headers = {"Authorization": f"Token {token}"} if token != "-" else {}
        status = http_get(path, headers, body.encode(), port=port)
    else:
        status = http_get(sc.path, sc.headers, port=port)
    return "" if 200 <= status < 300 else f"answers {status} (not built yet?)"


def http_rounds(worker_counts: list[int], seeded: seed.Seeded, args, slots: list) -> list[Round]:
    """One gunicorn per worker count, side by side; every figure measured in PAIRS turns.

    Turns go round the servers, and each scenario's turn comes right after a turn of its
    baseline on the same server: load drifting on the shared cores moves all of them alike,
    both the ratios and the choice between worker counts.
    """
    flush_redis()
    rounds = [Round(w) for w in worker_counts]
    ports = [PORT + 2 * i for i in range(len(worker_counts))]  # PORT + 1 is the simulator's
    planned = scenarios(seeded, timezone.now(), slots, len(worker_counts))
    by_name = {sc.name: sc for sc in planned}
    chunk = max(2, round(args.seconds / PAIRS))
    with contextlib.ExitStack() as stack:
        procs = []
        for workers, port in zip(worker_counts, ports, strict=True):
            say(f"gunicorn with {workers} sync workers on 127.0.0.1:{port}")
            procs.append(stack.enter_context(servers.gunicorn(port=port, workers=workers)))
            LOG.add(procs[-1].argv, env=True)
        runs: list[dict[str, list[loadgen.Result]]] = [{} for _ in ports]

        def measure(i: int, sc: Scenario, seconds: int, items: list[str] | None = None) -> None:
            result = loadgen.run(
                sc.name,
                f"http://127.0.0.1:{ports[i]}{sc.path}",
                seconds=seconds,
                connections=CONNECTIONS,
                headers=sc.headers,
                items=items,
            )
            LOG.add(result.command.replace(f":{ports[i]}", ":<port>"))
            runs[i].setdefault(sc.name, []).append(result)

        for sc in planned:
            wanted = args.profile or args.filter
            if wanted and wanted not in sc.name and not (args.filter and sc.kind == "baseline"):
                continue
            reason = preflight(sc, ports[0])
            if reason:
                for round_ in rounds:
                    round_.skipped[sc.name] = reason
                say(f"  skip {sc.name}: {reason}")
                continue
            for port in ports:
                # Every worker: imports, connections, template cache.
                url = f"http://127.0.0.1:{port}{sc.path if sc.items is None else '/bench/bare'}"
                loadgen.run("warm-up", url, seconds=2, connections=CONNECTIONS, headers=sc.headers)
            if args.profile:
                profile(procs[0], sc, args, ports[0])
                continue
            shares = [None if sc.items is None else sc.items[i :: len(ports)] for i in range(len(ports))]
            for turn in range(PAIRS):
                for i in range(len(ports)):
                    items = None if shares[i] is None else shares[i][turn::PAIRS]
                    if sc.kind == "baseline":
                        measure(i, sc, chunk)
                    else:
                        measure(i, by_name[sc.baseline], chunk)
                        measure(i, sc, chunk, items)
            for i, round_ in enumerate(rounds):
                result = round_.results[sc.name] = loadgen.combine(sc.name, runs[i][sc.name])
                alongside = ""
                if sc.kind != "baseline":
                    turns = runs[i][sc.baseline][-PAIRS:]
                    round_.paired[sc.name] = loadgen.combine(sc.baseline, turns)
                    alongside = f"; its baseline alongside: {round_.paired[sc.name].rps:.0f} req/s"
                say(
                    f"  {round_.workers}w {sc.name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, {result.errors} errors {result.codes or ''} "
                    f"({result.requests} requests){alongside}"
                )
        for i, round_ in enumerate(rounds):
            for name, results in runs[i].items():
                if by_name[name].kind == "baseline":
                    round_.results[name] = loadgen.combine(name, results)
    return rounds


def profile(proc: servers.Process, sc: Scenario, args, port: int = PORT) -> None:
    """py-spy on every gunicorn worker while the scenario runs; the hottest functions go to results/profile-*.txt."""
    pyspy = ensure_pyspy()
    pids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    slug = re.sub(r"[^a-z0-9]+", "-", sc.name.lower()).strip("-")
    outs, spies = [], []
    for pid in pids:
        out = RESULTS / f"profile-{slug}-{pid}.tmp"
        cmd = [
            pyspy,
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(out),
            "-d",
            str(args.seconds + 1),
            "-p",
            pid,
        ]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        outs.append(out)
        LOG.add(cmd)
    time.sleep(0.5)
    result = loadgen.run(
        sc.name,
        f"http://127.0.0.1:{port}{sc.path}",
        seconds=args.seconds,
        connections=CONNECTIONS,
        headers=sc.headers,
        items=sc.items,
    )
    for spy in spies:
        spy.wait(timeout=args.seconds + 30)
    report = summarize_profile(outs)
    (RESULTS / "profiles").mkdir(parents=True, exist_ok=True)
    path = RESULTS / "profiles" / f"{slug}.txt"
    path.write_text(
        f"py-spy on {len(pids)} workers during: {sc.name}\n"
        f"(under py-spy: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors)\n\n"
        + report
    )
    for out in outs:
        out.unlink(missing_ok=True)
    say(f"  profile of {sc.name} written to {path}")


def ensure_pyspy() -> str:
    """py-spy goes into the bench venv only (never a product dependency)."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found:
        return found
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "py-spy==0.4.3"]
    subprocess.run(cmd, check=True)
    LOG.add(cmd)
    return str(Path(sys.executable).parent / "py-spy")


# --- Callbacks end to end -----------------------------------------------------------------


def callbacks_end_to_end(seeded: seed.Seeded, workers: int, n: int, concurrency: int) -> Settle:
    out = Settle(n=n, worker_concurrency=concurrency)
    try:
        from payments_app.models import MpesaCallback, PaymentAttempt
    except ImportError as exc:
        out.skipped = f"payments not built: {exc}"
        return out
    flush_redis()
    sim_argv_extra = ["--no-callbacks", "--pending-seconds", "0"]
    say(f"callbacks end to end: {n} pushes through payment_initiate to the simulator")
    sim = servers.Process(
        "daraja-simulator",
        [str(servers.VENV_BIN / "python"), "manage.py", "daraja_simulator", "--port", str(SIM_PORT), *sim_argv_extra],
    )
    LOG.add(sim.argv, env=True)
    try:
        servers.wait_for_port(SIM_PORT)
        clients = list(User.objects.filter(email__startswith="client").order_by("pk")[200:400])
        first_hour = (timezone.now() + dt.timedelta(days=200)).replace(minute=0, second=0, microsecond=0)
        try:
            attempts = payloads.pushed_attempts(seeded, n, first_hour, clients, offset=50_000)
        except Exception as exc:  # noqa: BLE001 - report whatever the payments app says
            out.skipped = f"could not start payments: {type(exc).__name__}: {exc}"
            return out
        session_ids = [a.session_id for a in attempts]
        lines = payloads.callback_lines(attempts, payloads.callback_path())
        # payment_initiate queued a status poll for each push; drop them so that the callbacks are what settles.
        flush_redis()
        with servers.gunicorn(port=PORT, workers=workers) as web:
            LOG.add(web.argv, env=True)
            status = http_get(payloads.callback_path(), body=b"{}")
            if status == 404:
                out.skipped = "the callback URL answers 404 (not built yet?)"
                return out
            worker = servers.celery_worker(concurrency=concurrency)
            LOG.add(worker.argv, env=True)
            try:
                wait_for_worker()
                started = time.monotonic()
                watcher = threading.Thread(target=watch_paid, args=(out, session_ids, started), daemon=True)
                watcher.start()
                out.accepted = loadgen.run(
                    "callbacks end to end",
                    f"http://127.0.0.1:{PORT}/",
                    seconds=60,
                    connections=CONNECTIONS,
                    items=lines,
                )
                LOG.add(out.accepted.command)
                watcher.join(timeout=200)
            finally:
                worker.stop()
    finally:
        sim.stop()
    out.paid = Session.objects.filter(pk__in=session_ids, payment_status=Session.PaymentStatus.PAID).count()
    events = SessionEvent.objects.filter(session_id__in=session_ids, action="confirm")
    out.confirm_events = events.count()
    out.doubled = out.confirm_events - events.values("session_id").distinct().count()
    out.attempts_succeeded = PaymentAttempt.objects.filter(
        session_id__in=session_ids, status=PaymentAttempt.Status.SUCCEEDED
    ).count()
    out.callbacks_paid = MpesaCallback.objects.filter(
        attempt__session_id__in=session_ids, outcome=MpesaCallback.Outcome.PAID
    ).count()
    return out


def watch_paid(out: Settle, session_ids: list[int], started: float, limit_s: float = 180.0) -> None:
    """Count Paid sessions every 20 ms from the first callback on (its own database connection)."""
    try:
        while time.monotonic() < started + limit_s:
            paid = Session.objects.filter(pk__in=session_ids, payment_status=Session.PaymentStatus.PAID).count()
            elapsed = time.monotonic() - started
            if paid and out.first_paid_s is None:
                out.first_paid_s = elapsed
            if paid * 2 >= out.n and out.half_paid_s is None:
                out.half_paid_s = elapsed
            if paid >= out.n:
                out.all_paid_s = elapsed
                return
            time.sleep(0.02)
    finally:
        connection.close()


def wait_for_worker(timeout: float = 60.0) -> None:
    from booking_project.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("the Celery worker did not answer a ping")


# --- pgbench --------------------------------------------------------------------------------


def pgbench(seconds: int) -> tuple[float, str]:
    db = "booking_pgbench"
    ensure_database(db)
    base = ["-h", PG["host"], "-U", PG["user"]]
    init = ["pgbench", "-i", "-s", "10", "-q", *base, db]
    subprocess.run(init, check=True, capture_output=True)
    LOG.add(init)
    cmd = ["pgbench", "-N", "-c", "8", "-j", "2", "-T", str(seconds), *base, db]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    LOG.add(cmd)
    match = re.search(
        r"tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)", done.stdout
    )
    if not match:
        match = re.search(r"tps = ([\d.]+)", done.stdout)
    return float(match.group(1)), shlex.join(cmd)


# --- Main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each HTTP scenario (default 10)")
    parser.add_argument("--workers", default="3,5", help="gunicorn sync worker counts to try (default 3,5)")
    parser.add_argument("--callbacks", type=int, default=300, help="N for the end-to-end callback run (default 300)")
    parser.add_argument("--celery-concurrency", type=int, default=2, help="prefork processes of the worker (default 2)")
    parser.add_argument("--quick", action="store_true", help="3-second scenarios, one worker count: a smoke run")
    parser.add_argument("--skip-peer", action="store_true", help="do not run django-appointment")
    parser.add_argument("--profile", default="", help="py-spy the workers during the scenario whose name contains this")
    parser.add_argument("--filter", default="", help="HTTP scenarios whose name contains this (and no others)")
    parser.add_argument(
        "--only",
        default="slots,http,callbacks,pgbench,scaleout,scale",
        help="phases to run (a partial run writes results/partial.md.tmp, not latest.md)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="run only the small/large comparison (benchmarks/scale.py); its table goes to results/latest.md",
    )
    parser.add_argument(
        "--scale-factor",
        type=float,
        default=1.0,
        help="size of the large dataset as a share of the platform's (default 1: 500,000 sessions; 0.1 for a try)",
    )
    parser.add_argument("--scale-turns", type=int, default=4, help="alternating turns per scenario (default 4)")
    parser.add_argument("--scale-requests", type=int, default=10, help="sequential requests per turn (default 10)")
    parser.add_argument(
        "--scale-workers", type=int, default=2, help="sync workers of each of its gunicorns (default 2)"
    )
    parser.add_argument("--scale-before", default="", help="also measure the code of this git commit, same databases")
    parser.add_argument("--reseed", action="store_true", help="make the --scale databases again even if they exist")
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="run only the 1 web vs 2 web processes comparison (benchmarks/scale_out.py); its section goes to "
        "results/latest.md",
    )
    parser.add_argument("--scale-out-turns", type=int, default=3, help="turns per round and scenario (default 3)")
    parser.add_argument(
        "--scale-out-per-turn", type=int, default=500, help="distinct requests per turn of --scale-out (default 500)"
    )
    args = parser.parse_args()
    if args.scale_out:
        from benchmarks import scale_out

        check_services()
        loadgen.ensure_wrk()
        ensure_database(settings.DATABASES["default"]["NAME"])
        flush_redis()
        call_command("collectstatic", interactive=False, verbosity=0)
        say(f"load average before: {wait_for_quiet(45)}")
        scale_out.run(args)
        return
    if args.scale:
        from benchmarks import scale

        check_services()
        scale.run(args)
        return
    phases = set(args.only.split(","))
    full = (
        phases == {"slots", "http", "callbacks", "pgbench", "scaleout", "scale"}
        and not args.quick
        and not args.skip_peer
    )
    if args.quick:
        args.seconds = 3
        args.workers = args.workers.split(",")[0]
    began = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    worker_counts = [int(w) for w in args.workers.split(",")]
    for port in (SIM_PORT, *(PORT + 2 * i for i in range(len(worker_counts)))):
        if not servers.port_is_free(port):
            raise SystemExit(f"127.0.0.1:{port} is taken: stop whatever listens there first")

    check_services()
    loadgen.ensure_wrk()
    load_before = wait_for_quiet(0 if args.quick else 90)
    say(f"load average before: {load_before}")
    say("database booking_bench: migrate, empty, seed")
    ensure_database(settings.DATABASES["default"]["NAME"])
    seed.reset_database()
    now = timezone.now()
    seeded = seed.seed_all(now)
    seed.analyze()
    call_command("collectstatic", interactive=False, verbosity=0)
    info = machine()
    say(f"{info['CPU']}, {info['cores']} cores; seeded {seed.counts()}")

    slot, peer = None, None
    if "slots" in phases:
        say("slot finder: ours")
        slot = slotfinder.ours(seeded, now)
        say(f"  {slot['median_s'] * 1000:.1f} ms per 60-day window, {slot['queries']} queries, {slot['slots']} slots")
    if "slots" in phases and not args.skip_peer:
        say("slot finder: django-appointment in benchmarks/.peer-venv")
        for cmd in slotfinder.ensure_peer_venv():
            LOG.add(cmd)
        peer, peer_cmd = slotfinder.peer(seeded)
        LOG.add(peer_cmd)
        say(f"  {peer['median_s'] * 1000:.0f} ms per window, {peer['queries']} queries, {peer['slots']} slots")

    slots = payloads.booking_slots(seeded, timezone.now())
    say(f"{len(slots)} distinct free hours for booking requests")
    rounds = []
    if "http" in phases:
        rounds = http_rounds(worker_counts, seeded, args, slots)
    if args.profile:
        return
    if rounds:
        common = [n for n in rounds[0].results if all(n in r.results for r in rounds)]
        best = max(rounds, key=lambda r: r.score(common))
        say(f"kept {best.workers} workers (geometric mean of req/s over {len(common)} scenarios)")
    else:
        best = Round(worker_counts[-1])

    load_after_http = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    info["load average (1/5/15 min)"] = f"{load_before} before the run, {load_after_http} after the HTTP rounds"
    settle = Settle(n=args.callbacks, skipped="not in --only")
    if "callbacks" in phases:
        settle = callbacks_end_to_end(seeded, best.workers, args.callbacks, args.celery_concurrency)
    pg_tps = 0.0
    if "pgbench" in phases:
        say("pgbench -N")
        pg_tps, _ = pgbench(args.seconds)

    rows = build_table(rounds, best, slot, peer, settle, pg_tps)
    print()
    print(plain(rows))
    print()
    target = RESULTS / ("latest.md" if full else "partial.md.tmp")
    write_results(target, rows, info, started_at, time.monotonic() - began, best, rounds, slot, peer, settle, args)
    if full and "scaleout" in phases:
        from benchmarks import scale_out

        say("1 and 2 web processes: benchmarks/scale_out.py (adds its section to latest.md)")
        flush_redis()
        scale_out.run(args, seeded=seeded)
    if full and "scale" in phases:
        from benchmarks import scale

        say("small and large data: benchmarks/scale.py (appends its table to latest.md)")
        scale.run(args)
    say(f"done in {time.monotonic() - began:.0f} s; wrote {target}")


def write_results(target, rows, info, started_at, elapsed, best, rounds, slot, peer, settle, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmark results (`make bench`)",
        "",
        f"Run {started_at:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s in all. Generated by benchmarks/run.py; "
        "the notes at the end are benchmarks/notes.md.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "- Load generator and servers share these cores (wrk, gunicorn, PostgreSQL, Redis, Celery, simulator).",
        "",
        "## Results",
        "",
        f"Kept **{best.workers} sync workers** (the better geometric mean of req/s); "
        + ", ".join(f"{r.workers} workers measured too" for r in rounds if r is not best)
        + f". The gunicorns run side by side and every figure is measured in {PAIRS} turns of "
        f"{max(2, round(args.seconds / PAIRS))} s that go round them; each scenario's turn comes right after a turn of "
        "its baseline on the same server, and its ratios divide by those turns (req/s: all its requests over all its "
        f"turns; p50/p99: the median turn's). Load: wrk, 1 thread, {CONNECTIONS} connections. Request lists (bookings, "
        f"callbacks) send each line once, at most {LIST_SIZE} per server. Errors: non-2xx answers plus socket errors; "
        "'met' needs the ratio, p99 at most 3x its baseline's, and no errors.",
        "",
        markdown(rows),
        "",
        "## What each scenario does",
        "",
        "- Baselines (benchmarks/baselines.py), same gunicorn, middleware and database: a fixed small JSON body; "
        "JSON from one primary-key query; a page extending templates/base.html listing 20 rows from one query.",
        "- Directory page: `GET /therapists/`, anonymous, "
        f"{seed.DIRECTORY_THERAPISTS + 1} therapists accepting clients.",
        "- Free slots API: `GET /api/therapists/{id}/slots` for the busy therapist (400 sessions in 60 days), 14-day window.",
        "- Session list API: `GET /api/sessions` with a token, for a client with 50 sessions (first page of 20).",
        "- Booking request API: `POST /api/sessions/request`, a different free hour each time, {seed.BOOKING_CLIENTS:,} clients "
        "(at most 6 requests each, under the 10 a day limit), therapists interleaved.",
        "- M-Pesa callback: `POST /api/mpesa/callback/<secret>/`, a success callback for a different processing "
        "attempt each time; no worker runs during this figure (the queued tasks are dropped after it).",
        f"- Callbacks end to end: {settle.n} sessions paid for through `payment_initiate` (real STK Pushes to the "
        "simulator, `--no-callbacks --pending-seconds 0`), their status polls dropped, then their callbacks posted by "
        f"wrk with a Celery worker (prefork, concurrency {settle.worker_concurrency}) on Redis settling each via STK "
        "Query. Time runs from the first callback until every session is Paid.",
        "- Slot finder: `free_slots` for a 60-minute type over 60 days (Mon-Sat 09:00-17:00, 400 half-hour "
        "sessions on random half-hours). django-appointment gets the same hours, the same 400 appointments "
        "and slot step, in its own database (booking_peer); per day it runs `check_day_off_for_staff`, "
        "`is_working_day` and `get_available_slots_for_staff(date, staff, weekday, service=...)` as its "
        "`get_available_slots_ajax` view does. Both lists of slots are compared.",
        "",
    ]
    if slot:
        lines += [
            "## Slot finder detail",
            "",
            f"- ours: median {slot['median_s'] * 1000:.2f} ms over {len(slot['times_s'])} runs, "
            f"queries by window length {slot['queries_by_days']}, {slot['slots']} slots",
        ]
    if slot and peer:
        lines.append(
            f"- django-appointment {peer['version']} (Django {peer['django']}): median {peer['median_s'] * 1000:.0f} ms "
            f"over {len(peer['times_s'])} runs, queries by window length {peer['queries_by_days']}, {peer['slots']} slots"
            f" ({'identical' if peer['slots_sha1'] == slot['slots_sha1'] else 'DIFFERENT'} to ours)"
        )
    if not settle.skipped and settle.accepted:
        lines += [
            "",
            "## Callbacks end to end detail",
            "",
            f"- {settle.accepted.requests} callbacks answered in {settle.accepted.seconds:.2f} s "
            f"({settle.accepted.rps:,.0f}/s, {settle.accepted.errors} errors)",
            f"- first Paid after {settle.first_paid_s or 0:.2f} s, half after {settle.half_paid_s or 0:.2f} s, "
            + (f"all after {settle.all_paid_s:.2f} s" if settle.all_paid_s else "NOT all within 180 s"),
            f"- Paid: {settle.paid} of {settle.n}; confirm events: {settle.confirm_events}; doubled: {settle.doubled}; "
            f"attempts succeeded: {settle.attempts_succeeded}; callbacks with outcome paid: {settle.callbacks_paid}",
        ]
    lines += [
        "",
        "## Commands",
        "",
        "```",
        "make bench    # = .venv/bin/python benchmarks/run.py",
        *LOG.commands,
        "```",
        "",
    ]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip(), ""]
    target.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
