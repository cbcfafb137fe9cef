"""`make bench BENCH_ARGS="--scale-out"`: booking requests and M-Pesa callbacks with 1 and with 2 web processes.

A web process is what deploy/systemd/booking-web@.service starts: one gunicorn from
deploy/gunicorn.conf.py (gthread), here with GUNICORN_WORKERS=1 and GUNICORN_THREADS=4 as the kit's
loopback test runs it. Round "1 web": one such process; round "2 web": two, on the same cores, the
same PostgreSQL and Redis. The load is the same in both rounds: two wrk processes (1 thread, 4
connections each) walking request lists, each line sent once, both at one process in round 1 and one
at each process in round 2. Rounds alternate in turns (1, 2, 2, 1, ...), so load drifting on the
shared cores moves both alike. The figure is the ratio of the rates, 2 web / 1 web; nothing asserts
a time. Results go to a section of their own in benchmarks/results/latest.md.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from benchmarks import loadgen, payloads, seed, servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = "## Scale-out: 1 and 2 web processes"
CONNECTIONS_PER_WRK = 4
TURNS = 3  # per round and scenario
PER_TURN = 500  # distinct requests each turn offers (a turn also ends at --seconds)
THREADS = 4  # GUNICORN_THREADS of each web process
SCENARIOS = ("booking request API (fresh slot each)", "M-Pesa callback (distinct attempt each)")


def say(message: str) -> None:
    print(f"[scale-out {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((servers.HOST, 0))
        return sock.getsockname()[1]


def web_process(port: int, name: str) -> servers.Process:
    """booking-web@<port>'s ExecStart (gunicorn -c deploy/gunicorn.conf.py) on the bench settings."""
    argv = [str(servers.VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "booking_project.wsgi"]
    env = servers.bench_env(
        GUNICORN_BIND=f"{servers.HOST}:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS=str(THREADS),
        GUNICORN_LOGLEVEL="warning",
        GUNICORN_MAX_REQUESTS="0",  # no recycling in the middle of a turn
    )
    proc = servers.Process(name, argv, env=env)
    servers.wait_for_port(port)
    return proc


@dataclass
class Rate:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def add(self, results: list[loadgen.Result]) -> None:
        self.requests += sum(r.requests for r in results)
        self.errors += sum(r.errors for r in results)
        self.seconds += max(r.seconds for r in results)  # the two wrk ran side by side
        for r in results:
            for code, n in r.codes.items():
                self.codes[code] = self.codes.get(code, 0) + n


def turn(ports: list[int], path: str, items: list[str], seconds: int) -> list[loadgen.Result]:
    """Two wrk side by side, each with half the list: both at ports[0], or one at each of two ports."""
    halves = [items[0::2], items[1::2]]
    targets = [ports[0], ports[-1]]
    results: list[loadgen.Result | None] = [None, None]

    def one(i: int) -> None:
        results[i] = loadgen.run(
            "scale-out",
            f"http://{servers.HOST}:{targets[i]}{path}",
            seconds=seconds,
            connections=CONNECTIONS_PER_WRK,
            items=halves[i],
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def lists(seeded: seed.Seeded, n: int) -> dict[str, list[str]]:
    """n distinct booking requests and n callbacks (each for its own processing attempt)."""
    from sessions_app.models import User

    slots = payloads.booking_slots(seeded, timezone.now())
    if len(slots) < n:
        raise SystemExit(f"only {len(slots)} free hours to book; lower --scale-out-per-turn")
    bookings = payloads.booking_items(slots[:n], seeded.booking_tokens)
    clients = list(User.objects.filter(email__startswith="client").order_by("pk")[:200])
    first_hour = (timezone.now() + dt.timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
    attempts = payloads.processing_attempts(seeded, n, first_hour, clients, offset=100_000)
    return {SCENARIOS[0]: bookings, SCENARIOS[1]: payloads.callback_lines(attempts, payloads.callback_path())}


def measure(
    seeded: seed.Seeded, *, seconds: int, turns: int, per_turn: int, commands: list[str]
) -> dict[int, dict[str, Rate]]:
    planned = lists(seeded, 2 * turns * per_turn)
    ports = [free_port(), free_port()]
    rates: dict[int, dict[str, Rate]] = {1: {s: Rate() for s in SCENARIOS}, 2: {s: Rate() for s in SCENARIOS}}
    paths = {SCENARIOS[0]: "/api/sessions/request", SCENARIOS[1]: payloads.callback_path()}
    web = [web_process(ports[0], "scale-out-web0"), web_process(ports[1], "scale-out-web1")]
    commands.append(
        "DJANGO_SETTINGS_MODULE=benchmarks.settings GUNICORN_WORKERS=1 GUNICORN_THREADS=4 "
        + " ".join(web[0].argv).replace(f"{ROOT}/", "")
    )
    try:
        for port in ports:  # imports, connections, template cache of each process
            loadgen.run("warm-up", f"http://{servers.HOST}:{port}/bench/bare", seconds=2, connections=4)
        offsets = dict.fromkeys(SCENARIOS, 0)
        for t in range(turns):
            order = (1, 2) if t % 2 == 0 else (2, 1)
            for name in SCENARIOS:
                for count in order:
                    start = offsets[name]
                    items = planned[name][start : start + per_turn]
                    offsets[name] += per_turn
                    results = turn(ports[:count], paths[name], items, seconds)
                    shown = results[0].command.replace(f":{ports[0]}", ":<port>").replace(f":{ports[1]}", ":<port>")
                    shown = shown.replace(f"{ROOT}/", "")
                    if shown not in commands:
                        commands.append(shown)
                    rates[count][name].add(results)
                    rate = sum(r.requests for r in results) / max(r.seconds for r in results)
                    say(
                        f"  turn {t + 1}, {count} web, {name}: {rate:.0f} req/s, {sum(r.errors for r in results)} errors"
                    )
            # The callbacks queued tasks no worker runs here: drop them, as run.py's callback figure does.
            flush_queue()
    finally:
        for proc in web:
            proc.stop()
    return rates


def flush_queue() -> None:
    """Empty the default queue (only the list: the web processes keep their exchange bindings)."""
    import redis
    from django.conf import settings

    conn = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    conn.delete("celery")
    conn.close()


def table(rates: dict[int, dict[str, Rate]]) -> list[str]:
    lines = [
        "| scenario | 1 web: req/s | 2 web: req/s | ratio 2/1 | requests (1 / 2) | errors (1 / 2) |",
        "|---|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        one, two = rates[1][name], rates[2][name]
        ratio = two.rps / one.rps if one.rps else 0.0
        lines.append(
            f"| {name} | {one.rps:.0f} | {two.rps:.0f} | ×{ratio:.2f} | {one.requests} / {two.requests} | "
            f"{one.errors} / {two.errors} |"
        )
    return lines


def write(
    rates, *, seconds: int, turns: int, per_turn: int, load_before: str, elapsed: float, commands: list[str]
) -> Path:
    cores = os.cpu_count()
    section = [
        f"{MARKER} (`benchmarks/run.py --scale-out`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s on {cores} cores, load average before "
        f"{load_before}. A web process: gunicorn -c deploy/gunicorn.conf.py (gthread, GUNICORN_WORKERS=1, "
        f"GUNICORN_THREADS={THREADS}), as deploy/systemd/booking-web@.service starts it; the same PostgreSQL and "
        "Redis in both rounds, everything on the same cores as the load generator. Load: two wrk (1 thread, "
        f"{CONNECTIONS_PER_WRK} connections each) side by side walking distinct requests, both at the one process "
        f"or one at each of the two; {turns} turns per round and scenario (at most {per_turn} requests or {seconds} s "
        "each), rounds alternating. No Celery worker runs: a callback's figure is the web side (store, queue).",
        "",
        *table(rates),
        "",
        "Ratio 2/1 is the gain from a second web process on the same cores; a process adds threads and a second "
        "GIL, not cores, so the ratio shows how much of one process's time went waiting (PostgreSQL, Redis) "
        "rather than computing. On a machine whose load average is above its cores, read the ratio with care.",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / "latest.md"
    existing = target.read_text() if target.exists() else ""
    if MARKER in existing:  # replace our section, wherever it is, up to the next top-level heading
        before, rest = existing.split(MARKER, 1)
        after = rest.split("\n## ", 1)[1] if "\n## " in rest else ""
        existing = before.rstrip() + ("\n\n## " + after if after else "")
    # Before the --scale section, which rewrites everything after its own heading.
    flat = "## Flat at 100× the data"
    text = "\n".join(section)
    if flat in existing:
        head, tail = existing.split(flat, 1)
        out = head.rstrip() + "\n\n" + text + "\n" + flat + tail
    else:
        out = (existing.rstrip() + "\n\n" if existing.strip() else "") + text
    target.write_text(out)
    return target


def run(args, *, seeded: seed.Seeded | None = None) -> Path:
    began = time.monotonic()
    load_before = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    if seeded is None:
        say("database: migrate, empty, seed")
        seed.reset_database()
        seeded = seed.seed_all(timezone.now())
        seed.analyze()
    commands: list[str] = []
    rates = measure(
        seeded, seconds=args.seconds, turns=args.scale_out_turns, per_turn=args.scale_out_per_turn, commands=commands
    )
    print("\n".join(table(rates)))
    target = write(
        rates,
        seconds=args.seconds,
        turns=args.scale_out_turns,
        per_turn=args.scale_out_per_turn,
        load_before=load_before,
        elapsed=time.monotonic() - began,
        commands=commands,
    )
    say(f"wrote {target}")
    return target
