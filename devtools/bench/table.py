"""The README's performance table from the JSON of a SQLite and a PostgreSQL run, side by
side: ``python -m devtools.bench.table bench/results/<sqlite>.json bench/results/<postgres>.json``
prints Markdown (each figure: value, same-run baseline, ratio and target per database)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from devtools.bench.report import number


def _cell(values: dict[str, float | None], unit: str = "") -> str:
    return " / ".join(number(v, unit) for v in values.values())


def _stats(figure: dict[str, Any]) -> str:
    stats = list(figure["value"])
    return "" if stats in (["rate"], ["peak"], ["mean"]) else " " + "/".join(stats)


def _target(figure: dict[str, Any] | None) -> str:
    if figure is None or "target" not in figure:
        return ""
    result = figure["target"]["result"]
    return f"**{result}**" if result == "MISS" else result


def rows(runs: list[dict[str, Any]]) -> list[str]:
    by_name = [{f["name"]: f for f in run["figures"]} for run in runs]
    names = list(dict.fromkeys(name for figures in by_name for name in figures))
    storages = [run["meta"]["storage"] for run in runs]
    header = "| figure | " + " | ".join(f"{s} | baseline | ratio" for s in storages) + " | target |"
    lines = [header, "|---|" + "---:|---:|---:|" * len(runs) + "---|"]
    for name in names:
        present = [figures.get(name) for figures in by_name]
        first = next(f for f in present if f is not None)
        cells = []
        for figure in present:
            if figure is None:
                cells.append("- | - | -")
            else:
                cells.append(f"{_cell(figure['value'])} | {_cell(figure['baseline'])} | {_cell(figure['ratio'], 'x')}")
        targets = [(storage, _target(f)) for storage, f in zip(storages, present, strict=True) if _target(f)]
        target = ""
        if targets:
            target = first["target"]["text"] + ": " + ", ".join(f"{result} ({storage})" for storage, result in targets)
        lines.append(f"| {name} ({first['unit']}{_stats(first)}) | " + " | ".join(cells) + f" | {target} |")
    return lines


def legend(runs: list[dict[str, Any]]) -> list[str]:
    """What the baseline columns are: each baseline with the figures measured against it
    (per database where they differ, e.g. the raw inserts' driver)."""
    figures_of: dict[str, list[str]] = {}
    for run in runs:
        for figure in run["figures"]:
            names = figures_of.setdefault(figure["baseline_name"], [])
            if figure["name"] not in names:
                names.append(figure["name"])
    return [f"- *{baseline}*: {'; '.join(names)}" for baseline, names in figures_of.items()]


def main(argv: list[str] | None = None) -> None:
    runs = [json.loads(Path(p).read_text()) for p in (argv if argv is not None else sys.argv[1:])]
    print("\n".join(rows(runs)))
    print()
    print("\n".join(legend(runs)))


if __name__ == "__main__":
    main()
