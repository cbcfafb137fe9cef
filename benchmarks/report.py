"""The bench's figures and its one table: scenarios' targets, rounds, the callback run, formatting.

Kept apart from run.py (which starts servers and sets Django up) so that it can be tested.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen


@dataclass
class Scenario:
    name: str
    kind: str  # baseline, page, read, write
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    items: list[str] | None = None
    baseline: str = ""  # name of the baseline it is divided by
    target: float = 0.0
    skipped: str = ""
    preflight_line: str = ""  # one extra list line, sent before the load to check the route answers 2xx


# Names, baselines and targets of issue 9.
TEMPLATE_BASE, QUERY_BASE = "baseline: template, 20 rows", "baseline: one-query JSON"
SCENARIO_META = [
    Scenario("baseline: bare JSON", "baseline"),
    Scenario(QUERY_BASE, "baseline"),
    Scenario(TEMPLATE_BASE, "baseline"),
    Scenario("directory page", "page", baseline=TEMPLATE_BASE, target=0.6),
    Scenario("free slots API (busy therapist, 14 days)", "read", baseline=QUERY_BASE, target=0.6),
    Scenario("session list API (client with 50)", "read", baseline=QUERY_BASE, target=0.6),
    Scenario("booking request API (fresh slot each)", "write", baseline=QUERY_BASE, target=0.3),
    Scenario("M-Pesa callback (distinct attempt each)", "write", baseline=QUERY_BASE, target=0.3),
]
META = {sc.name: sc for sc in SCENARIO_META}


@dataclass
class Round:
    workers: int
    results: dict[str, loadgen.Result] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    paired: dict[str, loadgen.Result] = field(default_factory=dict)  # scenario -> its baseline's turns beside it

    def score(self, names: list[str]) -> float:
        """Geometric mean of requests per second over the scenarios both rounds ran."""
        values = [self.results[n].rps for n in names if n in self.results and self.results[n].rps > 0]
        return math.exp(sum(math.log(v) for v in values) / len(values)) if values else 0.0


def summarize_profile(paths: list[Path], top: int = 30) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [re.sub(r" \(/.*?/(site-packages|main)/", " (", f) for f in stack.split(";")]
            self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + n
            for frame in set(frames):
                incl_counts[frame] = incl_counts.get(frame, 0) + n
    if not total:
        return "no samples\n"

    def table(counts: dict[str, int], keep=lambda frame, n: True, limit: int = top) -> str:
        best = [kv for kv in sorted(counts.items(), key=lambda kv: -kv[1]) if keep(*kv)][:limit]
        return "\n".join(f"{n / total:6.1%}  {frame}" for frame, n in best)

    ours = re.compile(r"\((sessions_app|payments_app|notifications_app|benchmarks)/")
    return (
        f"{total} samples\n\nSelf time (where the CPU is):\n{table(self_counts)}\n\n"
        f"Inclusive, project code:\n{table(incl_counts, lambda f, n: bool(ours.search(f)), 40)}\n\n"
        "Inclusive, below the request handler:\n"
        f"{table(incl_counts, lambda f, n: n < 0.9 * total, 50)}\n"
    )


@dataclass
class Settle:
    n: int
    accepted: loadgen.Result | None = None
    all_paid_s: float | None = None
    paid: int = 0
    confirm_events: int = 0
    doubled: int = 0
    attempts_succeeded: int = 0
    callbacks_paid: int = 0
    worker_concurrency: int = 0
    half_paid_s: float | None = None
    first_paid_s: float | None = None
    skipped: str = ""


# --- Report ---------------------------------------------------------------------------------


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def fmt_times(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def build_table(
    rounds: list[Round], best: Round, slot: dict | None, peer: dict | None, settle: Settle, pg_tps: float
) -> list[list[str]]:
    """One table: HTTP scenarios per worker count, then the slot finder, the callbacks and pgbench."""
    other = [r for r in rounds if r is not best]
    cols = [f"req/s {r.workers}w" for r in rounds] or ["figure"]
    head = ["What", *cols, "p50 ms", "p99 ms", "errors", "vs baseline", "p99 vs baseline", "target", "met"]
    rows = [head, ["---"] * len(head)]

    def row(what, figure="", p50="", p99="", errors="", ratio="", p99r="", target="", met="", per_round=None):
        figures = per_round if per_round is not None else [figure] + [""] * (len(cols) - 1)
        rows.append([what, *figures, p50, p99, errors, ratio, p99r, target, met])

    names: list[str] = []
    for r in rounds:
        for name in list(r.results) + list(r.skipped):
            if name not in names:
                names.append(name)
    for name in names:
        sc = META.get(name, Scenario(name, "?"))
        res = best.results.get(name)
        per_round = [f"{r.results[name].rps:,.0f}" if name in r.results else "—" for r in rounds]
        if res is None:
            reason = best.skipped.get(name) or next((r.skipped[name] for r in other if name in r.skipped), "")
            row(name, per_round=per_round, target=_target_text(sc), met=f"not run: {reason}")
            continue
        base = best.paired.get(name) or best.results.get(sc.baseline)
        ratio = res.rps / base.rps if base and base.rps else None
        p99_ratio = res.p99_ms / base.p99_ms if base and base.p99_ms else None
        met = ""
        if sc.target:
            ok = ratio is not None and ratio >= sc.target and p99_ratio is not None and p99_ratio <= 3
            met = "yes" if ok and res.errors == 0 else "NO"
        row(
            name,
            per_round=per_round,
            p50=f"{res.p50_ms:.1f}",
            p99=f"{res.p99_ms:.1f}",
            errors=f"{res.errors}" + (f" {res.codes}" if res.codes else ""),
            ratio=fmt_ratio(ratio) if sc.baseline else "",
            p99r=fmt_times(p99_ratio) if sc.baseline else "",
            target=_target_text(sc),
            met=met,
        )

    if slot is None:
        row("slot finder", target="≥ 5× peer, constant handful of queries", met="not run")
    else:
        speedup = peer["median_s"] / slot["median_s"] if peer else None
        constant = len(set(slot["queries_by_days"].values())) == 1
        ok = bool(speedup and speedup >= 5 and constant and slot["queries"] <= 6)
        row(
            f"slot finder, 60-day window, {slot['existing_sessions']} sessions",
            f"{slot['median_s'] * 1000:.1f} ms/window",
            ratio=f"{speedup:.0f}× faster than peer" if speedup else "peer not run",
            target="≥ 5× peer, constant handful of queries",
            met=("yes" if ok else "NO") if peer else "not judged: peer not run",
        )
        row("  queries per window (7 / 30 / 60 days)", " / ".join(str(v) for v in slot["queries_by_days"].values()))
        if peer:
            row(
                f"  django-appointment {peer['version']} (same data, per day as its view)",
                f"{peer['median_s'] * 1000:.0f} ms/window",
                ratio=f"{' / '.join(str(v) for v in peer['queries_by_days'].values())} queries",
                target="same slots" if peer["slots_sha1"] == slot["slots_sha1"] else "DIFFERENT slots",
            )

    if settle.skipped or settle.accepted is None:
        row(f"callbacks end to end, N={settle.n}", target="all N Paid once", met=f"not run: {settle.skipped}")
    else:
        acc = settle.accepted
        settled_rate = settle.n / settle.all_paid_s if settle.all_paid_s else 0
        ok = settle.paid == settle.n and settle.doubled == 0 and settle.confirm_events == settle.n
        row(
            f"callbacks end to end, N={settle.n}: accepted",
            f"{acc.rps:,.0f}",
            p50=f"{acc.p50_ms:.1f}",
            p99=f"{acc.p99_ms:.1f}",
            errors=f"{acc.errors}",
        )
        row(
            f"  all {settle.n} Paid after",
            f"{settle.all_paid_s:.2f} s" if settle.all_paid_s else "not all",
            ratio=f"{settled_rate:,.0f} settled/s = {settled_rate / pg_tps:.1%} of pgbench"
            if pg_tps and settled_rate
            else (f"{settled_rate:,.0f} settled/s" if settled_rate else ""),
            target="all N Paid, none doubled",
            met=f"{'yes' if ok else 'NO'}: {settle.paid} Paid, {settle.confirm_events} confirmations, "
            f"{settle.doubled} doubled",
        )
    row("pgbench -N (simple update), 8 clients", f"{pg_tps:,.0f} tps" if pg_tps else "not run")
    return rows


def _target_text(sc: Scenario) -> str:
    if not sc.target:
        return ""
    return f"≥ {sc.target:.0%} of {sc.baseline.replace('baseline: ', '')}, p99 ≤ 3×"


def markdown(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows)


def plain(rows: list[list[str]]) -> str:
    body = [r for r in rows if not all(c == "---" for c in r)]
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]))]
    lines = []
    for n, row in enumerate(body):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
