"""What the machine does with no caseledger code in the way: raw single-row insert
transactions on the same database, raw kafka-python produce and consume on the same
broker. Each is the best plain use of the driver, never slowed to flatter a ratio."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from kafka import KafkaConsumer, TopicPartition

from services.infra.broker import ensure_topic
from services.infra.relay import make_producer
from services.infra.settings import Settings

# Shaped like the event store's table: who, which version, what type, the payload.
RAW_TABLE = "raw_inserts"
TOPIC_NAME = "cn.caseledger.bench.raw.v1"


def sqlite_inserts(path: Path, seconds: float, payload: bytes) -> dict[str, Any]:
    """Single-row insert transactions through sqlite3, the driver eventsourcing.sqlite
    uses, set up as it sets up its connection (autocommit, explicit BEGIN, WAL). One
    connection: SQLite has one writer at a time."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            f"CREATE TABLE {RAW_TABLE} (id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL)"
        )
        cursor = conn.cursor()
        insert = f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)"
        count = 0
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            cursor.execute("BEGIN")
            cursor.execute(insert, (str(uuid.uuid4()), 1, TOPIC_NAME, payload))
            cursor.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return {
        "transactions": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "driver": "sqlite3 (stdlib, as eventsourcing.sqlite), WAL, 1 connection",
    }


def asyncpg_inserts(dsn: str, seconds: float, concurrency: int, payload: bytes) -> dict[str, Any]:
    """Single-row insert transactions (autocommit INSERTs) through asyncpg, from
    ``concurrency`` connections at once, or as many as the server still grants (it is
    shared: other databases may hold most of max_connections)."""
    while True:
        try:
            return asyncio.run(_asyncpg_inserts(dsn, seconds, concurrency, payload))
        except asyncpg.TooManyConnectionsError:
            if concurrency == 1:
                raise
            concurrency //= 2


async def _asyncpg_inserts(dsn: str, seconds: float, concurrency: int, payload: bytes) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    try:
        await pool.execute(
            f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (id bigserial PRIMARY KEY, originator_id uuid NOT NULL, "
            "originator_version integer NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
        )
        insert = f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, topic, state) VALUES ($1, $2, $3, $4)"
        counts = [0] * concurrency
        start = time.perf_counter()
        end = start + seconds

        async def worker(slot: int) -> None:
            async with pool.acquire() as conn:
                while time.perf_counter() < end:
                    await conn.execute(insert, uuid.uuid4(), 1, TOPIC_NAME, payload)
                    counts[slot] += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        await pool.close()
    count = sum(counts)
    return {
        "transactions": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "driver": f"asyncpg, {concurrency} connections",
    }


# -- Kafka --------------------------------------------------------------------------------


def topic_consumer(bootstrap: str) -> KafkaConsumer:
    """A plain consumer with the services' consumer-loop fetch settings (no group: it
    reads partitions it is assigned, so it disturbs no service's group)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        max_poll_records=500,
        request_timeout_ms=30_000,
    )


def read_topic(
    bootstrap: str, topic: str, handle: Callable[[TopicPartition, Sequence[Any]], None], timeout_s: float = 300
) -> dict[str, Any]:
    """Read ``topic`` from the beginning to the end offsets it had when we started,
    passing each polled batch to ``handle``; timed from the first poll to the last."""
    consumer = topic_consumer(bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        first = consumer.beginning_offsets(partitions)
        last = consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if last[tp] > first[tp]}
        count = 0
        start = time.perf_counter()
        deadline = start + timeout_s
        while remaining:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"reading {topic}: {len(remaining)} partitions unfinished after {timeout_s:.0f}s")
            for partition, records in consumer.poll(timeout_ms=200).items():
                handle(partition, records)
                count += len(records)
                if records[-1].offset + 1 >= last[partition]:
                    remaining.discard(partition)
        elapsed = time.perf_counter() - start
    finally:
        consumer.close(autocommit=False)
    return {"messages": count, "seconds": elapsed, "rate": count / elapsed if elapsed else None}


def raw_consume(bootstrap: str, topic: str) -> tuple[dict[str, Any], list[Any]]:
    """kafka-python consume rate of the topic; also returns the records read."""
    records: list[Any] = []
    result = read_topic(bootstrap, topic, lambda _p, batch: records.extend(batch))
    result["bytes"] = sum(len(r.value or b"") for r in records)
    return result, records


def raw_produce(settings: Settings, records: Sequence[Any]) -> dict[str, Any]:
    """kafka-python produce rate of the same messages (key, value, headers) to a scratch
    topic, with the relay's producer settings (acks=all, idempotent, linger 5 ms): send
    them all, flush, check every acknowledgement."""
    ensure_topic(settings)
    topic = settings.case_events_topic
    producer = make_producer(settings)
    try:
        producer.partitions_for(topic)  # metadata before the clock starts, as a running relay has it
        start = time.perf_counter()
        futures = [producer.send(topic, key=r.key, value=r.value, headers=list(r.headers or [])) for r in records]
        producer.flush(timeout=120)
        for future in futures:
            future.get(timeout=10)
        elapsed = time.perf_counter() - start
    finally:
        producer.close(timeout=5)
    return {"messages": len(records), "seconds": elapsed, "rate": len(records) / elapsed}


# -- the eventsourcing library alone --------------------------------------------------------


def library_lifecycles(env: dict[str, str], seconds: float, threads: int, cipher: Any) -> dict[str, Any]:
    """The same case lifecycle as the load (file, prior notice, waiver, legal review,
    decision), the same ``Case`` aggregate and its commands, through the eventsourcing
    library alone: a plain ``Application`` on the library's own recorder for the same
    database (no hash chain), each command ``repository.get``, the aggregate's method,
    ``Application.save``. No HTTP, no Kafka, no access checks, no register (each decision
    takes the next serial of a counter). ``threads`` lifecycles run at once (1 on SQLite:
    one writer at a time). CPU is this process's, per case command."""
    from eventsourcing.application import Application

    app: Application[Any] = Application(env=env)
    try:
        return _library_run(app, seconds, threads, cipher)
    finally:
        app.close()


