"""Crash safety under SIGKILL: a few hundred commands through the whole system on
PostgreSQL while each service process is killed at random moments and restarted, then
nothing lost, nothing duplicated, every event on the broker, every projection equal to
its rebuild and every webhook delivered unchanged. `make chaos` runs the same with
10,000 commands (devtools/chaos/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.chaos.options import ChaosOptions
from devtools.chaos.run import run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_nothing_lost_duplicated_or_diverged_when_services_are_killed(postgres_server: str, tmp_path: Path) -> None:
    options = ChaosOptions(
        commands=300,
        kills_per_service=2,
        workers=8,
        postgres_url=postgres_server,
        data_dir=tmp_path / "chaos",
        progress=False,
        settle_timeout_s=240,
    )
    report = run_chaos(options, log=lambda _line: None)
    print(report.render())
    assert report.ok, report.render()
    counts = report.counts
    assert counts["lost"] == counts["duplicated"] == 0
    assert counts["ok"] >= options.commands * 0.95
    assert {k.service for k in report.kills} == {"case", "referral", "disclosure", "notification"}
    assert len(report.kills) >= 4 * options.kills_per_service
