"""OpenTelemetry: one trace from the HTTP request, through the event-store append, across
Kafka (W3C traceparent in the message headers and the CloudEvent), into every consumer.

The exporter is chosen by the standard OTEL_TRACES_EXPORTER variable (``console`` or
``otlp``); none by default. Without one, spans are not recorded (no attributes, no events,
no exception tracebacks: nobody would read them) but their contexts still are made and
propagated, so trace ids appear in logs, responses, events and read models as before.
With one, the sampler is the standard OTEL_TRACES_SAMPLER's (parent-based, always on by
default).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

_configured = False


class _RecordWhenExported(sampling.Sampler):
    """Records spans only once a span processor exports them (``export_spans``), then
    decides as the configured sampler does; until then every span is a non-recording one
    with a valid context (its trace id propagates, nothing is collected)."""

    def __init__(self) -> None:
        self.exporting = False
        self.configured = sampling._get_from_env_or_default()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> sampling.SamplingResult:
        if not self.exporting:
            parent = trace.get_current_span(parent_context).get_span_context()
            state = parent.trace_state if parent.is_valid else None
            return sampling.SamplingResult(sampling.Decision.DROP, None, state)
        return self.configured.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RecordWhenExported{{{self.configured.get_description() if self.exporting else 'off'}}}"


_sampler = _RecordWhenExported()


def export_spans(processor: SpanProcessor) -> None:
    """Hand spans to ``processor`` from now on (an exporter's, or a test's in-memory one),
    and start recording them."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("setup_tracing first")
    provider.add_span_processor(processor)
    _sampler.exporting = True


def setup_tracing(service_name: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)}),
        sampler=_sampler,
    )
    trace.set_tracer_provider(provider)
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if exporter_name == "console":
        export_spans(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError:  # pragma: no cover - optional dependency
            logging.getLogger(__name__).warning(
                "OTEL_TRACES_EXPORTER=otlp but opentelemetry-exporter-otlp-proto-http is not installed"
            )
        else:
            export_spans(BatchSpanProcessor(OTLPSpanExporter()))


def tracer() -> trace.Tracer:
    return trace.get_tracer("caseledger")


def current_traceparent() -> str:
    """The W3C traceparent of the active span, or '' outside any trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def trace_id_of(traceparent: str) -> str:
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else ""


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


@contextmanager
def span_from(traceparent: str | None, name: str, **attributes: str | int) -> Iterator[trace.Span]:
    """Start a consumer-side span as a child of the producer's traceparent."""
    with _child_of(traceparent, name, trace.SpanKind.CONSUMER, attributes) as span:
        yield span


@contextmanager
def producer_span(traceparent: str | None, name: str, attributes: dict[str, str | int]) -> Iterator[trace.Span]:
    """A producer's span (the relay sending an event), a child of the event's traceparent."""
    with _child_of(traceparent, name, trace.SpanKind.PRODUCER, attributes) as span:
        yield span


@contextmanager
def _child_of(
    traceparent: str | None, name: str, kind: trace.SpanKind, attributes: dict[str, str | int]
) -> Iterator[trace.Span]:
    if not _sampler.exporting:
        # Nothing records it: the parent's context alone (no span made, no ids drawn), so
        # logs, and events appended inside, carry the producer's trace id all the same.
        parent_span = trace.NonRecordingSpan(_remote_context(traceparent))
        token = context.attach(trace.set_span_in_context(parent_span))
        try:
            yield parent_span
        finally:
            context.detach(token)
        return
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {})
    token = context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=kind, attributes=attributes) as span:
            yield span
    finally:
        context.detach(token)


def _remote_context(traceparent: str | None) -> trace.SpanContext:
    """The span context of a W3C traceparent (version 00: ``00-<trace>-<span>-<flags>``),
    or an invalid one for anything else, as the propagator would read it."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and parts[0] == "00" and len(parts[1]) == 32 and len(parts[2]) == 16 and len(parts[3]) == 2:
        try:
            trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        except ValueError:
            return trace.INVALID_SPAN_CONTEXT
        if trace_id and span_id:
            return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))
    return trace.INVALID_SPAN_CONTEXT


def messaging_attributes(
    operation: str,
    topic: str,
    *,
    group: str = "",
    partition: int | None = None,
    offset: int | None = None,
    message_id: str = "",
    key: str = "",
) -> dict[str, str | int]:
    """OpenTelemetry's messaging semantic conventions for Kafka (messaging.*)."""
    found: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.operation.name": {"send": "send", "process": "process"}.get(operation, operation),
        "messaging.destination.name": topic,
    }
    if group:
        found["messaging.consumer.group.name"] = group
    if partition is not None:
        found["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        found["messaging.kafka.offset"] = offset
    if message_id:
        found["messaging.message.id"] = message_id
    if key:
        found["messaging.kafka.message.key"] = key
    return found


@contextmanager
def client_span(method: str, url: str) -> Iterator[trace.Span]:
    """An outgoing HTTP request, after OpenTelemetry's HTTP client conventions; inside it,
    ``current_traceparent()`` is what the request should carry."""
    with tracer().start_as_current_span(
        method, kind=trace.SpanKind.CLIENT, attributes={"http.request.method": method, "url.full": url}
    ) as span:
        yield span


class _TraceIdLogFilter(logging.Filter):
    """Put the active trace and span ids on every log record (``%(trace_id)s``, ``%(span_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else "-"
        record.span_id = format(span.span_id, "016x") if span.is_valid else "-"
        return True


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying the trace id, so logs join up with traces."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            # RFC 3339, UTC, to the millisecond.
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service_name,
            "logger": record.name,
            "trace_id": getattr(record, "trace_id", "-"),
            "span_id": getattr(record, "span_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(service_name: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    handler.addFilter(_TraceIdLogFilter())
    handler.setFormatter(_JsonFormatter(service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own logs (start-up, errors) write through the same JSON lines. Not its access
    # log: it stays as the command line set it (off: a query string can carry an ID number).
    for name in ("uvicorn", "uvicorn.error"):
        own = logging.getLogger(name)
        own.handlers[:] = []
        own.propagate = True
    logging.getLogger("kafka").setLevel(logging.WARNING)
