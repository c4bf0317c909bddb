"""Replay a subscription's events from the topic (services/notification/replay.py): a real
Tansu broker holding case events relayed before the subscription existed, the
notification API in process on SQLite, its replay worker and delivery worker, and a real
webhook receiver. A replay from a time delivers the events from before the subscription;
one from a delivery's position sends that event and the later ones again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer

from devtools.demo import AGENCY
from devtools.tokens import ensure_dev_keys, mint
from devtools.webhooks import WebhookReceiver
from services.infra.broker import ensure_topic, make_producer
from services.infra.consumer import parse_record
from services.infra.eventstore import to_kafka_message
from services.infra.projection import apply_events, prepare_tables
from services.infra.relay import produce
from services.infra.runtime import ServiceRuntime
from services.infra.storage import make_engine
from services.infra.topic import control_kind
from services.notification.delivery import DeliveryWorker, NotificationSettings
from services.notification.main import create_app
from services.notification.readmodel import DeliveryProjection, metadata
from services.notification.replay import ReplayWorker
from tests.conftest import Broker
from tests.unit.test_envelope import filed_event


def wait_for(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise TimeoutError("condition not met")


async def test_a_replay_delivers_the_events_from_before_and_again_from_a_position(
    broker: Broker, tmp_path: Path
) -> None:
    settings = NotificationSettings(
        service_name="notification",
        data_dir=tmp_path,
        kafka_bootstrap_servers=broker.bootstrap,
        case_events_topic=f"test.case-events.{uuid.uuid4().hex[:8]}",
        case_events_partitions=3,
        egress_allow_http=True,
        egress_allowlist=["127.0.0.0/8"],
        webhook_retry_min_s=0,
    )
    ensure_dev_keys(tmp_path)
    ensure_topic(settings)
    # Three cases filed and relayed before anyone subscribed.
    producer = make_producer(settings)
    for _ in range(3):
        produce(producer, settings.case_events_topic, to_kafka_message(filed_event(), "/caseledger/case"))
    producer.flush(10)
    producer.close()
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, auto_offset_reset="earliest")
    reader.subscribe([settings.case_events_topic])
    records: list[Any] = []

    def read_three() -> bool:
        records.extend(r for batch in reader.poll(500).values() for r in batch)
        return len(records) >= 3

    wait_for(read_three)
    reader.close()
    events = [e for r in records if not control_kind(r.headers) if (e := parse_record(r)) is not None]

    app = create_app(settings)
    runtime: ServiceRuntime[Any] = app.state.runtime
    runtime.engine = make_engine(settings)
    await prepare_tables(runtime.engine, metadata)
    for event in events:  # the deliveries projection read them: no subscriber yet
        async with runtime.engine.begin() as conn:
            await apply_events(conn, DeliveryProjection(), [event])
    token = mint(tmp_path, roles=["integration"], agency_code=AGENCY["code"], region_code=AGENCY["region_code"])
    headers = {"Authorization": f"Bearer {token}"}
    replayer = ReplayWorker(settings)
    replayer.start()
    sender = DeliveryWorker(settings)
    try:
        with WebhookReceiver() as receiver:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
                created = await client.post(
                    "/v1/subscriptions",
                    json={"callback_url": receiver.url, "event_types": ["cn.caseledger.case.*"]},
                    headers=headers,
                )
                subscription = created.json()
                assert (await client.get("/v1/deliveries", headers=headers)).json()["items"] == []

                async def replayed(body: dict[str, Any]) -> dict[str, Any]:
                    answer = await client.post(
                        f"/v1/subscriptions/{subscription['id']}/replays", json=body, headers=headers
                    )
                    assert answer.status_code == 202, answer.text
                    location = answer.headers["location"]
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        state: dict[str, Any] = (await client.get(location, headers=headers)).json()
                        if state["status"] in ("done", "failed"):
                            return state
                        time.sleep(0.2)
                    raise TimeoutError("the replay did not finish")

                since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
                first = await replayed({"from_time": since})
                assert (first["status"], first["read_events"], first["matched"]) == ("done", 3, 3)
                async with sender.http_client() as http:
                    assert await sender.deliver_due(runtime.engine, http) == 3
                assert sorted(h["headers"]["webhook-id"] for h in receiver.received) == sorted(e.id for e in events)

                delivered = (await client.get("/v1/deliveries", headers=headers)).json()["items"]
                one = delivered[0]
                assert one["topic_partition"] is not None and one["topic_offset"] is not None
                again = await replayed({"from_position": {str(one["topic_partition"]): one["topic_offset"]}})
                later_on_its_partition = [
                    e for e in events if e.partition == one["topic_partition"] and e.offset >= one["topic_offset"]
                ]
                assert again["matched"] == len(later_on_its_partition) >= 1
                async with sender.http_client() as http:
                    assert await sender.deliver_due(runtime.engine, http) == len(later_on_its_partition)
                resent = receiver.received[3:]
                assert {h["headers"]["webhook-id"] for h in resent} == {e.id for e in later_on_its_partition}
                row = (await client.get(f"/v1/deliveries/{one['id']}", headers=headers)).json()
                assert (row["status"], row["redeliveries"]) == ("delivered", 1)

                bad = await client.post(
                    f"/v1/subscriptions/{subscription['id']}/replays",
                    json={"from_time": since, "from_position": {"0": 0}},
                    headers=headers,
                )
                assert bad.status_code == 422
    finally:
        replayer.stop()
        replayer.join(10)
        await runtime.engine.dispose()
