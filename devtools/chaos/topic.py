"""The whole case-events topic, read from the beginning by a consumer of its own."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from devtools.chaos.facts import TOPIC
from services.infra.topic import control_kind


class Topic:
    """The whole topic, read from the beginning by a group-less consumer that keeps up.

    The end of a partition is where reading stops finding records, not only what the
    broker reports: the embedded broker (Tansu 0.6.0) answers ListOffsets(latest) with the
    base offset of the partition's last record batch plus one, below records it serves
    when that batch holds several (see ``watermark_lags``)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
        )
        partitions = self.consumer.partitions_for_topic(TOPIC) or set()
        self.partitions = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.records: dict[int, list[Any]] = defaultdict(list)
        # Partitions whose readable end was past the end offset the broker reported.
        self.watermark_lags: dict[int, tuple[int, int]] = {}

    def reported_ends(self) -> dict[int, int]:
        ends = self.consumer.end_offsets(self.partitions)
        return {tp.partition: int(o) for tp, o in ends.items()}

    def catch_up(self, timeout_s: float = 300) -> dict[int, int]:
        """Read until the reported ends are reached and two polls in a row bring nothing;
        returns each partition's end as read (the next offset to come)."""
        reported = self.reported_ends()
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read the topic to its end within {timeout_s:.0f}s")
            batches = self.consumer.poll(timeout_ms=300, max_records=5000)
            for tp, batch in batches.items():
                # Control records (the topic's genesis, the relays' caught-up) are not events.
                self.records[tp.partition].extend(r for r in batch if not control_kind(r.headers))
            at_end = all(self.consumer.position(tp) >= reported[tp.partition] for tp in self.partitions)
            quiet = quiet + 1 if at_end and not batches else 0
        after = self.reported_ends()  # asked after reading: never below what was read
        ends = {}
        for tp in self.partitions:
            read = self.consumer.position(tp)
            ends[tp.partition] = max(read, after[tp.partition])
            if read > after[tp.partition]:
                self.watermark_lags[tp.partition] = (after[tp.partition], read)
        return ends

    def close(self) -> None:
        self.consumer.close()
