"""``python -m devtools.bench``: start the whole system on free ports, measure it, and set
each figure beside a baseline measured in this same run.

The steps are in ``devtools.bench.run``; the figures they make in ``devtools.bench.figures``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from tqdm import tqdm

from devtools.bench.chart import draw
from devtools.bench.report import number, render
from devtools.bench.run import Bench

# More CPU than this used by processes that are not ours makes a phase's figures suspect.
BUSY_MACHINE_CORES = 0.25


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
        help="load processes sharing the closed-loop workers "
        "(one httpx client saturates a core on the trivial endpoint)",
    )
    parser.add_argument("--refer-share", type=float, default=0.25, help="share of cases also referred")
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the databases")
    return parser.parse_args(argv)


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
    charts = [draw(report.as_json(), path.with_suffix(".png")) for path in (args.out, stamped)]
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
    print(f"\nresults: {args.out} (and {stamped}); charts: {', '.join(str(c) for c in charts)}")
    print(f"machine load (uptime): {uptime()}")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
