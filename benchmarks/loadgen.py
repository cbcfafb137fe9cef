"""wrk, driven from Python: one run, its JSON summary, bounded in time and (with a list) in count."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua" / "bench.lua"


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get when missing (the machine runs as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's package (apt-get install wrk)", flush=True)
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "apt-get"]
    subprocess.run([*apt, "update", "-qq"], check=True)
    subprocess.run(
        [*apt, "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed")
    return found


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors
    codes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    command: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.requests - self.errors


def _parse(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")


def run(
    name: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    items: list[str] | None = None,
    timeout_s: int = 10,
) -> Result:
    """One wrk run. With ``items`` (lines of METHOD\\tPATH\\tTOKEN\\tBODY) each is sent once, then wrk ends."""
    wrk = ensure_wrk()
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "-s", str(LUA)]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(url)
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    done_file = tmp / "done"
    shown = " ".join(a if " " not in a else repr(a) for a in argv)
    if items is not None:
        if threads != 1:
            raise ValueError("a list is walked by one wrk thread")
        items_file = tmp / "items.tsv"
        items_file.write_text("\n".join(items) + "\n")
        argv += ["--", str(items_file), str(done_file)]
        shown += f" -- <{len(items)} distinct requests>"
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    if items is not None:
        # wrk sleeps out -d even when every thread has stopped: end it once the list is answered.
        while proc.poll() is None and not done_file.exists():
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=seconds + 30)
    wall = time.monotonic() - started
    shutil.rmtree(tmp, ignore_errors=True)
    data = _parse(out)
    answered = data["answered"]
    if items is not None and data["active_us"] > 0:
        elapsed = data["active_us"] / 1e6
    else:
        elapsed = data["duration_us"] / 1e6
    socket_errors = data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"]
    return Result(
        name=name,
        rps=answered / elapsed if elapsed else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=answered,
        errors=data["non2xx"] + socket_errors,
        codes={str(k): v for k, v in data["codes"].items()},
        seconds=elapsed if elapsed else wall,
        command=shown,
        raw=data,
    )


def combine(name: str, results: list[Result]) -> Result:
    """Several turns of one scenario as one figure: requests over time summed, latencies the median turn's."""
    if len(results) == 1:
        return results[0]
    seconds = sum(r.seconds for r in results)
    requests = sum(r.requests for r in results)
    codes: dict[str, int] = {}
    for r in results:
        for code, n in r.codes.items():
            codes[code] = codes.get(code, 0) + n
    return Result(
        name=name,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        requests=requests,
        errors=sum(r.errors for r in results),
        codes=codes,
        seconds=seconds,
        command=results[0].command,
        raw={"turns": [r.raw for r in results]},
    )
