"""CloudEvents as integrators' tools expect them (services/infra/envelope.py): UTF-8 text,
a sequence that sorts as a string, structured and binary mode read by content type, and
the webhook body valid against contracts/envelope.schema.json and readable by the
CloudEvents SDK in the HTTP binding's structured mode."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cloudevents.core.bindings import http, kafka
from cloudevents.core.v1.event import CloudEvent
from kafka.consumer.fetcher import ConsumerRecord

from services.case.domain import Case
from services.common.rules import load_catalogue
from services.infra.consumer import parse_record
from services.infra.envelope import STRUCTURED_CONTENT_TYPE, from_kafka, sequence_of, time_text
from services.infra.eventstore import to_kafka_message
from services.infra.identity import reset_current_actor, set_current_actor
from services.notification.delivery import encode_body, signed_headers
from services.notification.domain import cloud_event_envelope, generate_secret
from tests.unit.conftest import OFFICER_ACTOR, TEST_CIPHER

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ENVELOPE = json.loads((CONTRACTS / "envelope.schema.json").read_text(encoding="utf-8"))


def filed_event() -> Any:
    token = set_current_actor(OFFICER_ACTOR)
    try:
        case = Case.file(
            case_id=None,
            agency={"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"},
            respondents=[{"kind": "enterprise", "name": "醴陵市某花炮厂", "code": "91430281MA4L12345R"}],
            violation_summary="未按规定对从业人员进行安全生产教育和培训",
            violation_date=date(2026, 9, 1),
            harm_caused=False,
            legal_basis="《中华人民共和国安全生产法》第九十七条",
            officers=[{"name": "张三", "certificate_no": "4300001"}, {"name": "李四", "certificate_no": "4300002"}],
            filed_on=date(2026, 11, 2),
            command_key="k",
            command_fingerprint="f",
            cipher=TEST_CIPHER,
            catalogue=load_catalogue(),
            latest=date(2026, 12, 31),
        )
    finally:
        reset_current_actor(token)
    return case.collect_events()[0]


def record(headers: dict[str, bytes], key: Any, value: bytes, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(
        "caseledger.case-events.v1", 0, -1, offset, 0, 0, key, value, list(headers.items()), None, 0, len(value), 0
    )


def test_a_relayed_event_is_utf8_structured_and_its_sequence_sorts_as_a_string() -> None:
    message = to_kafka_message(filed_event(), "/caseledger/case")
    assert message.headers["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
    assert "醴陵市应急管理局".encode() in message.value and b"\\u" not in message.value
    envelope = json.loads(message.value)
    jsonschema.validate(envelope, ENVELOPE)
    assert envelope["sequence"] == "00000000000000000001"
    assert sorted([sequence_of(10), sequence_of(9), sequence_of(100)]) == [
        sequence_of(9),
        sequence_of(10),
        sequence_of(100),
    ]

    consumed = parse_record(record(message.headers, message.key, message.value))
    assert consumed is not None
    assert (consumed.type, consumed.sequence, consumed.aggregate_id) == (envelope["type"], 1, envelope["subject"])
    assert consumed.data["agency"]["name"] == "醴陵市应急管理局"
    assert consumed.time == envelope["time"]  # the same text, for the webhook built from it


def test_a_binary_mode_message_is_read_through_its_headers() -> None:
    event = CloudEvent(
        {
            "id": "3f1c8f0e-4a7b-5c2d-9e0f-1a2b3c4d5e6f",
            "source": "/caseledger/case",
            "type": "cn.caseledger.case.filed.v1",
            "subject": "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "datacontenttype": "application/json",
            "sequence": sequence_of(12),
            "aggregateid": "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "partitionkey": "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        },
        {"case_id": "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "agency": {"name": "浏阳市应急管理局"}},
    )
    message = kafka.to_binary_event(event)
    assert "ce_specversion" in message.headers and message.headers["content-type"] == b"application/json"
    consumed = parse_record(record(message.headers, message.key, message.value, offset=7))
    assert consumed is not None
    assert (consumed.id, consumed.type, consumed.sequence, consumed.offset) == (
        "3f1c8f0e-4a7b-5c2d-9e0f-1a2b3c4d5e6f",
        "cn.caseledger.case.filed.v1",
        12,
        7,
    )
    assert consumed.data["agency"]["name"] == "浏阳市应急管理局"
    assert consumed.partitionkey == "0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"


def test_the_webhook_body_is_the_envelope_in_structured_mode_and_the_sdk_reads_it() -> None:
    message = to_kafka_message(filed_event(), "/caseledger/case")
    consumed = parse_record(record(message.headers, message.key, message.value))
    assert consumed is not None
    envelope = cloud_event_envelope(consumed)
    jsonschema.validate(envelope, ENVELOPE)
    body = encode_body(envelope)
    assert "醴陵市应急管理局" in body
    headers = signed_headers(generate_secret(), envelope["id"], body, datetime.now(UTC))
    assert headers["content-type"] == "application/cloudevents+json"
    event = http.from_http_event(http.HTTPMessage(headers=headers, body=body.encode()))
    assert event.get_attributes()["sequence"] == "00000000000000000001"
    assert event.get_attributes()["dataschema"] == f"urn:caseledger:contracts:events:{envelope['type']}"
    assert event.get_data() == envelope["data"]


def _read_by_the_sdk(message: Any) -> dict[str, Any]:
    event = from_kafka(message.headers, message.key, message.value)  # through the SDK
    attributes = dict(event.get_attributes())
    attributes["time"] = time_text(attributes["time"])
    return {**attributes, "data": event.get_data()}


@pytest.mark.parametrize("time", [None, "2026-12-01T18:25:23Z", "2026-12-01T18:25:23.1+08:00"])
def test_a_relayed_event_read_without_the_sdk_is_what_the_sdk_reads(time: str | None) -> None:
    message = to_kafka_message(filed_event(), "/caseledger/case")
    if time is not None:  # as another writer may put it
        message = kafka.KafkaMessage(
            message.headers, message.key, json.dumps({**json.loads(message.value), "time": time}).encode()
        )
    consumed = parse_record(record(message.headers, message.key, message.value, offset=3))
    by_sdk = _read_by_the_sdk(message)
    assert consumed is not None
    assert (consumed.id, consumed.type, consumed.source, consumed.subject, consumed.time) == (
        by_sdk["id"],
        by_sdk["type"],
        by_sdk["source"],
        by_sdk["subject"],
        by_sdk["time"],
    )
    assert (consumed.traceparent, consumed.dataschema, consumed.partitionkey, consumed.aggregate_id) == (
        by_sdk.get("traceparent", ""),
        by_sdk["dataschema"],
        by_sdk["partitionkey"],
        by_sdk["aggregateid"],
    )
    assert consumed.sequence == int(by_sdk["sequence"]) and consumed.data == by_sdk["data"]


def test_a_structured_message_that_is_not_a_cloudevent_1_0_is_skipped() -> None:
    headers = {"content-type": STRUCTURED_CONTENT_TYPE.encode()}
    good = json.loads(to_kafka_message(filed_event(), "/caseledger/case").value)
    for broken in (
        {**good, "specversion": "0.9"},
        {**good, "type": ""},
        {**good, "time": "yesterday"},
    ):
        assert parse_record(record(headers, None, json.dumps(broken).encode())) is None
    assert parse_record(record(headers, None, b"{not json")) is None
    assert parse_record(record(headers, None, b"\xff\xfe")) is None
