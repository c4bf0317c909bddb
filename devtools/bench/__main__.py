"""``python -m devtools.bench``: start the whole system on free ports, measure it, and set
each figure beside a baseline measured in this same run.

The order of a run:
 1. the trivial FastAPI endpoint, closed loop, before the system starts (and again in
    step 6: the better run is the baseline);
 2. the system starts (SQLite files, or fresh PostgreSQL databases under a run prefix);
 3. phase 1, closed loop: the maximum sustained rate of case commands;
 4. the pipeline drains (relays idle, the ledger showing the last cases);
 5. phase 2, paced at half of phase 1's rate, with ledger and disclosure-feed lag;
    then the trivial endpoint paced at that same rate (the latency floor at that pace);
 6. the trivial endpoint, closed loop, again; the peak memory of every process;
 7. the broker: raw consume of the topic, the ledger rebuild, raw consume again, raw
    produce of the same messages, the outbox relay;
 8. raw single-row insert transactions on the same database;
 9. the system stops, the databases are dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import psycopg
from tqdm import tqdm

from devtools.bench import baselines, pipeline
from devtools.bench.load import CASE_COMMANDS, LoadSpec, run_load
from devtools.bench.report import Figure, Report, Target, number, percentiles, render
from devtools.demo import AGENCY
from devtools.inprocess import service_settings
from devtools.launcher import (
    SERVICES,
    LocalSystem,
    _healthy,
    _uvicorn,
    _wait_for,
    drop_databases,
    free_port,
)

ROLES = ("officer", "legal_reviewer", "agency_head")
RELAYING = ("case", "referral", "disclosure")
# More CPU than this used by processes that are not ours makes a phase's figures suspect.
BUSY_MACHINE_CORES = 0.25
COMMAND_NAMES = {"file": "file case", "review": "legal review", "penalise": "penalty decision", "refer": "refer"}
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASELEDGER_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres (a fresh database per service, dropped afterwards)",
    )
    parser.add_argument("--duration", type=float, default=40, help="measured seconds of each load phase")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds before each load phase")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop workers in the load process")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=2,
        help="load processes sharing the closed-loop workers (one httpx client saturates a core on the trivial endpoint)",
    )
    parser.add_argument("--refer-share", type=float, default=0.25, help="share of cases also referred")
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the databases")
    return parser.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = uuid.uuid4().hex[:8]
        self.postgres = args.postgres_url.rstrip("/") if args.db == "postgres" else None
        self.prefix = f"caseledger_bench_{self.run_id}"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"caseledger-bench-{self.run_id}-"))
        self.system = LocalSystem.on_free_ports(
            self.data_dir / "var", postgres_url=self.postgres, database_prefix=self.prefix
        )
        self.baseline_s = max(5.0, args.duration / 4)
        self.found: dict[str, Any] = {}
        self.auth: dict[str, dict[str, str]] = {}
        self.trivial_url = ""

    # -- steps --------------------------------------------------------------------------
    def step(self, text: str, action: Callable[[], T]) -> T:
        tqdm.write(f"· {text} ...")
        started = time.monotonic()
        value = action()
        tqdm.write(f"  done in {time.monotonic() - started:.1f}s")
        return value

    def load(self, desc: str, spec: LoadSpec) -> dict[str, Any]:
        total = spec.warmup_s + spec.duration_s
        bar_format = "{desc}: {bar} {n:.0f}/{total:.0f}s {postfix}"
        with tqdm(total=total, desc=desc, bar_format=bar_format, dynamic_ncols=True) as bar:
            started = time.monotonic()

            def tick(done: int, errors: int) -> None:
                bar.n = min(total, time.monotonic() - started)
                bar.set_postfix_str(f"{done} requests measured, {errors} errors", refresh=True)

            load_before = os.getloadavg()[0]
            result = run_load(spec, tick, processes=self.args.client_processes)
            result["load_average_1m"] = {"before": load_before, "after": os.getloadavg()[0]}
            bar.n = total
            bar.refresh()
        return result

    def spec(self, target: str, mode: str, duration: float, warmup: float, **kwargs: Any) -> LoadSpec:
        urls = {name: self.system.url(name) for name in SERVICES}
        urls["trivial"] = self.trivial_url
        return LoadSpec(
            target=target,
            mode=mode,
            urls=urls,
            auth=self.auth,
            concurrency=self.args.concurrency,
            warmup_s=warmup,
            duration_s=duration,
            refer_share=self.args.refer_share,
            run_tag=f"{self.run_id}-{target}-{mode}",
            pids=self.measured_pids(),
            decision_base=int(self.run_id, 16) % 900_000,
            **kwargs,
        )

    def start_trivial(self) -> None:
        port = free_port()
        self.system._spawn("trivial", _uvicorn("devtools.bench.trivial:app", port))
        self.trivial_url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _healthy(self.trivial_url + "/docs"), 30, "the trivial endpoint")

    def measured_pids(self) -> dict[str, int]:
        """Our processes, and on PostgreSQL the server backends serving our databases (so
        the server's work for us is not counted as other work on the machine)."""
        pids = {name: p.pid for name, p in self.system.processes.items() if p.poll() is None}
        if self.postgres:
            with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname LIKE %s", (self.prefix + "%",)
                ).fetchall()
            pids.update({f"postgres (our databases):{pid}": pid for (pid,) in rows})
        return pids

    def mint_tokens(self) -> None:
        # Minted once: signing a token per request would be client cost, not server cost.
        self.auth = {role: self.system.auth(role, AGENCY) for role in ROLES}

    def wait_drained(self, last_cases: list[tuple[str, int]], timeout: float = 300) -> float:
        """Until every relay is idle and the ledger shows the last cases at their final
        versions and published (the disclosure publisher works through decisions in
        order): what was written at full load has gone all the way through, and the next
        phase does not pay for it."""
        started = time.monotonic()
        with httpx.Client(timeout=10) as client:

            def drained() -> bool:
                for service in RELAYING:
                    checks = client.get(self.system.url(service) + "/readyz").json()
                    if checks.get("relay", {}).get("backlog", 1) != 0:
                        return False
                for case_id, version in last_cases:
                    response = client.get(f"{self.system.url('case')}/v1/cases/{case_id}", headers=self.auth["officer"])
                    entry = response.json() if response.status_code == 200 else {}
                    if entry.get("version", 0) < version or entry.get("publication_status") != "published":
                        return False
                return True

            _wait_for(drained, timeout, "the pipeline to drain after the full-load phase")
        return time.monotonic() - started

    def peak_memory(self) -> dict[str, float | None]:
        return {name: peak_rss_mib(process.pid) for name, process in self.system.processes.items()}

    # -- the run ------------------------------------------------------------------------
    def run(self) -> Report:
        args = self.args
        # Before the trivial baseline, which sends the same headers; minting creates the
        # development keys the services will trust when they start.
        self.mint_tokens()
        self.step("starting the trivial endpoint (uvicorn, the services' flags)", self.start_trivial)
        trivial_first = self.load(
            "baseline: trivial endpoint, closed loop (1 of 2)",
            self.spec("trivial", "closed", self.baseline_s, min(2.0, args.warmup)),
        )
        self.step(f"starting the system on {self.storage_name()}", lambda: self.system.start(timeout=180))

        full = self.load(
            f"phase 1: max sustained, {args.concurrency} workers",
            self.spec("caseledger", "closed", args.duration, args.warmup),
        )
        full_rate = case_rate(full)
        if not full_rate:
            raise RuntimeError(f"no case command succeeded in phase 1: errors {full['errors']}")
        drain_s = self.step("waiting for the pipeline to drain", lambda: self.wait_drained(full["last_cases"]))

        half_rate = full_rate / 2
        half = self.load(
            f"phase 2: paced at {half_rate:.0f} case commands/s, lag measured",
            self.spec(
                "caseledger",
                "paced",
                args.duration,
                min(3.0, args.warmup),
                rate=half_rate,
                watch=True,
            ),
        )
        trivial_half = self.load(
            f"baseline: trivial endpoint paced at {half_rate:.0f}/s",
            self.spec("trivial", "paced", self.baseline_s, min(2.0, args.warmup), rate=half_rate),
        )
        self.step("waiting for the pipeline to drain", lambda: self.wait_drained(half["last_cases"]))
        # Measured again now that the case figures are in: other work on the machine
        # comes and goes, and the better run is the baseline (never the kinder one).
        trivial_second = self.load(
            "baseline: trivial endpoint, closed loop (2 of 2)",
            self.spec("trivial", "closed", self.baseline_s, min(2.0, args.warmup)),
        )
        trivial_max = max(trivial_first, trivial_second, key=lambda r: sum(r["counts"].values()))
        memory = self.peak_memory()

        topic = service_settings(self.system, "case").case_events_topic
        consumed, records = self.step(
            "raw kafka-python consume of the case-events topic",
            lambda: baselines.raw_consume(self.system.bootstrap, topic),
        )
        rebuild = self.step(
            "rebuilding the case ledger from the topic into a fresh database",
            lambda: pipeline.rebuild_rate(
                self.system.bootstrap, topic, service_settings(self.system, "ledger-rebuild", database="ledger_rebuild")
            ),
        )
        consumed_again, _ = self.step(
            "raw kafka-python consume again (the better of the two is the baseline)",
            lambda: baselines.raw_consume(self.system.bootstrap, topic),
        )
        produced = self.step(
            f"raw kafka-python produce of the same {len(records)} messages",
            lambda: baselines.raw_produce(
                service_settings(self.system, "bench", case_events_topic=f"bench.raw-produce.{self.run_id}"), records
            ),
        )
        relayed = self.step(
            "relaying the case event store again with the services' OutboxRelay",
            lambda: pipeline.relay_rate(service_settings(self.system, "case", case_events_topic=f"bench.relay.{self.run_id}")),
        )
        payload = b"x" * int(consumed["bytes"] / max(1, consumed["messages"]))
        # The services' connection pools go first: PostgreSQL has a limited number of
        # connections, and the machine is shared.
        self.step("stopping the system", self.system.stop)
        inserts = self.step(
            "raw single-row insert transactions on the same database", lambda: self.raw_inserts(payload)
        )

        report = self.report(
            trivial_max=trivial_max,
            trivial_runs=[trivial_first, trivial_second],
            full=full,
            half=half,
            trivial_half=trivial_half,
            drain_s=drain_s,
            memory=memory,
            consumed=max(consumed, consumed_again, key=lambda r: r["rate"] or 0),
            consume_runs=[consumed, consumed_again],
            rebuild=rebuild,
            produced=produced,
            relayed=relayed,
            inserts=inserts,
        )
        return report

    def raw_inserts(self, payload: bytes) -> dict[str, Any]:
        if self.postgres:
            dsn = f"{self.postgres}/{self.prefix}_raw_inserts"
            from services.infra.storage import ensure_postgres_database

            ensure_postgres_database(dsn)
            return baselines.asyncpg_inserts(dsn, self.baseline_s, self.args.concurrency, payload)
        return baselines.sqlite_inserts(self.data_dir / "raw_inserts.sqlite", self.baseline_s, payload)

    def storage_name(self) -> str:
        if self.postgres:
            return f"PostgreSQL at {self.postgres} (event stores: psycopg; read models: asyncpg)"
        return "SQLite files (event stores: sqlite3 via eventsourcing; read models: aiosqlite)"

    def stop(self) -> None:
        self.system.stop()
        if self.postgres and not self.args.keep:
            drop_databases(self.postgres, self.prefix)
        if not self.args.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- the report ---------------------------------------------------------------------
    def report(self, **m: Any) -> Report:
        args = self.args
        full, half, trivial_max, trivial_half = m["full"], m["half"], m["trivial_max"], m["trivial_half"]
        trivial_rate = sum(trivial_max["counts"].values()) / trivial_max["window_s"]
        full_rate = case_rate(full)
        all_rate = sum(full["counts"].values()) / full["window_s"]
        trivial_lat = percentiles(trivial_max["latency_ms"].get("noop", []))
        trivial_half_lat = percentiles(trivial_half["latency_ms"].get("noop", []))
        floor = {k: trivial_half_lat[k] for k in ("p50", "p99")}
        meta = {
            "run_id": self.run_id,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "storage": args.db,
            "storage_detail": self.storage_name(),
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
                "baseline_duration_s": self.baseline_s,
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
                Target("rate", "min_ratio", 0.30, ">= 0.30x"),
                note=f"file, review, penalise on the case service, {args.concurrency} closed-loop workers",
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
            full["cpu_cores"].get(name, 0.0)
            for name in (*SERVICES, "broker", "credit_china", "postgres (our databases)")
        )
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
                note="four services, broker, Credit China simulator (and on PostgreSQL the server's backends for "
                "our databases), per file/review/penalise command",
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


