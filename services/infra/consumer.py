"""Consumer loop for projections and policies: exactly-once effects over at-least-once
delivery.

A kafka-python consumer group hands partitions out; on assignment the loop seeks each
partition to the position its handler stored *together with its effects*, never to an
offset committed to Kafka. Two handler kinds:

- ``ProjectionRunner``: read models in SQLAlchemy. The effect, the next offset and the
  applied CloudEvent ids are written in one transaction; an event whose id was already
  applied (a relay re-publish lands at a new offset) changes nothing.
- ``PolicyRunner``: policies that append events to the service's own event store. The new
  events and a tracking row (group, partition, offset) commit together.

Positions are stored under the topic's identity (services/infra/topic.py). On a topic the
handler has no position for (a replaced broker, a recreated topic) it reads from the
beginning and its de-duplication by CloudEvent id leaves what it already applied alone. A
position beyond what the topic of the same identity holds (restored from an older backup,
truncated) cannot be recovered here: the loop stops consuming, says why in /readyz and the
log, and resumes only on another topic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.infra.broker import ensure_topic, forget_topics
from services.infra.eventstore import ServiceApplication
from services.infra.settings import Settings
from services.infra.storage import make_engine
from services.infra.telemetry import span_from
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

    def is_type(self, suffix: str) -> bool:
        return self.type.endswith(suffix)

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00"))


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


class Handler(Protocol):
    name: str

    def positions(
        self, partitions: Sequence[TopicPartition], topic_identity: str
    ) -> dict[TopicPartition, int | None]: ...

    def apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None: ...

    def close(self) -> None: ...


class TopicLostRecords(Exception):
    """A stored position is beyond what the topic of the same identity holds."""


class ConsumerLoop(threading.Thread):
    # How often a running loop checks that the topic is still the one it reads.
    identity_check_s = 5.0
    # How often a halted loop looks whether the topic was replaced meanwhile.
    halted_check_s = 10.0

    def __init__(self, settings: Settings, handler: Handler) -> None:
        super().__init__(name=f"consumer-{handler.name}", daemon=True)
        self.settings = settings
        self.handler = handler
        self.watch = topic_watch(settings)
        self.stopping = threading.Event()
        self.assigned: set[TopicPartition] = set()
        self.applied = 0
        self.last_error: str | None = None
        self.topic_identity: str | None = None
        # Why the loop stopped consuming (a position the topic does not hold), or None.
        self.halted: str | None = None
        self._lost: str | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        delay = self.settings.retry_initial_s
        while not self.stopping.is_set():
            if self.halted and not self._topic_replaced_since_halt():
                continue
            consumer = None
            try:
                consumer = self._consumer()
                self._poll_until_stopped(consumer)
            except Exception as exc:
                if self._lost:  # raised as such, or by the poll that found it
                    self.halted, self._lost = self._lost, None
                    log.error("consumer %s STOPPED consuming: %s", self.handler.name, self.halted)
                    continue
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer %s restarting in %.1fs: %s", self.handler.name, delay, self.last_error)
                forget_topics()
                self.watch.reset()
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
            finally:
                self.assigned = set()
                if consumer is not None:
                    consumer.close(autocommit=False)
        self.handler.close()

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
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=self.handler.name,
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
            request_timeout_ms=30_000,
        )
        consumer.subscribe([self.settings.case_events_topic], listener=_SeekToStored(self, consumer))
        return consumer

    def _poll_until_stopped(self, consumer: KafkaConsumer) -> None:
        checked = time.monotonic()
        while not self.stopping.is_set():
            if self.assigned and time.monotonic() - checked > self.identity_check_s:
                checked = time.monotonic()
                if self.watch.identity() != self.topic_identity:
                    self._seek_stored(consumer, sorted(self.assigned))  # to the new topic's positions
            batches = consumer.poll(timeout_ms=200)
            if self._lost:
                raise TopicLostRecords(self._lost)
            for partition, records in batches.items():
                # Control records (services/infra/topic.py) are not events: skipped unread.
                events = [
                    e for e in (parse_record(r) for r in records if not control_kind(r.headers)) if e is not None
                ]
                assert self.topic_identity is not None  # set on assignment, before any fetch
                try:
                    self.handler.apply(partition, events, records[-1].offset, self.topic_identity)
                except Exception as exc:
                    # Nothing of the batch is stored: go back to the stored position.
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("consumer %s failed on %s; retrying", self.handler.name, partition)
                    self._seek_stored(consumer, [partition])
                    self.stopping.wait(self.settings.retry_initial_s)
                    continue
                self.applied += len(events)
                self.last_error = None

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
        for partition in partitions:
            position = stored.get(partition)
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


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumerLoop, consumer: KafkaConsumer) -> None:
        self.loop = loop
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.loop.assigned -= set(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop._seek_stored(self.consumer, list(assigned))
        self.loop.assigned |= set(assigned)


# -- SQL projections --------------------------------------------------------------------

consumer_metadata = MetaData()
# The next offset to read per partition, on the topic of ``topic_identity`` only. (The
# table before topic identities was consumer_offsets: left alone, so an upgraded consumer
# reads the topic once more from the beginning and its de-duplication drops what it had.)
consumer_positions = Table(
    "consumer_positions",
    consumer_metadata,
    Column("consumer", String(120), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("topic_identity", String(80), nullable=False),
    Column("next_offset", Integer, nullable=False),
)
applied_events = Table(
    "applied_events",
    consumer_metadata,
    Column("consumer", String(120), primary_key=True),
    Column("event_id", String(64), primary_key=True),
)


def upsert(table: Table, values: dict[str, Any], keys: Sequence[str], dialect: str) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on PostgreSQL or SQLite."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values)
    updates = {k: stmt.excluded[k] for k in values if k not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


class Projection(Protocol):
    """A read model fed from Kafka. ``apply`` runs inside the batch's transaction."""

    name: str
    metadata: MetaData

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None: ...


