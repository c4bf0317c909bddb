"""The bench's arithmetic and its report's shape (no timing is asserted anywhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.bench.report import MISS, NOT_MEASURED, PASS, Figure, Report, Target, percentile, percentiles, render


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # order does not matter
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_percentile_of_nothing_is_not_zero() -> None:
    assert percentile([], 50) is None
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


def test_ratio_targets() -> None:
    target = Target("rate", "min_ratio", 0.30, ">= 0.30x")
    assert Figure("cmds", "/s", {"rate": 30.0}, {"rate": 100.0}, "trivial", target).result() == PASS
    assert Figure("cmds", "/s", {"rate": 29.0}, {"rate": 100.0}, "trivial", target).result() == MISS
    assert Figure("cmds", "/s", {"rate": None}, {"rate": 100.0}, "trivial", target).result() == NOT_MEASURED
    assert Figure("cmds", "/s", {"rate": 5.0}, {"rate": 0.0}, "trivial", target).ratio() == {"rate": None}


def test_value_targets_look_at_their_statistic() -> None:
    target = Target("p99", "max_value", 500, "p99 < 500 ms")
    lag = Figure("lag", "ms", {"p50": 900.0, "p99": 499.0}, {"p50": 5.0, "p99": 10.0}, "floor", target)
    assert lag.result() == PASS
    assert lag.ratio() == {"p50": 180.0, "p99": pytest.approx(49.9)}
    assert Figure("lag", "ms", {"p50": 1.0, "p99": 500.0}, {}, "floor", target).result() == MISS


def test_report_json_shape_and_table(tmp_path: Path) -> None:
    report = Report(
        {"storage": "sqlite"},
        [
            Figure(
                "case commands/s",
                "/s",
                {"rate": 40.0},
                {"rate": 200.0},
                "trivial",
                Target("rate", "min_ratio", 0.3, ">= 0.30x"),
            ),
            Figure(
                "latency file case",
                "ms",
                {"p50": 10.0, "p95": 20.0, "p99": 30.0},
                {"p50": 1.0, "p95": 2.0, "p99": 3.0},
                "trivial",
            ),
            Figure("peak RSS case service", "MiB", {"peak": 110.0}, {"peak": 50.0}, "trivial uvicorn"),
        ],
        {"relay": {"events": 10}},
    )
    out = tmp_path / "results" / "latest.json"
    report.write(out)
    body = json.loads(out.read_text())
    assert set(body) == {"meta", "figures", "targets", "details"}
    first = body["figures"][0]
    assert first["ratio"] == {"rate": 0.2}
    assert first["target"] == {"text": ">= 0.30x", "stat": "rate", "result": MISS}
    assert body["targets"] == [
        {"figure": "case commands/s", "target": ">= 0.30x", "result": MISS, "ratio": 0.2, "value": 40.0}
    ]
    assert "target" not in body["figures"][1]

    table = render(report).splitlines()
    assert table[0].split() == ["figure", "value", "baseline", "ratio", "target"]
    assert "0.20" in table[2] and "MISS" in table[2]
    assert "10.0 / 20.0 / 30.0" in table[3] and "[ms p50/p95/p99]" in table[3]
    assert "2.20" in table[4]


def test_an_at_most_target_passes_on_its_threshold() -> None:
    target = Target("mean", "at_most", 10, "<= 10 ms")
    assert Figure("cpu", "ms", {"mean": 10.0}, {"mean": 0.2}, "trivial", target).result() == PASS
    assert Figure("cpu", "ms", {"mean": 10.5}, {"mean": 0.2}, "trivial", target).result() == MISS


def _phase(target: str, rates: dict[str, float], latency: dict[str, float]) -> dict[str, object]:
    return {
        "target": target,
        "rates": rates,
        "counts": {k: int(v * 10) for k, v in rates.items()},
        "latency_ms": {k: {"p50": v, "p95": v * 2, "p99": v * 3} for k, v in latency.items()},
    }


def test_the_chart_is_a_png_beside_the_json(tmp_path: Path) -> None:
    from devtools.bench.chart import draw, throughput

    report = {
        "meta": {
            "run_id": "r1",
            "storage": "sqlite",
            "git_commit": "abc",
            "finished_at": "2026-12-01T00:00:00+00:00",
            "machine": {"cpus": 2, "load_average": [1.0, 0.5, 0.2]},
        },
        "details": {
            "trivial_closed_runs": [_phase("trivial", {"noop": 900.0}, {"noop": 4.0})] * 2,
            "phase1_full_load": _phase("caseledger", {"file": 20.0, "penalise": 20.0, "refer": 5.0}, {"file": 90.0}),
            "phase2_half_load": _phase("caseledger", {"file": 10.0, "penalise": 10.0}, {"file": 20.0}),
            "trivial_paced": _phase("trivial", {"noop": 20.0}, {"noop": 2.0}),
            "library_alone": {"rate": 1500.0},
        },
    }
    # Case commands only (a referral is the referral service's), then the library alone.
    assert [value for _, value in throughput(report)] == [900.0, 40.0, 20.0, 20.0, 1500.0]
    png = draw(report, tmp_path / "run.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readme_table_sets_the_databases_side_by_side() -> None:
    from devtools.bench.table import rows

    def run(storage: str, rate: float) -> dict[str, object]:
        target = Target("rate", "min_ratio", 0.15, ">= 0.15x")
        figure = Figure("case commands/s", "/s", {"rate": rate}, {"rate": 100.0}, "trivial", target)
        return Report({"storage": storage}, [figure]).as_json()

    header, _, line = rows([run("sqlite", 10.0), run("postgres", 20.0)])
    assert header == "| figure | sqlite | baseline | ratio | postgres | baseline | ratio | target |"
    assert line == (
        "| case commands/s (/s) | 10.0 | 100 | 0.10 | 20.0 | 100 | 0.20 "
        "| >= 0.15x: **MISS** (sqlite), PASS (postgres) |"
    )
