"""The event pipeline's own rates, measured with the services' own code in this process
once the load is over: the outbox relay (event store to broker) and a rebuild of the case
ledger (topic to read model)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kafka import TopicPartition
from sqlalchemy import func, select

from devtools.bench.baselines import read_topic
from devtools.inprocess import consumed_batch, key_ring
from services.case.application import CaseApplication
from services.case.readmodel import CaseLedgerProjection, case_ledger
from services.common.rules import load_catalogue
from services.infra.broker import ensure_topic
from services.infra.projection import ProjectionRunner
from services.infra.relay import OutboxRelay, make_producer
from services.infra.settings import Settings
from services.infra.storage import ensure_postgres_database, event_store_env


def relay_rate(settings: Settings) -> dict[str, Any]:
    """Relay the case service's whole event store again, from its first notification, to
    the scratch topic ``settings.case_events_topic`` (a relay position of its own, so the
    service's relay is untouched). The batches run through OutboxRelay's own batch step
    (read the position, select up to 500 notifications, map each to a CloudEvent, send,
    flush, check every ack, record the position); only the leader lock and the idle sleep
    of its thread loop are left out, since neither runs while there is a backlog."""
    app = CaseApplication(env=event_store_env(settings), cipher=key_ring(settings), catalogue=load_catalogue())
    relay = OutboxRelay(app, settings)
    producer = make_producer(settings)
    try:
        ensure_topic(settings)
        producer.partitions_for(settings.case_events_topic)  # metadata, as a running relay has it
        backlog = relay.backlog()
        start = time.perf_counter()
        while relay._relay_batch(producer):
            pass
        elapsed = time.perf_counter() - start
    finally:
        producer.close(timeout=5)
        app.close()
    return {
        "events": relay.published,
        "backlog_at_start": backlog,
        "seconds": elapsed,
        "rate": relay.published / elapsed if elapsed else None,
        "batch_size": settings.relay_batch_size,
    }


def rebuild_rate(bootstrap: str, topic: str, settings: Settings) -> dict[str, Any]:
    """Replay the topic from its beginning through the case ledger projection into a
    fresh database, as the service's consumer loop does: parse each batch, then
    ProjectionRunner.apply (dedupe by event id, apply, store the offset, one transaction
    per partition batch)."""
    if settings.uses_postgres:
        assert settings.database_url
        ensure_postgres_database(settings.database_url)
    runner = ProjectionRunner(settings, CaseLedgerProjection(key_ring(settings)))
    try:

        def apply(partition: TopicPartition, records: Sequence[Any]) -> None:
            runner.apply(partition, *consumed_batch(records), "rebuild")

        result = read_topic(bootstrap, topic, apply)
        result["ledger_rows"] = runner.loop.run_until_complete(_count_rows(runner))
    finally:
        runner.close()
    return result


async def _count_rows(runner: ProjectionRunner) -> int:
    async with runner.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(case_ledger))).scalar_one())
