"""Webhook delivery against a real HTTP receiver and a real SQLite file: signing,
retries with backoff, giving up, and the projection that creates the deliveries."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from sqlalchemy import select
from standardwebhooks import Webhook

from devtools.demo import AGENCY
from services.infra.consumer import ConsumedEvent
from services.infra.projection import ProjectionRunner, apply_events, prepare_tables
from services.infra.storage import make_engine
from services.notification.delivery import (
    DeliveryWorker,
    NotificationSettings,
    RetryPolicy,
    encode_body,
)
from services.notification.domain import cloud_event_envelope, generate_secret
from services.notification.readmodel import DeliveryProjection, deliveries, metadata, subscriptions

# The receivers here are plain http on 127.0.0.1: allowed as `make run` allows them.
LOCAL_RECEIVERS: dict[str, Any] = {"egress_allow_http": True, "egress_allowlist": ["127.0.0.0/8"]}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# The case's own agency owns the subscriptions here: it sees every event of its case.
OWNER = {"agency_code": AGENCY["code"], "region_code": AGENCY["region_code"], "created_by": "integration@liling"}


class Receiver:
    """A real HTTP server that answers 500 to the first ``failures`` requests, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.requests) <= receiver.failures else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/caseledger"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def consumed_event(event_id: str = "6c1d6b0e-2f3a-5a8b-9c0d-1e2f3a4b5c6d", offset: int = 0) -> ConsumedEvent:
    return ConsumedEvent(
        id=event_id,
        type="cn.caseledger.case.filed.v1",
        source="/caseledger/case",
        subject="0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        time="2026-03-02T08:00:00+00:00",
        data={
            "case_id": "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "agency": AGENCY,
            "violation_summary": "未按规定开展安全生产教育培训",
        },
        traceparent=TRACEPARENT,
        topic="caseledger.case-events.v1",
        partition=0,
        offset=offset,
        aggregate_id="0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        sequence=1,
        dataschema="urn:caseledger:contracts:events:cn.caseledger.case.filed.v1",
        partitionkey="0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
    )


