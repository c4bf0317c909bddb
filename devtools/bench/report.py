"""What a bench run found, and how it is shown: percentiles, figures beside their
baselines, the targets (issues 3 and 18) with PASS/MISS, the terminal table and the JSON file.

Pure functions over numbers, so they are unit-tested without running anything."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASS, MISS, NOT_MEASURED = "PASS", "MISS", "n/a"


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between closest ranks
    (numpy's default), or None when there is nothing to rank."""
    if not values:
        return None
    ranked = sorted(values)
    position = (len(ranked) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


def percentiles(values: Sequence[float], ps: Sequence[int] = (50, 95, 99)) -> dict[str, float | None]:
    return {f"p{p}": percentile(values, p) for p in ps}


def rate(count: int, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


@dataclass(frozen=True)
class Target:
    """A target. ``min_ratio``: figure/baseline must be at least ``threshold``;
    ``max_value``: the figure itself must stay below ``threshold``; ``at_most``: the
    figure must not exceed it."""

    stat: str
    kind: str
    threshold: float
    text: str

    def result(self, value: float | None, ratio: float | None) -> str:
        if self.kind == "min_ratio":
            return NOT_MEASURED if ratio is None else (PASS if ratio >= self.threshold else MISS)
        if self.kind == "max_value":
            return NOT_MEASURED if value is None else (PASS if value < self.threshold else MISS)
        if self.kind == "at_most":
            return NOT_MEASURED if value is None else (PASS if value <= self.threshold else MISS)
        raise ValueError(f"unknown target kind {self.kind}")


@dataclass
class Figure:
    """One measured figure beside its baseline from the same run. ``value`` and
    ``baseline`` map a statistic ("rate", "p50", "peak", ...) to a number."""

    name: str
    unit: str
    value: Mapping[str, float | None]
    baseline: Mapping[str, float | None]
    baseline_name: str
    target: Target | None = None
    note: str = ""

    def ratio(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for stat, value in self.value.items():
            base = self.baseline.get(stat)
            out[stat] = value / base if value is not None and base else None
        return out

    def result(self) -> str | None:
        if self.target is None:
            return None
        return self.target.result(self.value.get(self.target.stat), self.ratio().get(self.target.stat))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "unit": self.unit,
            "value": dict(self.value),
            "baseline": dict(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": self.ratio(),
        }
        if self.target is not None:
            body["target"] = {"text": self.target.text, "stat": self.target.stat, "result": self.result()}
        if self.note:
            body["note"] = self.note
        return body


@dataclass
class Report:
    meta: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def targets(self) -> list[dict[str, Any]]:
        return [
            {
                "figure": f.name,
                "target": f.target.text,
                "result": f.result(),
                "ratio": f.ratio().get(f.target.stat),
                "value": f.value.get(f.target.stat),
            }
            for f in self.figures
            if f.target is not None
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "figures": [f.as_json() for f in self.figures],
            "targets": self.targets(),
            "details": self.details,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), ensure_ascii=False, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# -- the terminal table ---------------------------------------------------------------------


def number(value: float | None, unit: str = "") -> str:
    """Three significant figures, thousands grouped; '-' for nothing measured."""
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _joined(values: Mapping[str, float | None], unit: str = "") -> str:
    return " / ".join(number(v, unit) for v in values.values())


def _stats(figure: Figure) -> str:
    stats = list(figure.value)
    return "" if stats in (["rate"], ["peak"], ["mean"]) else " " + "/".join(stats)


def rows(report: Report) -> list[list[str]]:
    table = [["figure", "value", "baseline", "ratio", "target"]]
    for f in report.figures:
        target = f"{f.target.text}: {f.result()}" if f.target else ""
        table.append(
            [
                f"{f.name} [{f.unit}{_stats(f)}]",
                _joined(f.value),
                f"{_joined(f.baseline)}  ({f.baseline_name})",
                _joined(f.ratio(), "x"),
                target,
            ]
        )
    return table


def render(report: Report) -> str:
    table = rows(report)
    widths = [max(_width(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else 1 for ch in text)
