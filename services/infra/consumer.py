"""Consumer loop for projections and policies: exactly-once effects over at-least-once
delivery.

A kafka-python consumer group hands partitions out; on assignment the loop seeks each
partition to the position its handler stored *together with its effects*, never to an
offset committed to Kafka. Two handler kinds:

- ``ProjectionRunner`` (``services.infra.projection``): read models in SQLAlchemy. A
  poll's effects, next offsets and applied CloudEvent ids are written in one transaction;
  an event whose id was already applied (a relay re-publish lands at a new offset)
  changes nothing.
- ``PolicyRunner`` (``services.infra.policy``): policies that append events to the
  service's own event store. The new events and a tracking row (group, partition,
  offset) commit together.

Each handler declares the CloudEvent types it handles; the loop drops a message of any
other type before parsing it, by the type the relay puts in its ``ce_type`` header (a
message without the header is parsed to find its type).

Positions are stored under the topic's identity (services/infra/topic.py). On a topic the
handler has no position for (a replaced broker, a recreated topic) it reads from the
beginning and its de-duplication by CloudEvent id leaves what it already applied alone. A
position beyond what the topic of the same identity holds (restored from an older backup,
truncated) cannot be recovered here: the loop stops consuming, says why in /readyz and the
log, and resumes only on another topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cloudevents.core.exceptions import BaseCloudEventException
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from services.infra.broker import ensure_topic, forget_topics
from services.infra.envelope import from_kafka, read_structured_json, time_text
from services.infra.eventstore import TYPE_HEADER
from services.infra.retry import settings_backoff, until_stopped
from services.infra.settings import Settings
from services.infra.telemetry import messaging_attributes
from services.infra.topic import control_kind, topic_watch

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
    # The data's schema (dataschema) and the Kafka key (partitionkey: the case id).
    dataschema: str = ""
    partitionkey: str = ""

    def span_attributes(self, group: str) -> dict[str, str | int]:
        """OpenTelemetry's messaging attributes of processing this event in ``group``."""
        return messaging_attributes(
            "process",
            self.topic,
            group=group,
            partition=self.partition,
            offset=self.offset,
            message_id=self.id,
            key=self.subject,
        )


def parse_record(record: Any) -> ConsumedEvent | None:
    """The CloudEvent of a Kafka record, structured or binary mode as its content type
    says (services/infra/envelope.py), or None for a record that is not one."""
    headers = dict(getattr(record, "headers", None) or ())
    body = read_structured_json(headers, record.value)
    if body is not None:
        return _consumed(record, body, body.get("data"), body.get("time") or "")
    try:
        event = from_kafka(headers, getattr(record, "key", None), record.value)
        attributes = event.get_attributes()
        recorded = attributes.get("time")
        recorded_text = time_text(recorded) if isinstance(recorded, datetime) else str(recorded or "")
        return _consumed(record, attributes, event.get_data(), recorded_text)
    except (ValueError, KeyError, TypeError, BaseCloudEventException):
        _unreadable(record)
        return None


def _consumed(record: Any, attributes: dict[str, Any], data: Any, recorded: str) -> ConsumedEvent | None:
    try:
        return ConsumedEvent(
            id=attributes["id"],
            type=attributes["type"],
            source=attributes["source"],
            subject=attributes.get("subject") or "",
            time=recorded,
            data=data if isinstance(data, dict) else {},
            traceparent=attributes.get("traceparent") or "",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            aggregate_id=attributes.get("aggregateid") or "",
            sequence=int(attributes.get("sequence") or 0),
            dataschema=attributes.get("dataschema") or "",
            partitionkey=attributes.get("partitionkey") or "",
        )
    except (ValueError, KeyError, TypeError):
        _unreadable(record)
        return None


def _unreadable(record: Any) -> None:
    # Not ours to fix: keep the offset moving and say so loudly.
    log.error("unreadable message at %s[%s]@%s skipped", record.topic, record.partition, record.offset)


def record_type(record: Any) -> str | None:
    """The CloudEvent type from the message's ``ce_type`` header, without parsing the
    message; None when the header is absent."""
    for key, value in record.headers or ():
        if key == TYPE_HEADER:
            return bytes(value).decode()
    return None


@dataclass(frozen=True)
class PartitionBatch:
    """What one poll read from one partition: the events to handle and the last offset
    read (past records of other types, control records, unreadable ones)."""

    partition: TopicPartition
    events: Sequence[ConsumedEvent]
    last_offset: int


# A handler that wants every type (the webhook deliveries: subscribers choose).
EVERY_TYPE = None


def wants(handles: Collection[str] | None, event_type: str) -> bool:
    return handles is None or event_type in handles