@pytest.fixture
def settings(tmp_path: Path) -> NotificationSettings:
    return NotificationSettings(
        service_name="notification",
        data_dir=tmp_path,
        retry_initial_s=0.05,
        webhook_retry_min_s=0.05,
        webhook_poll_interval_s=0.02,
        webhook_timeout_s=5,
        **LOCAL_RECEIVERS,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _prepare(settings: NotificationSettings, callback_url: str, secret: str, active: bool = True) -> str:
    """Tables, one subscription and one pending delivery of a filed case."""
    engine = make_engine(settings)
    now = datetime.now(UTC)
    try:
        await prepare_tables(engine, metadata)
        async with engine.begin() as conn:
            await conn.execute(
                subscriptions.insert().values(
                    id="sub-1",
                    callback_url=callback_url,
                    event_types=["cn.caseledger.case.*"],
                    secret=secret,
                    description="",
                    active=active,
                    created_at=now,
                    updated_at=now,
                    **OWNER,
                )
            )
            event = consumed_event()
            await conn.execute(
                deliveries.insert().values(
                    id="del-1",
                    subscription_id="sub-1",
                    event_id=event.id,
                    event_type=event.type,
                    case_id=event.subject,
                    payload=cloud_event_envelope(event),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    finally:
        await engine.dispose()
    return "del-1"


async def _delivery(settings: NotificationSettings, delivery_id: str) -> Any:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).one()
    finally:
        await engine.dispose()


@pytest.fixture
def worker(settings: NotificationSettings) -> Iterator[DeliveryWorker]:
    worker = DeliveryWorker(settings)
    yield worker
    worker.stop()
    worker.join(5)
    assert not worker.is_alive()


def wait_for_status(settings: NotificationSettings, delivery_id: str, status: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = run(_delivery(settings, delivery_id))
        if row.status == status:
            return row
        time.sleep(0.05)
    raise AssertionError(f"delivery still {row.status} after {timeout}s: {row.last_error}")


def test_backoff_doubles_from_initial_up_to_the_cap_then_gives_up() -> None:
    policy = RetryPolicy(initial_s=0.2, cap_s=300, max_attempts=15, min_s=0)
    delays = [policy.delay_after(n) for n in range(1, 15)]
    assert delays[:4] == [0.2, 0.4, 0.8, 1.6]
    assert delays[10] == pytest.approx(204.8)
    assert delays[11:] == [300, 300, 300]
    assert not policy.gives_up_after(14)
    assert policy.gives_up_after(15)


def test_default_policy_comes_from_settings() -> None:
    policy = RetryPolicy.from_settings(NotificationSettings(retry_initial_s=0.2))
    assert policy == RetryPolicy(initial_s=0.2, cap_s=300.0, max_attempts=15, min_s=10.0)
    # However short the backoff, retries are at least the minimum delay apart.
    assert [policy.delay_after(n) for n in (1, 2, 6, 7)] == [10.0, 10.0, 10.0, 12.8]


def test_worker_signature_verifies_with_standardwebhooks(settings: NotificationSettings) -> None:
    secret = generate_secret()
    envelope = cloud_event_envelope(consumed_event())
    with Receiver(failures=0) as receiver:

        async def send_once() -> Any:
            worker = DeliveryWorker(settings)
            async with worker.http_client() as client:
                return await worker.send(client, receiver.url, secret, envelope)

        outcome = run(send_once())
    assert outcome.accepted
    [(headers, body)] = receiver.requests
    assert body == encode_body(envelope).encode()
    assert Webhook(secret).verify(body, headers) == envelope
    assert headers["webhook-id"] == envelope["id"]
    assert headers["content-type"] == "application/cloudevents+json"  # the HTTP binding's structured mode
    assert headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]  # same trace
    with pytest.raises(Exception, match="signature"):
        Webhook(generate_secret()).verify(body, headers)


def test_worker_retries_until_delivered(settings: NotificationSettings, worker: DeliveryWorker) -> None:
    secret = generate_secret()
    with Receiver(failures=2) as receiver:
        delivery_id = run(_prepare(settings, receiver.url, secret))
        worker.start()
        row = wait_for_status(settings, delivery_id, "delivered")
    assert row.attempts == 3
    assert row.last_status_code == 204
    assert row.last_error is None
    assert row.next_attempt_at is None
    assert row.delivered_at is not None
    assert len(receiver.requests) == 3
    assert {h["webhook-id"] for h, _ in receiver.requests} == {row.payload["id"]}
    for headers, body in receiver.requests:
        assert Webhook(secret).verify(body, headers)["subject"] == row.case_id


def test_worker_gives_up_after_max_attempts(tmp_path: Path) -> None:
    settings = NotificationSettings(
        data_dir=tmp_path,
        retry_initial_s=0.02,
        webhook_retry_min_s=0.02,
        webhook_poll_interval_s=0.02,
        webhook_max_attempts=3,
        **LOCAL_RECEIVERS,
    )
    worker = DeliveryWorker(settings)
    with Receiver(failures=100) as receiver:
        delivery_id = run(_prepare(settings, receiver.url, generate_secret()))
        worker.start()
        try:
            row = wait_for_status(settings, delivery_id, "dead_letter")
        finally:
            worker.stop()
            worker.join(5)
    assert (row.attempts, row.last_status_code, row.next_attempt_at) == (3, 500, None)
    assert row.last_error == "HTTP 500 Internal Server Error"  # a status line, no body
    assert len(receiver.requests) == 3


def test_deactivated_subscription_gets_nothing(settings: NotificationSettings, worker: DeliveryWorker) -> None:
    with Receiver(failures=0) as receiver:
        delivery_id = run(_prepare(settings, receiver.url, generate_secret(), active=False))
        worker.start()
        row = wait_for_status(settings, delivery_id, "failed")
    assert row.last_error == "subscription deactivated"
    assert receiver.requests == []


def test_projection_creates_one_delivery_per_matching_active_subscription(settings: NotificationSettings) -> None:
    runner = ProjectionRunner(settings, DeliveryProjection())
    now = datetime.now(UTC)

    async def add_subscriptions() -> None:
        async with runner.engine.begin() as conn:
            for sub_id, types, active in [
                ("all", ["*"], True),
                ("cases", ["cn.caseledger.case.*"], True),
                ("referrals", ["cn.caseledger.referral.*"], True),
                ("gone", ["*"], False),
            ]:
                await conn.execute(
                    subscriptions.insert().values(
                        id=sub_id,
                        callback_url="http://127.0.0.1:9/",
                        event_types=types,
                        secret=generate_secret(),
                        description="",
                        active=active,
                        created_at=now,
                        updated_at=now,
                        **OWNER,
                    )
                )

    async def stored() -> list[Any]:
        async with runner.engine.connect() as conn:
            return list((await conn.execute(select(deliveries).order_by(deliveries.c.subscription_id))).all())

    async def apply_directly_again(event: ConsumedEvent) -> None:
        # Past the runner's own dedupe: the UNIQUE(subscription_id, event_id) still holds.
        async with runner.engine.begin() as conn:
            await apply_events(conn, DeliveryProjection(), [event])

    try:
        runner.loop.run_until_complete(add_subscriptions())
        partition = TopicPartition("caseledger.case-events.v1", 0)
        event = consumed_event()
        runner.apply(partition, [event], 0, "topic-a")
        # The relay re-published the same event at a later offset: no second delivery.
        runner.apply(partition, [consumed_event(offset=1)], 1, "topic-a")
        # The broker was replaced: the same event at offset 0 of a new topic, no second delivery.
        runner.apply(partition, [consumed_event(offset=0)], 0, "topic-b")
        runner.loop.run_until_complete(apply_directly_again(event))
        rows = runner.loop.run_until_complete(stored())
    finally:
        runner.close()
    assert [r.subscription_id for r in rows] == ["all", "cases"]
    assert {r.status for r in rows} == {"pending"}
    assert rows[0].payload == {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        "dataschema": "urn:caseledger:contracts:events:cn.caseledger.case.filed.v1",
        "partitionkey": event.subject,
        "aggregateid": event.subject,
        "sequence": "00000000000000000001",
        "data": event.data,
        "traceparent": TRACEPARENT,
    }
