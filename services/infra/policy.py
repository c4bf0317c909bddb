"""Policies: handlers that append events to the service's own event store. For each
event, the aggregates the policy returns are saved with a tracking row for (policy,
partition, offset) in one event-store transaction. A policy must be idempotent on its
aggregates' state (it runs again when its save collides with a command's)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import TopicPartition

from services.infra.consumer import ConsumedEvent, PartitionBatch
from services.infra.eventstore import ServiceApplication
from services.infra.telemetry import span_from

Policy = Callable[[ConsumedEvent], Sequence[Aggregate]]
# How often an event's effect is decided again when its save collides.
SAVE_ATTEMPTS = 3


class PolicyRunner:
    """Runs a policy: for each event, the aggregates it returns are saved with a
    tracking row for (policy, partition, offset) in one event-store transaction."""

    def __init__(self, app: ServiceApplication, name: str, policy: Policy, handles: Collection[str]) -> None:
        self.app = app
        self.name = name
        self.policy = policy
        self.handles = handles

    def _tracking_name(self, partition: TopicPartition, topic_identity: str) -> str:
        return f"{self.name}:{partition.topic}@{topic_identity}:{partition.partition}"

    def positions(self, partitions: Sequence[TopicPartition], topic_identity: str) -> dict[TopicPartition, int | None]:
        # The tracking id stored is the next offset to read (offset + 1, so never 0).
        recorder = self.app.process_recorder
        return {tp: recorder.max_tracking_id(self._tracking_name(tp, topic_identity)) for tp in partitions}

    def apply_poll(self, batches: Sequence[PartitionBatch], topic_identity: str) -> None:
        # Each event its own save and tracking row: what is saved stays (the positions are
        # the tracking rows), a failure leaves the poll's rest to be read again.
        for batch in batches:
            self.apply(batch.partition, batch.events, batch.last_offset, topic_identity)

    def apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None:
        recorder = self.app.process_recorder
        name = self._tracking_name(partition, topic_identity)
        for event in events:
            if event.type not in self.handles:
                continue
            tracking = Tracking(name, event.offset + 1)
            if recorder.has_tracking_id(name, tracking.notification_id):
                continue
            with span_from(event.traceparent, f"process {event.topic}", **event.span_attributes(self.name)):
                self._save(tracking, event)

    def _save(self, tracking: Tracking, event: ConsumedEvent) -> None:
        for _attempt in range(SAVE_ATTEMPTS):
            aggregates = self.policy(event)
            if not aggregates:
                return
            try:
                self.app.save_tracked(tracking, *aggregates)
                return
            except IntegrityError:
                # A command saved the aggregate between the policy's load and its save:
                # decide again on the newer version (the policy sees what is done already).
                continue
        # Still colliding: deterministic aggregate ids, the effect of this CloudEvent
        # already exists (a re-published duplicate). Record the position alone.
        with contextlib.suppress(IntegrityError):
            self.app.process_recorder.insert_tracking(tracking)

    def close(self) -> None:
        pass