class Handler(Protocol):
    name: str

    @property
    def handles(self) -> Collection[str] | None:
        """The CloudEvent types it handles (services.common.event_types); EVERY_TYPE for all."""

    def positions(
        self, partitions: Sequence[TopicPartition], topic_identity: str
    ) -> dict[TopicPartition, int | None]: ...

    def apply_poll(self, batches: Sequence[PartitionBatch], topic_identity: str) -> None:
        """A poll's batches, with their positions; all or nothing of it is stored."""

    def close(self) -> None: ...


class TopicChanged(Exception):
    """The topic has another identity than the one the loop reads (a replaced broker)."""


class TopicLostRecords(Exception):
    """A stored position is beyond what the topic of the same identity holds."""


class ConsumerLoop(threading.Thread):
    # How often a running loop checks that the topic is still the one it reads.
    identity_check_s = 5.0
    # How often a halted loop looks whether the topic was replaced meanwhile.
    halted_check_s = 10.0
    # A consumer whose group join has not finished by then is made anew (after a broker
    # was replaced, a join on Tansu 0.6 can hang for good without an error).
    join_timeout_s = 30.0

    def __init__(self, settings: Settings, handler: Handler) -> None:
        super().__init__(name=f"consumer-{handler.name}", daemon=True)
        self.settings = settings
        self.handler = handler
        self.watch = topic_watch(settings)
        self.stopping = threading.Event()
        self.assigned: set[TopicPartition] = set()
        # Events handed to the handler, and events of types it does not handle (dropped).
        self.applied = 0
        self.skipped = 0
        self.last_error: str | None = None
        self.topic_identity: str | None = None
        # Why the loop stopped consuming (a position the topic does not hold), or None.
        self.halted: str | None = None
        self._lost: str | None = None
        self._rejoined_for: str | None = None
        self._joined = False
        # Lag, measured after every poll (read by /metrics and `caseledger status`): per
        # partition, the high watermark minus the next offset to read.
        self.lag_events: dict[int, int] = {}
        self._next_offset: dict[int, int] = {}
        self._last_record_s: dict[int, float] = {}
        self._assigned_at = time.time()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        # A consumer that fails is made anew after a backoff (the broker down, a hung join).
        retrying = until_stopped(self.stopping, self._restarting, settings_backoff(self.settings))
        while not self.stopping.is_set():
            if self.halted and not self._topic_replaced_since_halt():
                continue
            retrying(self._consume)
        self.handler.close()

    def _consume(self) -> None:
        """One consumer, polled until the loop stops, the topic changes or a position the
        topic cannot honour halts it; any other failure is raised, to be retried."""
        consumer = None
        try:
            consumer = self._consumer()
            self._poll_until_stopped(consumer)
        except TopicChanged as exc:
            log.warning("consumer %s: %s; joining again", self.handler.name, exc)
            forget_topics()
        except Exception:
            if not self._lost:
                raise
            # Raised as such, or by the poll that found it.
            self.halted, self._lost = self._lost, None
            log.error("consumer %s STOPPED consuming: %s", self.handler.name, self.halted)
        finally:
            self.assigned = set()
            if consumer is not None:
                consumer.close(autocommit=False)

    def _restarting(self, exc: BaseException, delay: float, _attempt: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("consumer %s restarting in %.1fs: %s", self.handler.name, delay, self.last_error)
        forget_topics()
        self.watch.reset()

    def _topic_replaced_since_halt(self) -> bool:
        """While halted: resume only when the topic has another identity (positions then
        start afresh); otherwise say so again, loudly, now and then."""
        self.stopping.wait(self.halted_check_s)
        try:
            identity = self.watch.identity(fresh=True)
        except Exception as exc:
            log.warning("consumer %s (halted) cannot read the topic: %s", self.handler.name, exc)
            return False
        if identity != self.topic_identity:
            log.warning("consumer %s: the topic was replaced (%s); resuming", self.handler.name, identity)
            self.halted = None
            return True
        log.error("consumer %s is not consuming: %s", self.handler.name, self.halted)
        return False

    def _consumer(self) -> KafkaConsumer:
        ensure_topic(self.settings)
        # The group only shares partitions among a service's replicas (positions are ours,
        # never committed to Kafka), so each topic gets a group of its own: a group of the
        # old topic, carried over to a replaced broker, can hang joins for good (Tansu 0.6).
        group = f"{self.handler.name}.{self.watch.identity()[:8]}"
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=group,
            client_id=f"{self.settings.service_name}-{self.handler.name}",
            enable_auto_commit=False,
            # Never a silent jump: every position is set by _seek_stored, and a fetch out
            # of range raises (then the stored position is checked against the topic).
            auto_offset_reset="none",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=60_000,
            fetch_max_wait_ms=100,
            max_poll_records=self.settings.consumer_batch_size,
            allow_auto_create_topics=False,  # ensure_topic creates it, with its settings
            request_timeout_ms=30_000,
        )
        consumer.subscribe([self.settings.case_events_topic], listener=_SeekToStored(self, consumer))
        return consumer

    def _poll_until_stopped(self, consumer: KafkaConsumer) -> None:
        checked = created = time.monotonic()
        self._joined = False
        while not self.stopping.is_set():
            if not self._joined and time.monotonic() - created > self.join_timeout_s:
                raise TimeoutError(f"no partition assignment within {self.join_timeout_s:.0f}s of joining the group")
            if time.monotonic() - checked > self.identity_check_s:
                checked = time.monotonic()
                identity = self.watch.identity()
                if self.topic_identity is not None and identity not in (self.topic_identity, self._rejoined_for):
                    # Another topic (a replaced broker): join its group afresh, once, with
                    # fresh metadata; the assignment then seeks to its positions.
                    self._rejoined_for = identity
                    raise TopicChanged(f"the topic is now {identity}, was {self.topic_identity}")
            batches = consumer.poll(timeout_ms=200)
            if self._lost:
                raise TopicLostRecords(self._lost)
            self._measure_lag(consumer)
            polled, skipped = [], 0
            for partition, records in batches.items():
                events, skipped_here = self._wanted_events(records)
                polled.append(PartitionBatch(partition, events, records[-1].offset))
                skipped += skipped_here
            if not polled:
                continue
            assert self.topic_identity is not None  # set on assignment, before any fetch
            try:
                self.handler.apply_poll(polled, self.topic_identity)
            except Exception as exc:
                # Nothing of the poll is stored: go back to the stored positions.
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("consumer %s failed on %s; retrying", self.handler.name, list(batches))
                self._seek_stored(consumer, list(batches))
                self.stopping.wait(self.settings.retry_initial_s)
                continue
            self.applied += sum(len(b.events) for b in polled)
            self.skipped += skipped
            self.last_error = None
            for partition, records in batches.items():
                self._next_offset[partition.partition] = records[-1].offset + 1
                self._last_record_s[partition.partition] = records[-1].timestamp / 1000

    def _measure_lag(self, consumer: KafkaConsumer) -> None:
        lag = {}
        for tp in list(self.assigned):
            highwater = consumer.highwater(tp)  # from the last fetch answer: no request of its own
            if highwater is not None:
                lag[tp.partition] = max(0, highwater - self._next_offset.get(tp.partition, 0))
        self.lag_events = lag

    @property
    def lag_seconds(self) -> float:
        """How far behind in time, while behind: the age of the last record consumed on a
        partition with records still to read (of the assignment, on one with none read
        yet); 0 when caught up."""
        now = time.time()
        behind = [
            now - self._last_record_s.get(partition, self._assigned_at)
            for partition, events in self.lag_events.items()
            if events > 0
        ]
        return max([0.0, *behind])

    def _wanted_events(self, records: Sequence[Any]) -> tuple[list[ConsumedEvent], int]:
        """The records' events the handler handles, and how many events were of other
        types. Control records (services/infra/topic.py) are not events, and other types
        are dropped by their header: both unparsed."""
        handles = self.handler.handles
        events = []
        skipped = 0
        for record in records:
            if control_kind(record.headers):
                continue
            announced = record_type(record)
            if announced is not None and not wants(handles, announced):
                skipped += 1
                continue
            event = parse_record(record)
            if event is not None and wants(handles, event.type):
                events.append(event)
            elif event is not None:
                skipped += 1
        return events, skipped

    def _seek_stored(self, consumer: KafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        identity = self.watch.identity(fresh=True)
        if self.topic_identity is not None and identity != self.topic_identity:
            log.warning(
                "consumer %s: topic %s is another topic now (%s, was %s): reading it from the beginning",
                self.handler.name,
                self.settings.case_events_topic,
                identity,
                self.topic_identity,
            )
        self.topic_identity = identity
        stored = self.handler.positions(partitions, identity)
        self._assigned_at = time.time()
        for partition in partitions:
            position = stored.get(partition)
            self._next_offset[partition.partition] = position or 0
            self._last_record_s.pop(partition.partition, None)
            if position is None:
                consumer.seek_to_beginning(partition)
                continue
            if position > 0 and not self.watch.holds_offset(partition.partition, position - 1):
                self._lost = (
                    f"stored position {position} of partition {partition.partition} is beyond what topic "
                    f"{partition.topic} ({identity}) holds: records were lost from the same topic (restored "
                    "from an older backup or truncated?); re-publish the event stores to a new topic"
                )
                return
            consumer.seek(partition, position)


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python has no type information
    def __init__(self, loop: ConsumerLoop, consumer: KafkaConsumer) -> None:
        self.loop = loop
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.loop.assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop._joined = True  # even with no partition: a replica beyond their number
        self.loop._seek_stored(self.consumer, list(assigned))
        self.loop.assigned |= set(assigned)
