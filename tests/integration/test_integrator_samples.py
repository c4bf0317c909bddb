"""The integrator's guide's samples (docs/samples/) run against the real thing: the Kafka
consumer on a real Tansu broker holding events as the relays write them (structured
mode, a re-published duplicate, a control record) and one in binary mode; the webhook
receiver sent webhooks by the delivery code itself, signed with one secret, with two
during a rotation, and with a wrong one."""

from __future__ import annotations

import importlib.util
import ipaddress
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from services.infra.broker import make_producer
from services.infra.egress import EgressPolicy, pinned_async_client
from services.infra.envelope import sequence_of, to_kafka_structured
from services.infra.relay import produce
from services.infra.settings import Settings
from services.infra.topic import CONTROL_HEADER
from services.notification.delivery import post_webhook
from services.notification.domain import generate_secret
from tests.conftest import Broker

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def sample(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_event(case_id: str, version: int) -> CloudEvent:
    return CloudEvent(
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case_id}:{version}")),
            "source": "/caseledger/case",
            "type": "cn.caseledger.case.filed.v1" if version == 1 else "cn.caseledger.case.legal_review_recorded.v1",
            "subject": case_id,
            "datacontenttype": "application/json",
            "dataschema": "urn:caseledger:contracts:events:cn.caseledger.case.filed.v1",
            "partitionkey": case_id,
            "aggregateid": case_id,
            "sequence": sequence_of(version),
        },
        {"case_id": case_id, "agency": {"name": "醴陵市应急管理局"}},
    )


def test_the_sample_kafka_consumer_drops_duplicates_and_keeps_each_case_in_order(broker: Broker) -> None:
    topic = f"test.case-events.{uuid.uuid4().hex[:8]}"
    settings = Settings(service_name="test", kafka_bootstrap_servers=broker.bootstrap, case_events_topic=topic)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    producer = make_producer(settings)
    produce(producer, topic, ce_kafka.KafkaMessage({CONTROL_HEADER: b"genesis"}, b"genesis", b"{}"))
    for version in (1, 2, 3):
        produce(producer, topic, to_kafka_structured(case_event(first, version)))
    produce(producer, topic, to_kafka_structured(case_event(first, 2)))  # a relay's re-publish
    produce(producer, topic, ce_kafka.to_binary_event(case_event(second, 1)))
    producer.flush(10)
    producer.close()

    consumer_sample = sample("kafka_consumer")
    handled: list[Any] = []
    consumer = consumer_sample.CaseEventsConsumer(broker.bootstrap, f"sample-{uuid.uuid4().hex[:6]}", topic)
    deadline = time.monotonic() + 60
    try:
        consumer.run(handled.append, until=lambda: len(handled) >= 4 or time.monotonic() > deadline)
        settle = time.monotonic() + 2  # and nothing more: the duplicate is dropped
        consumer.run(handled.append, until=lambda: time.monotonic() > settle)
    finally:
        consumer.close()
    seen = [(e.get_attributes()["subject"], e.get_attributes()["sequence"]) for e in handled]
    assert sorted(seen) == sorted(
        [(first, sequence_of(1)), (first, sequence_of(2)), (first, sequence_of(3)), (second, sequence_of(1))]
    )
    assert [s for case, s in seen if case == first] == [sequence_of(1), sequence_of(2), sequence_of(3)]
    assert handled[0].get_data()["agency"]["name"] == "醴陵市应急管理局"


async def test_the_sample_webhook_receiver_verifies_signatures_and_reads_the_cloudevent() -> None:
    secret, other = generate_secret(), generate_secret()
    policy = EgressPolicy(allow_http=True, allowlist=(ipaddress.ip_network("127.0.0.0/8"),))
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/caseledger/case",
        "type": "cn.caseledger.case.filed.v1",
        "subject": str(uuid.uuid4()),
        "time": "2026-11-02T08:00:00Z",
        "datacontenttype": "application/json",
        "sequence": sequence_of(1),
        "data": {"agency": {"name": "醴陵市应急管理局"}},
    }
    with sample("webhook_receiver").WebhookReceiver(secret) as receiver:
        async with pinned_async_client(policy) as client:
            accepted = await post_webhook(client, receiver.url, secret, envelope)
            again = await post_webhook(client, receiver.url, secret, envelope)  # a retry: dropped
            rotating = await post_webhook(client, receiver.url, [other, secret], {**envelope, "id": str(uuid.uuid4())})
            forged = await post_webhook(client, receiver.url, other, {**envelope, "id": str(uuid.uuid4())})
    assert (accepted.status_code, again.status_code, rotating.status_code) == (204, 204, 204)
    assert (forged.status_code, receiver.refused) == (401, 1)
    assert len(receiver.events) == 2
    assert receiver.events[0].get_data()["agency"]["name"] == "醴陵市应急管理局"
    assert receiver.events[0].get_attributes()["sequence"] == sequence_of(1)