def _library_run(app: Any, seconds: float, threads: int, cipher: Any) -> dict[str, Any]:
    import itertools
    import threading
    from datetime import timedelta

    from devtools.demo import (
        ENTERPRISE,
        filing_request,
        legal_review_request,
        penalty_decision_request,
        prior_notice_request,
        waiver_request,
    )
    from services.case.domain import Case, decision_number
    from services.case.schemas import (
        FileCaseRequest,
        LegalReviewRequest,
        PenaltyDecisionRequest,
        PriorNoticeRequest,
        StatementRequest,
    )
    from services.common.rules import load_catalogue
    from services.infra.clock import today_in_china
    from services.infra.idempotency import Idempotency
    from services.infra.identity import reset_current_actor, set_current_actor

    catalogue, today = load_catalogue(), today_in_china()
    filing = FileCaseRequest.model_validate(filing_request(ENTERPRISE, (today - timedelta(days=20)).isoformat()))
    steps = [
        ("serve_prior_notice", PriorNoticeRequest.model_validate(prior_notice_request(1_000))),
        ("record_statement", StatementRequest.model_validate(waiver_request())),
        ("record_legal_review", LegalReviewRequest.model_validate(legal_review_request())),
    ]
    decision = PenaltyDecisionRequest.model_validate(penalty_decision_request(1_000))
    agency = dict(filing.agency)
    actor = {
        "subject": "bench-officer",
        "subject_type": "person",
        "name": None,
        "agency_code": agency["code"],
        "region_code": agency["region_code"],
        "role": "officer",
        "on_behalf_of": None,
        "reason": None,
        "trace_id": None,
    }
    serials = itertools.count(1)
    counts = [0] * threads
    end = time.perf_counter() + seconds

    def services(method: Any) -> dict[str, Any]:
        import inspect

        wanted = inspect.signature(method).parameters
        offered = {"catalogue": catalogue, "cipher": cipher, "latest": today, "respondent": 1}
        return {name: value for name, value in offered.items() if name in wanted}

    def lifecycle() -> int:
        recorded: dict[str, Any] = dict(Idempotency.of(None, {}).recorded())
        case = Case.file(
            case_id=uuid.uuid4(),
            **filing.arguments(today),
            **recorded,
            cipher=cipher,
            catalogue=catalogue,
            latest=today,
        )
        app.save(case)
        for action, request in steps:
            case = app.repository.get(case.id)
            method = getattr(case, action)
            method(**request.arguments(today), **services(method), **recorded)
            app.save(case)
        case = app.repository.get(case.id)
        arguments = decision.arguments(today)
        short_name = str(arguments.pop("agency_short_name", None) or agency.get("short_name") or "醴")
        serial = next(serials)
        case.decide_penalty(
            respondent=1,
            decision_number=decision_number(short_name, today.year, serial),
            serial=serial,
            **arguments,
            **recorded,
            catalogue=catalogue,
            cipher=cipher,
            latest=today,
        )
        app.save(case)
        return 1 + len(steps) + 1

    def worker(slot: int) -> None:
        token = set_current_actor(actor)
        try:
            while time.perf_counter() < end:
                counts[slot] += lifecycle()
        finally:
            reset_current_actor(token)

    cpu0, start = time.process_time(), time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    commands = sum(counts)
    return {
        "commands": commands,
        "seconds": elapsed,
        "rate": commands / elapsed,
        "cpu_ms_per_command": cpu / commands * 1000 if commands else None,
        "threads": threads,
        "recorder": app.recorder.__class__.__module__ + "." + app.recorder.__class__.__name__,
    }
