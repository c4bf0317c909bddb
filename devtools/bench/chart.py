"""The chart of a bench run (PNG beside its JSON): throughput and latency percentiles per
phase, each beside its same-run baseline. Drawn from the report's JSON alone, so an older
result can be drawn again: ``python -m devtools.bench.chart bench/results/latest.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server

import matplotlib.pyplot as plt

from devtools.bench.load import CASE_COMMANDS

PERCENTILES = ("p50", "p95", "p99")
KIND_NAMES = {
    "file": "file",
    "notify": "notice",
    "waive": "waiver",
    "review": "review",
    "penalise": "decision",
    "refer": "refer",
    "noop": "trivial",
}


def phases(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The load phases of a report, in run order, with a short label each."""
    details = report["details"]
    found = [("trivial, closed loop", max(details["trivial_closed_runs"], key=lambda r: sum(r["counts"].values())))]
    found += [("phase 1: max load", details["phase1_full_load"]), ("phase 2: half load", details["phase2_half_load"])]
    found.append(("trivial, paced", details["trivial_paced"]))
    return found


def throughput(report: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, requests or case commands per second) per phase, then the library alone."""
    bars = []
    for label, phase in phases(report):
        rates = phase["rates"]
        if phase["target"] == "trivial":
            bars.append((label, float(sum(rates.values()))))
        else:
            bars.append((label, float(sum(rates.get(kind, 0.0) for kind in CASE_COMMANDS))))
    library = report["details"].get("library_alone")
    if library:
        bars.append(("library alone", float(library["rate"])))
    return bars


def draw(report: dict[str, Any], path: Path) -> Path:
    """Write the chart of ``report`` (its JSON form) to ``path``; return the path."""
    meta = report["meta"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 2]})
    bars = throughput(report)
    positions = range(len(bars))
    colours = ["#999999" if "trivial" in label or "library" in label else "#1f77b4" for label, _ in bars]
    left.bar(positions, [value for _, value in bars], color=colours)
    left.set_xticks(list(positions), [label for label, _ in bars], rotation=30, ha="right", fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("per second (log): case commands, or trivial requests")
    left.set_title("throughput (grey: same-run baselines)", fontsize=10)
    for x, (_, value) in zip(positions, bars, strict=True):
        left.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=8)

    groups: list[tuple[str, dict[str, float | None]]] = []
    order = [*CASE_COMMANDS, "refer", "noop"]
    for (_label, phase), short in zip(phases(report), ("trivial", "max", "half", "trivial paced"), strict=True):
        latency = phase["latency_ms"]
        for kind in sorted(latency, key=lambda k: order.index(k) if k in order else len(order)):
            if latency[kind].get("p50") is not None:
                groups.append((f"{short}\n{KIND_NAMES.get(kind, kind)}", latency[kind]))
    width = 0.27
    for n, p in enumerate(PERCENTILES):
        xs = [i + (n - 1) * width for i in range(len(groups))]
        right.bar(xs, [stats.get(p) or 0.0 for _, stats in groups], width, label=p)
    right.set_xticks(list(range(len(groups))), [name for name, _ in groups], fontsize=7)
    right.set_yscale("log")
    right.set_ylabel("latency, ms (log)")
    right.set_title("latency percentiles per phase and command", fontsize=10)
    right.legend(fontsize=8)
    load = meta["machine"].get("load_average")
    load_text = f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}" if load else ""
    figure.suptitle(
        f"caseledger bench {meta['run_id']} · {meta['storage']} · commit {meta.get('git_commit')} · "
        f"{meta['finished_at']} · {meta['machine']['cpus']} CPUs · {load_text}",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> None:
    for name in argv if argv is not None else sys.argv[1:]:
        source = Path(name)
        print(draw(json.loads(source.read_text()), source.with_suffix(".png")))


if __name__ == "__main__":
    main()
