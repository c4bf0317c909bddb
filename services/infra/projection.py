"""Projections: read models in SQLAlchemy fed from Kafka by the consumer loop, a poll's
batch at a time. The effects, the next offsets and the applied CloudEvent ids are written
in one transaction; an event whose id was already applied (a relay re-publish lands at a
new offset) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Protocol

from kafka import TopicPartition
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.infra.batch_rows import BatchRows
from services.infra.consumer import ConsumedEvent, PartitionBatch, wants
from services.infra.migrations import schema_of, upgrade
from services.infra.settings import Settings
from services.infra.sql import upsert, upsert_statement
from services.infra.storage import make_engine
from services.infra.telemetry import span_from

log = logging.getLogger(__name__)

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
# The schema version of each projection's tables as last built (see ``Projection``).
projection_versions = Table(
    "projection_versions",
    consumer_metadata,
    Column("consumer", String(120), primary_key=True),
    Column("version", Integer, nullable=False),
)


class Projection(Protocol):
    """A read model fed from Kafka, a batch at a time: ``load`` reads what the batch's
    events change into the batch's rows, ``apply`` changes them event by event in memory.

    A projection that can be rebuilt from the topic says so with ``schema_version`` and the
    tables it alone writes (``rebuilt_tables``): when the version in the code is not the
    one its tables were built at (what it shows changed: a new column filled from the
    events, a fixed mapping), the runner empties those tables and the projection's applied
    ids and positions, and the consumer reads the topic again from the beginning. A
    projection without them (the deliveries: records, not rebuildable) is never emptied.
    """

    name: str
    metadata: MetaData

    @property
    def handles(self) -> Collection[str] | None:
        """The CloudEvent types it handles (services.common.event_types); EVERY_TYPE for all."""

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        """Read the rows the batch's events change (``rows.load``): a statement a table."""

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        """The event's effect on the rows read, in memory: the runner writes each changed
        row once, in the batch's transaction."""


class ProjectionRunner:
    """Runs one projection in the consumer thread, on that thread's own event loop.

    Live consumption and rebuilds alike hand it batches (a poll: each of its partitions'
    records); each is applied in one transaction: the ids not applied yet found in one
    statement, the projection's rows read for the whole batch, every event applied to
    them in memory, each changed row written once, the offsets stored once."""

    def __init__(self, settings: Settings, projection: Projection, engine: AsyncEngine | None = None) -> None:
        self.name = projection.name
        self.projection = projection
        self.handles = projection.handles
        self.loop = asyncio.new_event_loop()
        # The service's read-model database, or (``caseledger rebuild``) one the caller made,
        # e.g. on a schema of its own beside the one serving.
        self.engine: AsyncEngine = engine or make_engine(settings)
        self.loop.run_until_complete(prepare_tables(self.engine, projection.metadata))
        self.rebuilt = self.loop.run_until_complete(self._at_schema_version())

    async def _at_schema_version(self) -> bool:
        """Empty the projection's tables when their schema version is not the code's, so
        the topic is read again; True when that happened."""
        version: int | None = getattr(self.projection, "schema_version", None)
        tables: Sequence[str] = getattr(self.projection, "rebuilt_tables", ())
        if version is None:
            return False
        async with self.engine.begin() as conn:
            stored = (
                await conn.execute(
                    select(projection_versions.c.version).where(projection_versions.c.consumer == self.name)
                )
            ).scalar()
            if stored == version:
                return False
            if stored is not None:  # built at another version (a database from before: as it is)
                log.warning("projection %s: tables at version %s, code at %s: rebuilding", self.name, stored, version)
                for name in tables:
                    await conn.execute(self.projection.metadata.tables[name].delete())
                for bookkeeping in (applied_events, consumer_positions):
                    await conn.execute(bookkeeping.delete().where(bookkeeping.c.consumer == self.name))
            await conn.execute(
                upsert(
                    projection_versions, {"consumer": self.name, "version": version}, ("consumer",), conn.dialect.name
                )
            )
        return stored is not None

    def positions(self, partitions: Sequence[TopicPartition], topic_identity: str) -> dict[TopicPartition, int | None]:
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
        """One partition's batch (a rebuild, a test): as a poll of that partition alone."""
        self.apply_poll([PartitionBatch(partition, events, last_offset)], topic_identity)

    def apply_poll(self, batches: Sequence[PartitionBatch], topic_identity: str) -> None:
        self.loop.run_until_complete(self._apply(batches, topic_identity))

    async def _apply(self, batches: Sequence[PartitionBatch], topic_identity: str) -> None:
        """The poll in one transaction: its new events' ids and effects and every
        partition's next offset, in a few statements whatever the number of events."""
        async with self.engine.begin() as conn:
            wanted = [e for b in batches for e in b.events if wants(self.handles, e.type)]
            events = await self._not_applied(conn, wanted)
            if events:
                await apply_events(conn, self.projection, events)
            positions = [
                {
                    "consumer": self.name,
                    "topic": b.partition.topic,
                    "partition": b.partition.partition,
                    "topic_identity": topic_identity,
                    "next_offset": b.last_offset + 1,
                }
                for b in batches
            ]
            keys = ("consumer", "topic", "partition")
            await conn.execute(upsert_statement(consumer_positions, keys, positions[0], conn.dialect.name), positions)

    async def _not_applied(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> list[ConsumedEvent]:
        """The events whose ids were not applied yet, each once (a duplicate delivery or a
        re-published event has no effect), their ids recorded as applied: one statement,
        INSERT ... ON CONFLICT DO NOTHING RETURNING the ids it inserted. (Not a SELECT of
        the ids first: on a table that has grown since its statistics, such as a rebuild's,
        PostgreSQL plans the IN (...) of a batch's ids as a scan of the consumer's ids.)"""
        fresh: dict[str, ConsumedEvent] = {}
        for event in events:
            fresh.setdefault(event.id, event)
        if not fresh:
            return []
        stmt = upsert_statement(applied_events, ("consumer", "event_id"), (), conn.dialect.name)
        rows = await conn.execute(
            stmt.returning(applied_events.c.event_id), [{"consumer": self.name, "event_id": i} for i in fresh]
        )
        inserted = {r[0] for r in rows}
        return [event for event_id, event in fresh.items() if event_id in inserted]

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


async def apply_events(conn: AsyncConnection, projection: Projection, events: Sequence[ConsumedEvent]) -> None:
    """The events' effects, in ``conn``'s transaction: the projection reads the rows they
    change, applies each event to them in memory, and each changed row is written once.
    (The runner's dedupe and positions around it are the caller's.)"""
    rows = BatchRows(conn)
    await projection.load(rows, events)
    for event in events:
        with span_from(event.traceparent, f"process {event.topic}", **event.span_attributes(projection.name)):
            projection.apply(rows, event)
    await rows.flush()


async def prepare_tables(engine: AsyncEngine, metadata: MetaData) -> None:
    """The tables of ``metadata`` and the consumer tables, as the newest revision of their
    service's migrations makes them (services/infra/migrations.py). A projection that is no
    service's (a test's, a tool's own) gets its tables created as they are."""
    schema = schema_of(metadata)
    if schema is not None:
        await upgrade(engine, schema)
        return
    async with engine.begin() as conn:
        await conn.run_sync(consumer_metadata.create_all)
        await conn.run_sync(metadata.create_all)
