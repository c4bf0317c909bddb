"""From a run's measurements to its report: each figure beside its same-run baseline,
the targets, the run's settings and the summaries kept in the JSON."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

from devtools.bench.load import CASE_COMMANDS
from devtools.bench.report import Figure, Report, Target, percentiles
from devtools.launcher import SERVICES

COMMAND_NAMES = {
    "file": "file case",
    "notify": "prior notice",
    "waive": "statement waiver",
    "review": "legal review",
    "penalise": "penalty decision",
    "refer": "refer",
}


def build(args: argparse.Namespace, run_id: str, storage_detail: str, baseline_s: float, **m: Any) -> Report:
    """The report of a run: ``m`` holds what each step measured (see Bench.run)."""
    full, half, trivial_max, trivial_half = m["full"], m["half"], m["trivial_max"], m["trivial_half"]
    trivial_rate = sum(trivial_max["counts"].values()) / trivial_max["window_s"]
    full_rate = case_rate(full)
    all_rate = sum(full["counts"].values()) / full["window_s"]
    trivial_lat = percentiles(trivial_max["latency_ms"].get("noop", []))
    trivial_half_lat = percentiles(trivial_half["latency_ms"].get("noop", []))
    floor = {k: trivial_half_lat[k] for k in ("p50", "p99")}
    meta = {
        "run_id": run_id,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "storage": args.db,
        "storage_detail": storage_detail,
        "git_commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "client": (
            f"closed loop: {args.concurrency} concurrent workers in {full['processes']} load processes; "
            f"paced: 1 load process, open loop, a lifecycle every {3 / (full_rate / 2) * 1000:.0f} ms "
            "(each process: asyncio on uvloop, one httpx.AsyncClient, HTTP/1.1 keep-alive)"
        ),
        "phases": {
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "baseline_duration_s": baseline_s,
            "concurrency": args.concurrency,
            "client_processes": full["processes"],
            "refer_share": args.refer_share,
            "half_load_rate": full_rate / 2,
        },
        "command": bench_command(args),
    }
    figures: list[Figure] = [
        Figure(
            "case commands/s, max sustained",
            "/s",
            {"rate": full_rate},
            {"rate": trivial_rate},
            "trivial endpoint req/s, same client",
            Target("rate", "min_ratio", 0.15, ">= 0.15x"),
            note=f"file, prior notice, waiver, legal review, decision on the case service, "
            f"{args.concurrency} closed-loop workers",
        ),
        Figure(
            "case commands/s over the eventsourcing library alone",
            "/s",
            {"rate": full_rate},
            {"rate": m["library"]["rate"]},
            f"the same lifecycles through Application.save, {m['library']['threads']} thread(s)",
            note="the same Case aggregate and commands on the same database through the library's own recorder: "
            "no HTTP, no Kafka, no access checks, no hash chain, no register",
        ),
        Figure(
            "all commands/s incl. referrals",
            "/s",
            {"rate": all_rate},
            {"rate": trivial_rate},
            "trivial endpoint req/s, same client",
        ),
        Figure(
            "case event appends/s (write path)",
            "/s",
            {"rate": full_rate},
            {"rate": m["inserts"]["rate"]},
            f"raw insert tx/s, {m['inserts']['driver']}",
            note="every case command appends exactly one event",
        ),
    ]
    for phase, data, base, base_name in (
        ("max load", full, trivial_lat, "trivial, closed loop"),
        ("half load", half, trivial_half_lat, "trivial, same pace"),
    ):
        for kind in (*CASE_COMMANDS, "refer"):
            figures.append(
                Figure(
                    f"latency {COMMAND_NAMES[kind]}, {phase}",
                    "ms",
                    percentiles(data["latency_ms"].get(kind, [])),
                    base,
                    base_name,
                )
            )
    # CPU per request is what the machine's other work cannot distort much: the
    # throughput ratio above depends on how much CPU we were left, this does not.
    trivial_cpu_ms = min(cpu_ms_per_request(r, "trivial") or float("inf") for r in m["trivial_runs"])
    system_cpu = sum(
        full["cpu_cores"].get(name, 0.0) for name in (*SERVICES, "broker", "credit_china", "postgres (our databases)")
    )
    library_cpu_ms = m["library"]["cpu_ms_per_command"]
    figures += [
        Figure(
            "case service CPU per case command, max load",
            "ms",
            {"mean": full["cpu_cores"].get("case", 0.0) / full_rate * 1000},
            {"mean": trivial_cpu_ms},
            "trivial endpoint CPU per request",
        ),
        Figure(
            "whole system CPU per case command, max load",
            "ms",
            {"mean": system_cpu / full_rate * 1000},
            {"mean": trivial_cpu_ms},
            "trivial endpoint CPU per request",
            Target("mean", "at_most", 10, "<= 10 ms"),
            note="four services, broker, Credit China simulator (and on PostgreSQL the server's backends for "
            "our databases), per case command",
        ),
        Figure(
            "case service CPU per case command over the library alone",
            "ms",
            {"mean": full["cpu_cores"].get("case", 0.0) / full_rate * 1000},
            {"mean": library_cpu_ms},
            "the library's process CPU per command, same lifecycles",
        ),
        Figure(
            "whole system CPU per case command over the library alone",
            "ms",
            {"mean": system_cpu / full_rate * 1000},
            {"mean": library_cpu_ms},
            "the library's process CPU per command, same lifecycles",
            note="on PostgreSQL the library's figure leaves out the server's CPU, the system's includes it",
        ),
    ]
    ledger_lag = {k: v for k, v in percentiles(half["lag_ms"]["ledger"]).items() if k != "p95"}
    feed_lag = {k: v for k, v in percentiles(half["lag_ms"]["feed"]).items() if k != "p95"}
    figures += [
        Figure(
            "ledger lag, half load",
            "ms",
            ledger_lag,
            floor,
            "trivial round trip, same pace",
            Target("p99", "max_value", 500, "p99 < 500 ms"),
            note=f"command response to GET /v1/cases/{{id}} showing that version; polled every "
            f"{half['poll_s'] * 1000:.0f} ms per case in flight",
        ),
        Figure(
            "disclosure feed lag, half load",
            "ms",
            feed_lag,
            floor,
            "trivial round trip, same pace",
            note="penalty decision response to the case in GET /v1/disclosures (via Credit China simulator)",
        ),
        Figure(
            "outbox relay events/s",
            "/s",
            {"rate": m["relayed"]["rate"]},
            {"rate": m["produced"]["rate"]},
            "raw kafka-python produce msg/s",
            Target("rate", "min_ratio", 0.5, ">= 0.5x"),
        ),
        Figure(
            "ledger rebuild events/s",
            "/s",
            {"rate": m["rebuild"]["rate"]},
            {"rate": m["consumed"]["rate"]},
            "raw kafka-python consume msg/s",
            Target("rate", "min_ratio", 0.5, ">= 0.5x"),
        ),
    ]
    trivial_peak = m["memory"].get("trivial")
    for name in SERVICES:
        figures.append(
            Figure(
                f"peak RSS {name} service",
                "MiB",
                {"peak": m["memory"].get(name)},
                {"peak": trivial_peak},
                "trivial uvicorn process",
            )
        )
    details = {
        "phase1_full_load": summary(full),
        "phase2_half_load": summary(half),
        "trivial_closed_runs": [summary(r) for r in m["trivial_runs"]],
        "trivial_paced": summary(trivial_half),
        "drain_after_phase1_s": m["drain_s"],
        "lag_samples": {k: len(v) for k, v in half["lag_ms"].items()},
        "ledger_lag_split_ms": {k: percentiles(v) for k, v in half.get("lag_split_ms", {}).items()},
        "lag_unseen_within_tail": half["lag_unseen"],
        "relay": m["relayed"],
        "raw_produce": m["produced"],
        "rebuild": m["rebuild"],
        "raw_consume_runs": m["consume_runs"],
        "raw_inserts": m["inserts"],
        "library_alone": m["library"],
        "peak_rss_mib": m["memory"],
    }
    return Report(meta, figures, details)


def cpu_ms_per_request(result: dict[str, Any], process: str) -> float | None:
    requests = sum(result["counts"].values())
    cores = result["cpu_cores"].get(process)
    return cores * result["window_s"] / requests * 1000 if requests and cores is not None else None


def case_rate(result: dict[str, Any]) -> float:
    return sum(result["counts"].get(kind, 0) for kind in CASE_COMMANDS) / result["window_s"]


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """A load result without its raw samples: counts, rates, errors, client effort."""
    window = result["window_s"]
    return {
        "mode": result["mode"],
        "target": result["target"],
        "window_s": window,
        "offered_rate": result["offered_rate"],
        "counts": result["counts"],
        "rates": {kind: n / window for kind, n in result["counts"].items()},
        "latency_ms": {kind: percentiles(v) for kind, v in result["latency_ms"].items()},
        "errors": result["errors"],
        "refer_unknown_case_retries": result["refer_unknown_case_retries"],
        "cases_filed": result["cases_filed"],
        "load_processes": result.get("processes", 1),
        "lag_polls_per_s": {k: n / window for k, n in result.get("lag_polls", {}).items()},
        "machine_load_average_1m": result["load_average_1m"],
        "cpu_cores_used": result["cpu_cores"],
    }


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def bench_command(args: argparse.Namespace) -> str:
    db = " BENCH_DB=postgres" if args.db == "postgres" else ""
    return (
        f"make bench{db} BENCH_DURATION={args.duration:g} BENCH_CONCURRENCY={args.concurrency} "
        f"BENCH_CLIENTS={args.client_processes}"
    )