class ProjectionRunner:
    """Runs one projection in the consumer thread, on that thread's own event loop."""

    def __init__(self, settings: Settings, projection: Projection) -> None:
        self.name = projection.name
        self.projection = projection
        self.loop = asyncio.new_event_loop()
        self.engine: AsyncEngine = make_engine(settings)
        self.loop.run_until_complete(create_tables(self.engine, projection.metadata))

    def positions(
        self, partitions: Sequence[TopicPartition], topic_identity: str
    ) -> dict[TopicPartition, int | None]:
        return self.loop.run_until_complete(self._positions(partitions, topic_identity))

    async def _positions(
        self, partitions: Sequence[TopicPartition], topic_identity: str
    ) -> dict[TopicPartition, int | None]:
        positions = consumer_positions.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(positions.topic, positions.partition, positions.next_offset).where(
                    positions.consumer == self.name, positions.topic_identity == topic_identity
                )
            )
            stored = {TopicPartition(t, p): o for t, p, o in rows}
        return {tp: stored.get(tp) for tp in partitions}

    def apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None:
        self.loop.run_until_complete(self._apply(partition, events, last_offset, topic_identity))

    async def _apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None:
        async with self.engine.begin() as conn:
            dialect = conn.dialect.name
            ids = [e.id for e in events]
            seen: set[str] = set()
            if ids:
                rows = await conn.execute(
                    select(applied_events.c.event_id).where(
                        applied_events.c.consumer == self.name, applied_events.c.event_id.in_(ids)
                    )
                )
                seen = {r[0] for r in rows}
            for event in events:
                if event.id in seen:
                    continue  # a duplicate delivery or a re-published event: no effect
                seen.add(event.id)
                await conn.execute(applied_events.insert().values(consumer=self.name, event_id=event.id))
                with span_from(event.traceparent, f"{self.name} apply", **{"cloudevents.event_type": event.type}):
                    await self.projection.apply(conn, event)
            await conn.execute(
                upsert(
                    consumer_positions,
                    {
                        "consumer": self.name,
                        "topic": partition.topic,
                        "partition": partition.partition,
                        "topic_identity": topic_identity,
                        "next_offset": last_offset + 1,
                    },
                    ("consumer", "topic", "partition"),
                    dialect,
                )
            )

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


async def create_tables(engine: AsyncEngine, metadata: MetaData) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(consumer_metadata.create_all)
        await conn.run_sync(metadata.create_all)


# -- policies that append events ------------------------------------------------------

Policy = Callable[[ConsumedEvent], Sequence[Aggregate]]


class PolicyRunner:
    """Runs a policy: for each event, the aggregates it returns are saved with a
    tracking row for (policy, partition, offset) in one event-store transaction."""

    def __init__(self, app: ServiceApplication, name: str, policy: Policy) -> None:
        self.app = app
        self.name = name
        self.policy = policy

    def _tracking_name(self, partition: TopicPartition, topic_identity: str) -> str:
        return f"{self.name}:{partition.topic}@{topic_identity}:{partition.partition}"

    def positions(
        self, partitions: Sequence[TopicPartition], topic_identity: str
    ) -> dict[TopicPartition, int | None]:
        # The tracking id stored is the next offset to read (offset + 1, so never 0).
        recorder = self.app.process_recorder
        return {tp: recorder.max_tracking_id(self._tracking_name(tp, topic_identity)) for tp in partitions}

    def apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None:
        recorder = self.app.process_recorder
        name = self._tracking_name(partition, topic_identity)
        for event in events:
            tracking = Tracking(name, event.offset + 1)
            if recorder.has_tracking_id(name, tracking.notification_id):
                continue
            with span_from(event.traceparent, f"{self.name} policy", **{"cloudevents.event_type": event.type}):
                aggregates = self.policy(event)
                if not aggregates:
                    continue
                try:
                    self.app.save_tracked(tracking, *aggregates)
                except IntegrityError:
                    # Deterministic aggregate ids: the effect of this CloudEvent already
                    # exists (a re-published duplicate). Record the position alone.
                    try:
                        recorder.insert_tracking(tracking)
                    except IntegrityError:
                        pass

    def close(self) -> None:
        pass
