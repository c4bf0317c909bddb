"""Telemetry after OpenTelemetry's conventions: a client span for an outgoing webhook (its
traceparent is the one the receiver gets), messaging.* attributes on a consumer's span,
and JSON log lines with an RFC 3339 time and the span id."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.webhooks import WebhookReceiver
from services.infra import telemetry
from services.infra.consumer import ConsumedEvent
from services.infra.egress import EgressPolicy, pinned_async_client
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from services.infra.telemetry import (
    _JsonFormatter,
    _RecordWhenExported,
    _TraceIdLogFilter,
    export_spans,
    setup_tracing,
    tracer,
)
from services.notification.delivery import post_webhook
from services.notification.domain import generate_secret, ping_envelope
from services.notification.readmodel import DeliveryProjection


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    setup_tracing("test")  # once per process; later calls keep the provider
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    exporter = InMemorySpanExporter()
    export_spans(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_an_outgoing_webhook_is_a_client_span_whose_context_the_receiver_gets(
    spans: InMemorySpanExporter,
) -> None:
    policy = EgressPolicy(allow_http=True, allowlist=(ipaddress.ip_network("127.0.0.0/8"),))
    with WebhookReceiver() as receiver:
        async with pinned_async_client(policy) as client:
            outcome = await post_webhook(
                client, receiver.url, generate_secret(), ping_envelope("s1", datetime.now(UTC), "")
            )
        [hook] = receiver.received
    assert outcome.accepted
    [client_span] = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert client_span.attributes is not None
    assert client_span.attributes["http.request.method"] == "POST"
    assert client_span.attributes["url.full"] == receiver.url
    assert client_span.attributes["http.response.status_code"] == 204
    _, trace_id, span_id, _ = hook["headers"]["traceparent"].split("-")
    assert (trace_id, span_id) == (
        format(client_span.context.trace_id, "032x"),
        format(client_span.context.span_id, "016x"),
    )


def test_a_consumer_span_carries_the_messaging_attributes(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    runner = ProjectionRunner(Settings(service_name="notification", data_dir=tmp_path), DeliveryProjection())
    event = ConsumedEvent(
        id="6c1d6b0e-2f3a-5a8b-9c0d-1e2f3a4b5c6d",
        type="cn.caseledger.case.legal_review_recorded.v1",
        source="/caseledger/case",
        subject="0f8e2c4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        time="2026-03-02T08:00:00Z",
        data={},
        traceparent="",
        topic="caseledger.case-events.v1",
        partition=2,
        offset=41,
    )
    try:
        runner.apply(TopicPartition("caseledger.case-events.v1", 2), [event], 41, "topic-a")
    finally:
        runner.close()
    [span] = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CONSUMER]
    assert span.name == "process caseledger.case-events.v1"
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "caseledger.case-events.v1",
        "messaging.consumer.group.name": "notification-deliveries",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.message.id": event.id,
        "messaging.kafka.message.key": event.subject,
    }


def test_a_log_line_is_json_with_an_rfc3339_time_and_the_span_id(spans: InMemorySpanExporter) -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Application startup complete.", None, None)
    with tracer().start_as_current_span("request") as span:
        _TraceIdLogFilter().filter(record)
    line = json.loads(_JsonFormatter("case").format(record))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert (line["logger"], line["message"]) == ("uvicorn.error", "Application startup complete.")


def test_without_an_exporter_spans_are_not_recorded_but_their_trace_ids_propagate() -> None:
    sampler = _RecordWhenExported()
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans_of = provider.get_tracer("test")
    with spans_of.start_as_current_span("request") as request:
        assert not request.is_recording()
        assert request.get_span_context().is_valid  # the X-Trace-Id and the events' traceparent
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    parent = propagate.extract(carrier)
    with spans_of.start_as_current_span("consumer", context=parent) as consumed:
        assert consumed.get_span_context().trace_id == request.get_span_context().trace_id
    assert exporter.get_finished_spans() == ()
    sampler.exporting = True  # what export_spans does once an exporter is configured
    with spans_of.start_as_current_span("exported") as exported:
        assert exported.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["exported"]


def test_without_an_exporter_a_consumer_works_in_the_producers_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry._sampler, "exporting", False)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with telemetry.span_from(traceparent, "process caseledger.case-events.v1") as span:
        assert not span.is_recording()
        # What logs (``%(trace_id)s``) and events appended here carry.
        assert telemetry.current_trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert telemetry.trace_id_of(telemetry.current_traceparent()) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert telemetry.current_trace_id() == ""
    for unreadable in ("", "00-zz-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
        with telemetry.span_from(unreadable, "process caseledger.case-events.v1"):
            assert telemetry.current_trace_id() == ""
