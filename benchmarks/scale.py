"""`make bench BENCH_ARGS="--scale"`: every read on a small and a platform-sized database, in alternating turns.

Two identical gunicorns serve the same code, one on ``booking_scale_small`` and one on
``booking_scale_large`` (benchmarks/scale_data.py makes both in PostgreSQL itself). Each
scenario is timed in turns that alternate between them (small then large, then large then
small, ...), each turn a run of sequential keep-alive requests, so that other load on the shared
cores moves both sizes alike. Queries are counted by benchmarks/scale_probe.py with the same code
and database. ``--scale-before REF`` also measures the code of a git commit (e.g. the one before
issue 21's fixes) against the same two databases, for a before/after table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import scale_data, servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PG = {"host": "127.0.0.1", "user": "postgres"}
# BENCH_SCALE_SUFFIX and BENCH_SCALE_PORT keep two runs on one machine apart (their own databases and ports).
_SUFFIX = os.environ.get("BENCH_SCALE_SUFFIX", "")
DBS = {"small": f"booking_scale_small{_SUFFIX}", "large": f"booking_scale_large{_SUFFIX}"}
PORT = int(os.environ.get("BENCH_SCALE_PORT", "8750"))
ADMIN_LIMIT_MS = 300.0
FLAT_RATIO = 1.5


def db_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def say(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Data -------------------------------------------------------------------------------------


def seed(size_name: str, sizes: scale_data.Sizes, *, reseed: bool) -> dict[str, int]:
    """Make the database (migrations of this tree, then the generator) unless it already holds these sizes."""
    import psycopg

    name = DBS[size_name]
    marker = f"bench --scale {sizes}"
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if row is not None and row[0] == marker and not reseed:
            say(f"{name} already holds {sizes.describe()}")
            return counts(name)
        if row is not None:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = servers.bench_env(BENCH_DATABASE_URL=db_url(name))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    say(f"{name}: {sizes.describe()}")
    began = time.monotonic()
    with psycopg.connect(dbname=name, **PG) as conn:
        conn.execute("SET synchronous_commit = off")
        for label, sql in scale_data.statements(sizes):
            step = time.monotonic()
            for statement in sql.split(";\n"):
                conn.execute(statement)
            say(f"  {label}: {time.monotonic() - step:.1f} s")
        conn.commit()
    with psycopg.connect(dbname=name, autocommit=True, **PG) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would leave a live database: statistics, visibility map
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    say(f"  {name} made in {time.monotonic() - began:.0f} s")
    return counts(name)


def counts(name: str) -> dict[str, int]:
    import psycopg

    tables = {
        "therapists": "sessions_app_therapistprofile",
        "clients": "sessions_app_user WHERE role = 'client'",
        "sessions": "sessions_app_session",
        "session events": "sessions_app_sessionevent",
        "payment attempts": "payments_app_paymentattempt",
        "callbacks": "payments_app_mpesacallback",
        "notifications": "notifications_app_notification",
        "audit entries": "sessions_app_auditentry",
    }
    with psycopg.connect(dbname=name, **PG) as conn:
        return {label: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for label, table in tables.items()}


# --- Scenarios ----------------------------------------------------------------------------------


def scenarios() -> list[tuple[str, str, str]]:
    """(name, path, who): who is anon, staff, therapist (the busy one), client (the list client) or token."""
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    to_day = tomorrow + dt.timedelta(days=13)
    return [
        ("admin sessions list", "/admin/sessions_app/session/", "staff"),
        ("admin payment attempts list", "/admin/payments_app/paymentattempt/", "staff"),
        ("admin session events list", "/admin/sessions_app/sessionevent/", "staff"),
        ("admin notifications list", "/admin/notifications_app/notification/", "staff"),
        ("admin callbacks list", "/admin/payments_app/mpesacallback/", "staff"),
        ("admin audit entries list", "/admin/sessions_app/auditentry/", "staff"),
        ("/book/ step 1", "/book/", "client"),
        ("directory page 1", "/therapists/", "anon"),
        ("directory filtered", "/therapists/?mode=online&min_price=3000&specialty=Anxiety", "anon"),
        ("directory page 50", "/therapists/?page=50", "anon"),
        ("therapist page (busy)", "/therapists/1/", "anon"),
        (
            "free slots API (busy, 14 days)",
            f"/api/therapists/1/slots?session_type=1&from={tomorrow.isoformat()}&to={to_day.isoformat()}",
            "anon",
        ),
        ("week calendar (busy therapist)", "/dashboard/week/", "therapist"),
        ("therapist dashboard (busy)", "/dashboard/", "therapist"),
        ("my sessions (list client)", "/my/sessions/", "client"),
        ("session list API (list client)", "/api/sessions", "token"),
    ]


def probe(tree: Path, db: str, planned) -> dict:
    env = servers.bench_env(BENCH_DATABASE_URL=db_url(db), PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale_probe.py"), json.dumps(planned)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def gunicorn(tree: Path, db: str, port: int, workers: int):
    argv = [
        str(servers.VENV_BIN / "gunicorn"),
        "booking_project.wsgi:application",
        "--chdir",
        str(tree),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    env = servers.bench_env(BENCH_DATABASE_URL=db_url(db), PYTHONPATH=str(tree))
    proc = servers.Process(f"scale-{db}-{port}", argv, env=env, cwd=tree)
    try:
        servers.wait_for_port(port)
        yield proc
    finally:
        proc.stop()


def timed_requests(port: int, path: str, headers: dict[str, str], n: int) -> tuple[list[float], list[int]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, codes = [], []
    try:
        for _ in range(n):
            began = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            times.append((time.perf_counter() - began) * 1000)
            codes.append(response.status)
    finally:
        conn.close()
    return times, codes


def _headers(who: str, probe_out: dict) -> dict[str, str]:
    if who == "token":
        return {"Authorization": f"Token {probe_out['token']}", "Host": "127.0.0.1"}
    if who in probe_out["cookies"]:
        return {"Cookie": f"sessionid={probe_out['cookies'][who]}", "Host": "127.0.0.1"}
    return {"Host": "127.0.0.1"}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


@dataclass
class Figure:
    queries: int = 0
    times: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else 0.0

    @property
    def p99(self) -> float:
        return p99(self.times) if self.times else 0.0


def measure(tree: Path, *, turns: int, per_turn: int, workers: int, label: str) -> dict[str, dict[str, Figure]]:
    planned = scenarios()
    probes = {size: probe(tree, DBS[size], planned) for size in DBS}
    figures: dict[str, dict[str, Figure]] = {name: {size: Figure() for size in DBS} for name, _p, _w in planned}
    for name, _path, _who in planned:
        for size in DBS:
            figures[name][size].queries = probes[size]["queries"][name]
            if probes[size]["statuses"][name] != 200:
                say(f"  {label} {size} {name}: answers {probes[size]['statuses'][name]}")
    ports = {"small": PORT, "large": PORT + 2}
    with contextlib.ExitStack() as stack:
        for size, port in ports.items():
            stack.enter_context(gunicorn(tree, DBS[size], port, workers))
        for name, path, who in planned:
            for size, port in ports.items():
                timed_requests(port, path, _headers(who, probes[size]), 3)  # warm every worker
            for turn in range(turns):
                order = ["small", "large"] if turn % 2 == 0 else ["large", "small"]
                for size in order:
                    times, codes = timed_requests(ports[size], path, _headers(who, probes[size]), per_turn)
                    figures[name][size].times += times
                    figures[name][size].errors += sum(1 for c in codes if c != 200)
            small, large = figures[name]["small"], figures[name]["large"]
            say(
                f"  {label} {name}: queries {small.queries}/{large.queries}, median {small.median:.1f}/"
                f"{large.median:.1f} ms, p99 {small.p99:.1f}/{large.p99:.1f} ms"
            )
    job = "reminders job (one run)"
    figures[job] = {}
    for size in DBS:
        r = probes[size]["reminders"]
        figures[job][size] = Figure(queries=r["queries"], times=[r["median_ms"]], errors=0)
        figures[job][size].p99_override = r["p99_ms"]  # type: ignore[attr-defined]
    return figures


def export_tree(ref: str) -> Path:
    """The code of ``ref`` (a git commit), exported into benchmarks/results/before-<ref>.tmp (git-ignored)."""
    target = RESULTS / f"before-{ref}.tmp"
    if not (target / "manage.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def collectstatic(tree: Path) -> None:
    env = servers.bench_env(BENCH_DATABASE_URL=db_url(DBS["small"]), PYTHONPATH=str(tree))
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=tree, env=env, check=True)


# --- Report -------------------------------------------------------------------------------------


def _p99(fig: Figure) -> float:
    return getattr(fig, "p99_override", fig.p99)


def verdict(name: str, small: Figure, large: Figure) -> str:
    ratio = large.median / small.median if small.median else 0.0
    problems = []
    if large.queries != small.queries:
        problems.append("queries grow")
    if ratio > FLAT_RATIO:
        problems.append(f"×{ratio:.1f}")
    if name.startswith("admin") and large.median > ADMIN_LIMIT_MS:
        problems.append(f"over {ADMIN_LIMIT_MS:.0f} ms")
    if small.errors or large.errors:
        problems.append(f"{small.errors + large.errors} errors")
    return "flat" if not problems else "NOT flat: " + ", ".join(problems)


def table(figures: dict[str, dict[str, Figure]]) -> list[str]:
    lines = [
        "| scenario | queries small / large | median small / large (ms) | p99 small / large (ms) | large/small | |",
        "|---|---|---|---|---|---|",
    ]
    for name, by_size in figures.items():
        small, large = by_size["small"], by_size["large"]
        ratio = large.median / small.median if small.median else 0.0
        lines.append(
            f"| {name} | {small.queries} / {large.queries} | {small.median:.1f} / {large.median:.1f} | "
            f"{_p99(small):.1f} / {_p99(large):.1f} | ×{ratio:.2f} | {verdict(name, small, large)} |"
        )
    return lines


def write(after, before, before_ref, sizes, data_counts, args, elapsed) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "## Flat at 100× the data (`benchmarks/run.py --scale`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s, load average before "
        f"{args.load_before}. Two gunicorns ({args.scale_workers} sync workers each) serve the same code, one on "
        "each database; each scenario runs in "
        f"{args.scale_turns} alternating turns of {args.scale_requests} sequential keep-alive requests per size "
        "(p99 of so few requests is close to their maximum). Queries: benchmarks/scale_probe.py, same code and "
        "database. Flat: same queries and a large median at most "
        f"{FLAT_RATIO}× the small one (admin lists also under {ADMIN_LIMIT_MS:.0f} ms).",
        "",
        "| rows | small | large |",
        "|---|---|---|",
        f"| sizes | {scale_data.SMALL.describe()} | {sizes.describe()} |",
        *[
            f"| {label} | {data_counts['small'][label]:,} | {data_counts['large'][label]:,} |"
            for label in data_counts["small"]
        ],
        "",
        "### After (this tree)",
        "",
        *table(after),
        "",
    ]
    if before:
        lines += [f"### Before (the code of {before_ref}, same databases and run)", "", *table(before), ""]
    target = RESULTS / "latest.md"
    existing = target.read_text() if target.exists() else ""
    marker = "## Flat at 100× the data"
    kept = existing.split(marker, 1)[0].rstrip()
    target.write_text((kept + "\n\n" if kept else "") + "\n".join(lines))
    return target


def run(args) -> None:
    began = time.monotonic()
    args.load_before = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    sizes = scale_data.scaled(args.scale_factor)
    data_counts = {
        "small": seed("small", scale_data.SMALL, reseed=args.reseed),
        "large": seed("large", sizes, reseed=args.reseed),
    }
    collectstatic(ROOT)
    say("measuring this tree")
    after = measure(
        ROOT, turns=args.scale_turns, per_turn=args.scale_requests, workers=args.scale_workers, label="after"
    )
    before = None
    if args.scale_before:
        tree = export_tree(args.scale_before)
        collectstatic(tree)
        say(f"measuring {args.scale_before}")
        before = measure(
            tree, turns=args.scale_turns, per_turn=args.scale_requests, workers=args.scale_workers, label="before"
        )
    target = write(after, before, args.scale_before, sizes, data_counts, args, time.monotonic() - began)
    print("\n".join(table(after)))
    say(f"wrote {target}")