def peak_rss_mib(pid: int) -> float | None:
    """The kernel's high-water mark of the process's resident memory (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return psutil.Process(pid).memory_info().rss / 2**20
    except (OSError, psutil.Error):
        return None


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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = Bench(args)
    tqdm.write(f"caseledger bench {bench.run_id}: {bench.storage_name()}; {os.cpu_count()} CPUs")
    try:
        report = bench.run()
    finally:
        tqdm.write("· stopping the system" + (" and dropping the databases" if bench.postgres else ""))
        bench.stop()
    report.write(args.out)
    stamped = args.out.parent / f"{report.meta['finished_at'][:19].replace(':', '')}-{args.db}.json"
    report.write(stamped)
    print()
    print(f"caseledger bench on {report.meta['storage_detail']}")
    print(f"client: {report.meta['client']}")
    print()
    print(render(report))
    print()
    for phase in ("phase1_full_load", "phase2_half_load"):
        cores = report.details[phase]["cpu_cores_used"]
        shares = " · ".join(f"{name} {value:.2f}" for name, value in cores.items())
        print(f"CPU during {phase} (cores of {os.cpu_count()}): {shares}")
        others = cores.get("everything else on the machine", 0.0)
        if others > BUSY_MACHINE_CORES:
            print(f"  note: other work on the machine took {others:.2f} cores during {phase}; its figures are low")
    split = report.details["ledger_lag_split_ms"]
    if split:
        parts = " · ".join(f"{k} {' / '.join(number(v) for v in p.values())}" for k, p in split.items())
        print(f"ledger lag split, ms p50/p95/p99 (by the row's updated_at): {parts}")
    print()
    for target in report.targets():
        print(f"{target['result']:<4}  {target['figure']}: {target['target']}")
    print(f"\nresults: {args.out} (and {stamped})")


if __name__ == "__main__":
    main()
