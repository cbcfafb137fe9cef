"""benchmarks/scale_out.py's arithmetic and its section of latest.md. No timings asserted."""

from benchmarks import loadgen, scale_out


def result(requests: int, seconds: float, errors: int = 0) -> loadgen.Result:
    return loadgen.Result("x", 0, 0, 0, requests, errors, {"201": requests - errors}, seconds)


def test_two_wrk_side_by_side_count_their_requests_over_the_longer_of_their_times():
    rate = scale_out.Rate()
    rate.add([result(100, 2.0), result(80, 1.6, errors=1)])
    rate.add([result(50, 1.0), result(50, 1.0)])
    assert (rate.requests, rate.errors, rate.seconds) == (280, 1, 3.0)
    assert rate.codes == {"201": 279}
    assert round(rate.rps, 2) == 93.33


def rates(one: float, two: float) -> dict:
    return {
        n: {name: scale_out.Rate(requests=int(rps * 10), seconds=10.0) for name in scale_out.SCENARIOS}
        for n, rps in ((1, one), (2, two))
    }


def test_the_table_gives_the_ratio_of_two_to_one():
    [_, _, booking, callback] = scale_out.table(rates(40, 60))
    assert "| 40 | 60 | ×1.50 |" in booking and "| 40 | 60 | ×1.50 |" in callback


def test_the_section_replaces_its_last_run_and_stays_before_the_scale_section(tmp_path, monkeypatch):
    monkeypatch.setattr(scale_out, "RESULTS", tmp_path)
    latest = tmp_path / "latest.md"
    latest.write_text("# Benchmark results\n\n## Commands\n\nx\n\n## Flat at 100× the data (`--scale`)\n\nflat\n")
    figures = {"seconds": 5, "turns": 1, "per_turn": 10, "load_before": "0.1", "elapsed": 1.0, "commands": ["wrk"]}
    scale_out.write(rates(40, 60), **figures)
    scale_out.write(rates(40, 80), **figures)
    text = latest.read_text()
    assert text.count(scale_out.MARKER) == 1 and "×2.00" in text and "×1.50" not in text
    assert text.index("## Commands") < text.index(scale_out.MARKER) < text.index("## Flat at 100×")
    assert text.rstrip().endswith("flat")
