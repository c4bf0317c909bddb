"""The end-to-end fixture shared by the tests that move business time: one whole system,
started with "today" fixed (CLOCK_TODAY) and the deadline schedulers looking every half
second; a test moves the clock by setting ``extra_env["CLOCK_TODAY"]`` and restarting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.launcher import LocalSystem


@pytest.fixture(scope="session")
def clocked_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    running = LocalSystem.on_free_ports(
        tmp_path_factory.mktemp("clocked") / "var",
        extra_env={"CLOCK_TODAY": "2026-05-01", "SCHEDULER_INTERVAL_S": "0.5"},
    )
    try:
        running.start(timeout=120)
        yield running
    finally:
        running.stop()
