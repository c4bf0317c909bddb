"""Consumer loop for projections and policies: exactly-once effects over at-least-once
delivery.

A kafka-python consumer group hands partitions out; on assignment the loop seeks each
partition to the position its handler stored *together with its effects*, never to an
offset committed to Kafka. Two handler kinds:

- ``ProjectionRunner`` (``services.infra.projection``): read models in SQLAlchemy. The
  effect, the next offset and the applied CloudEvent ids are written in one transaction;
  an event whose id was already applied (a relay re-publish lands at a new offset)
  changes nothing.
- ``PolicyRunner`` (``services.infra.policy``): policies that append events to the
  service's own event store. The new events and a tracking row (group, partition,
  offset) commit together.

Each handler declares the CloudEvent types it handles; the loop drops a message of any
other type before parsing it, by the type the relay puts in its ``ce_type`` header (a
message without the header is parsed to find its type).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from services.infra.broker import ensure_topic, forget_topics
from services.infra.eventstore import TYPE_HEADER
from services.infra.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumedEvent:
    """A CloudEvent as read from Kafka, with where it was read from."""

    id: str
    type: str
    source: str
    subject: str
    time: str
    data: dict[str, Any]
    traceparent: str
    topic: str
    partition: int
    offset: int
    # The emitting aggregate's id and version (CloudEvent extensions aggregateid, sequence).
    aggregate_id: str = ""
    sequence: int = 0


def parse_record(record: Any) -> ConsumedEvent | None:
    try:
        envelope = json.loads(record.value)
        return ConsumedEvent(
            id=envelope["id"],
            type=envelope["type"],
            source=envelope["source"],
            subject=envelope.get("subject", ""),
            time=envelope.get("time", ""),
            data=envelope.get("data") or {},
            traceparent=envelope.get("traceparent", ""),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            aggregate_id=envelope.get("aggregateid", ""),
            sequence=int(envelope.get("sequence") or 0),
        )
    except (ValueError, KeyError, TypeError):
        # Not ours to fix: keep the offset moving and say so loudly.
        log.error("unreadable message at %s[%s]@%s skipped", record.topic, record.partition, record.offset)
        return None


def record_type(record: Any) -> str | None:
    """The CloudEvent type from the message's ``ce_type`` header, without parsing the
    message; None when the header is absent."""
    for key, value in record.headers or ():
        if key == TYPE_HEADER:
            return bytes(value).decode()
    return None


# A handler that wants every type (the webhook deliveries: subscribers choose).
EVERY_TYPE = None


def wants(handles: Collection[str] | None, event_type: str) -> bool:
    return handles is None or event_type in handles


class Handler(Protocol):
    name: str

    @property
    def handles(self) -> Collection[str] | None:
        """The CloudEvent types it handles (services.common.event_types); EVERY_TYPE for all."""

    def positions(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int | None]: ...

    def apply(self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int) -> None: ...

    def close(self) -> None: ...


class ConsumerLoop(threading.Thread):
    def __init__(self, settings: Settings, handler: Handler) -> None:
        super().__init__(name=f"consumer-{handler.name}", daemon=True)
        self.settings = settings
        self.handler = handler
        self.stopping = threading.Event()
        self.assigned: set[TopicPartition] = set()
        self.applied = 0
        self.last_error: str | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        delay = self.settings.retry_initial_s
        while not self.stopping.is_set():
            consumer = None
            try:
                consumer = self._consumer()
                self._poll_until_stopped(consumer)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer %s restarting in %.1fs: %s", self.handler.name, delay, self.last_error)
                forget_topics()
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
            finally:
                self.assigned = set()
                if consumer is not None:
                    consumer.close(autocommit=False)
        self.handler.close()

    def _consumer(self) -> KafkaConsumer:
        ensure_topic(self.settings)
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=self.handler.name,
            client_id=f"{self.settings.service_name}-{self.handler.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=60_000,
            fetch_max_wait_ms=100,
            max_poll_records=self.settings.consumer_batch_size,
            request_timeout_ms=30_000,
        )
        consumer.subscribe([self.settings.case_events_topic], listener=_SeekToStored(self, consumer))
        return consumer

    def _poll_until_stopped(self, consumer: KafkaConsumer) -> None:
        while not self.stopping.is_set():
            batches = consumer.poll(timeout_ms=200)
            for partition, records in batches.items():
                events = self._wanted_events(records)
                try:
                    self.handler.apply(partition, events, records[-1].offset)
                except Exception as exc:
                    # Nothing of the batch is stored: go back to the stored position.
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("consumer %s failed on %s; retrying", self.handler.name, partition)
                    self._seek_stored(consumer, [partition])
                    self.stopping.wait(self.settings.retry_initial_s)
                    continue
                self.applied += len(events)
                self.last_error = None

    def _wanted_events(self, records: Sequence[Any]) -> list[ConsumedEvent]:
        """The records' events the handler handles; other types are dropped by their
        header, before their data is parsed."""
        handles = self.handler.handles
        if handles is None:
            return [e for e in (parse_record(r) for r in records) if e is not None]
        events = []
        for record in records:
            announced = record_type(record)
            if announced is not None and announced not in handles:
                continue
            event = parse_record(record)
            if event is not None and event.type in handles:
                events.append(event)
        return events

    def _seek_stored(self, consumer: KafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        stored = self.handler.positions(partitions)
        for partition in partitions:
            position = stored.get(partition)
            if position is None:
                consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, position)


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumerLoop, consumer: KafkaConsumer) -> None:
        self.loop = loop
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.loop.assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop._seek_stored(self.consumer, list(assigned))
        self.loop.assigned |= set(assigned)
