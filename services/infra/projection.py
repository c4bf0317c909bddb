"""Projections: read models in SQLAlchemy fed from Kafka by the consumer loop. The effect,
the next offset and the applied CloudEvent ids are written in one transaction; an event
whose id was already applied (a relay re-publish lands at a new offset) changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Protocol

from kafka import TopicPartition
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.infra.consumer import ConsumedEvent, wants
from services.infra.settings import Settings
from services.infra.sql import upsert
from services.infra.storage import make_engine
from services.infra.telemetry import span_from

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


class Projection(Protocol):
    """A read model fed from Kafka. ``apply`` runs inside the batch's transaction."""

    name: str
    metadata: MetaData

    @property
    def handles(self) -> Collection[str] | None:
        """The CloudEvent types it handles (services.common.event_types); EVERY_TYPE for all."""

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None: ...


class ProjectionRunner:
    """Runs one projection in the consumer thread, on that thread's own event loop."""

    def __init__(self, settings: Settings, projection: Projection) -> None:
        self.name = projection.name
        self.projection = projection
        self.handles = projection.handles
        self.loop = asyncio.new_event_loop()
        self.engine: AsyncEngine = make_engine(settings)
        self.loop.run_until_complete(create_tables(self.engine, projection.metadata))

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
        self.loop.run_until_complete(self._apply(partition, events, last_offset, topic_identity))

    async def _apply(
        self, partition: TopicPartition, events: Sequence[ConsumedEvent], last_offset: int, topic_identity: str
    ) -> None:
        async with self.engine.begin() as conn:
            dialect = conn.dialect.name
            events = [e for e in events if wants(self.handles, e.type)]
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
