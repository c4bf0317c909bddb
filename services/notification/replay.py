"""Replays of a subscription's events (重放): the topic read again from a time or from a
position, and each event the subscription receives made due again for it.

A replay is a row in ``replays`` (POST /v1/subscriptions/{id}/replays). This worker claims
a pending one (a compare-and-set on its status, so replicas never run one twice), reads
the topic with a consumer of its own (no group: it moves no one's position) from the start
asked for up to the end the topic had when the replay began, and for each event the
subscription receives (the same matching as the deliveries projection) makes its delivery
due again, or records a new one (an event from before the subscription, say). Events after
that end reach the subscription through the projection as usual. A replay from a time
starts at the first records the broker says were written at or after it and takes the
events recorded at or after it; one from a position (per partition, as each delivery
shows ``topic_partition`` and ``topic_offset``) reads the partitions it names from there.
Progress and the outcome are in the row: GET /v1/subscriptions/{id}/replays/{replay_id}.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.consumer import parse_record
from services.infra.formats import utc
from services.infra.settings import Settings
from services.infra.storage import make_engine
from services.infra.topic import control_kind
from services.notification.domain import Subscriber
from services.notification.readmodel import replay_to, replays, subscriptions

log = logging.getLogger(__name__)


class ReplayWorker(threading.Thread):
    poll_interval_s = 0.5
    # A replay that has read nothing new for this long has lost the broker: it fails.
    stall_timeout_s = 60.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="notification-replay", daemon=True)
        self.settings = settings
        self.stopping = threading.Event()
        self.last_error: str | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    async def _run(self) -> None:
        engine = make_engine(self.settings)
        try:
            while not self.stopping.is_set():
                try:
                    replay = await self._claim(engine)
                    if replay is None:
                        self.stopping.wait(self.poll_interval_s)
                        continue
                    await self._carry_out(engine, replay)
                except Exception as exc:  # the worker lives on; the replay says why it failed
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("replay round failed")
                    self.stopping.wait(self.poll_interval_s)
        finally:
            await engine.dispose()

    async def _claim(self, engine: AsyncEngine) -> Any | None:
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    select(replays).where(replays.c.status == "pending").order_by(replays.c.created_at).limit(1)
                )
            ).first()
            if row is None:
                return None
            claimed = await conn.execute(
                update(replays).where(replays.c.id == row.id, replays.c.status == "pending").values(status="running")
            )
            return row if claimed.rowcount == 1 else None

    async def _carry_out(self, engine: AsyncEngine, replay: Any) -> None:
        try:
            read, matched = await self._replay(engine, replay)
        except Exception as exc:
            await self._finish(engine, replay.id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        await self._finish(engine, replay.id, "done", read=read, matched=matched)
        log.info("replay %s done: %d events read, %d due again", replay.id, read, matched)

    async def _replay(self, engine: AsyncEngine, replay: Any) -> tuple[int, int]:
        async with engine.connect() as conn:
            row = (await conn.execute(select(subscriptions).where(subscriptions.c.id == replay.subscription_id))).one()
        subscriber = Subscriber(
            row.id, row.event_types, row.agency_code, row.region_code, row.organ_scope, row.created_by
        )
        since = utc(replay.from_time)
        topic = self.settings.case_events_topic
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=None,
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            client_id=f"{self.settings.service_name}-replay",
            request_timeout_ms=30_000,
        )
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            consumer.assign(partitions)
            ends = {tp: int(o) for tp, o in consumer.end_offsets(partitions).items()}
            starts = self._starts(consumer, partitions, ends, replay.from_position, since)
            for tp in partitions:
                consumer.seek(tp, starts[tp])
            remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
            read = matched = 0
            progressed = time.monotonic()
            while remaining and not self.stopping.is_set():
                if time.monotonic() - progressed > self.stall_timeout_s:
                    raise TimeoutError(f"nothing read for {self.stall_timeout_s:.0f}s; partitions left {remaining}")
                for tp, records in consumer.poll(timeout_ms=500).items():
                    progressed = time.monotonic()
                    events = [
                        e
                        for r in records
                        if r.offset < ends[tp] and not control_kind(r.headers)
                        if (e := parse_record(r)) is not None and (since is None or _recorded(e.time) >= since)
                    ]
                    async with engine.begin() as conn:
                        for event in events:
                            matched += await replay_to(conn, subscriber, event)
                        read += len(events)
                        await conn.execute(
                            update(replays).where(replays.c.id == replay.id).values(read_events=read, matched=matched)
                        )
                    if records[-1].offset + 1 >= ends[tp]:
                        remaining.discard(tp)
            return read, matched
        finally:
            consumer.close()

    @staticmethod
    def _starts(
        consumer: KafkaConsumer,
        partitions: list[TopicPartition],
        ends: dict[TopicPartition, int],
        from_position: dict[str, int] | None,
        since: datetime | None,
    ) -> dict[TopicPartition, int]:
        if from_position is not None:
            # The partitions named, from there; the others are not replayed.
            return {tp: min(int(from_position.get(str(tp.partition), ends[tp])), ends[tp]) for tp in partitions}
        assert since is not None
        try:
            found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        except Exception as exc:  # a broker without the lookup: from the beginning, filtered by time
            log.warning("offsets for times unavailable (%s): replaying from the beginning", exc)
            found = {}
        beginnings = {tp: int(o) for tp, o in consumer.beginning_offsets(partitions).items()}
        return {
            tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) if tp in found else beginnings[tp]
            for tp in partitions
        }

    async def _finish(
        self,
        engine: AsyncEngine,
        replay_id: str,
        status: str,
        *,
        read: int | None = None,
        matched: int | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": datetime.now(UTC), "error": error}
        if read is not None:
            values.update(read_events=read, matched=matched)
        async with engine.begin() as conn:
            await conn.execute(update(replays).where(replays.c.id == replay_id).values(**values))


def _recorded(time_text: str) -> datetime:
    recorded = datetime.fromisoformat(time_text.replace("Z", "+00:00"))
    return recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)
