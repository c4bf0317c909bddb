"""The counting ledger's consumer in a process of its own, for a test to SIGKILL in the
middle of a batch: ``python -m tests.integration.consumer_process SETTINGS_JSON PROGRESS``.
It appends "<applied>/<batch size>" to PROGRESS as it applies each event of a batch in
memory (before the batch's transaction commits), so the test knows when it is midway."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from services.infra.batch_rows import BatchRows
from services.infra.consumer import ConsumedEvent, ConsumerLoop
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from tests.integration.test_delivery_guarantees import CountingLedger


class ReportingLedger(CountingLedger):
    def __init__(self, progress: Path) -> None:
        super().__init__()
        self.progress = progress.open("a", buffering=1)
        self.batch_size = self.done = 0

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        await super().load(rows, events)
        self.batch_size, self.done = len(events), 0

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        super().apply(rows, event)
        self.done += 1
        self.progress.write(f"{self.done}/{self.batch_size}\n")


def main() -> None:
    settings = Settings.model_validate_json(sys.argv[1])
    ConsumerLoop(settings, ProjectionRunner(settings, ReportingLedger(Path(sys.argv[2])))).run()


if __name__ == "__main__":
    main()
