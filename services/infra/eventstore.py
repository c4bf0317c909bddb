"""Event-store plumbing shared by the services: a traced aggregate base, the service
application (an eventsourcing Application over a process recorder, so policies and the
outbox relay can record their positions atomically), and the mapping of stored domain
events to CloudEvents. No domain rules live here."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, get_type_hints

from cloudevents.core.bindings.kafka import KafkaMessage, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ProcessRecorder, Tracking
from typing_extensions import TypedDict

from services.infra.auth import current_actor
from services.infra.telemetry import current_traceparent

TYPE_PREFIX = "cn.caseledger."
# Event ids are derived from (aggregate id, version), so a re-published event keeps its id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1c2e-4d0b-5b2a-9c57-2a3b0b8f6a11")
# Fields stored with every event that are not part of its published data: the envelope
# carries them, or (idempotency keys and request fingerprints) they are the service's own.
ENVELOPE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "originator_id_type",
        "traceparent",
        "command_key",
        "command_fingerprint",
    }
)


class Actor(TypedDict):
    """Who caused an event: the authenticated caller, or the service itself for events a
    policy or worker records (subject_type "system"), with the agency it acted for."""

    subject: str
    subject_type: str
    name: str | None
    agency_code: str
    region_code: str
    role: str | None
    on_behalf_of: str | None
    reason: str | None
    trace_id: str | None


class TracedAggregate(Aggregate):
    """Aggregate whose events carry the W3C traceparent of the request that caused them
    and the actor (who, for which agency, in which role, why) set by the access guard."""

    class Event(Aggregate.Event):
        traceparent: str
        actor: Actor
        # Reverse-DNS, versioned CloudEvent type, e.g. "case.filed.v1" (prefix added).
        cloud_type: ClassVar[str] = ""

    class Created(Event, Aggregate.Created):
        pass

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        kwargs.setdefault("traceparent", current_traceparent())
        if "actor" not in kwargs:
            kwargs["actor"] = _actor()
        super().trigger_event(event_class, **kwargs)

    @classmethod
    def _create(cls, event_class: type[Any], *, id: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        kwargs.setdefault("traceparent", current_traceparent())
        if "actor" not in kwargs:
            kwargs["actor"] = _actor()
        return super()._create(event_class, id=id, **kwargs)


def _actor() -> dict[str, Any]:
    actor = current_actor()
    if actor is None:  # nothing may be recorded without saying who did it
        raise RuntimeError("no actor: the command was not run behind the access guard")
    return actor


def system_actor(service: str, agency_code: str, region_code: str, reason: str) -> dict[str, Any]:
    """The actor for events a service records on its own (a policy, a worker)."""
    return {
        "subject": f"service:{service}",
        "subject_type": "system",
        "name": None,
        "agency_code": agency_code,
        "region_code": region_code,
        "role": "system",
        "on_behalf_of": None,
        "reason": reason,
        "trace_id": None,
    }


class ServiceApplication(Application):
    """An eventsourcing application over a process recorder (events + tracking rows)."""

    source: ClassVar[str] = "/caseledger"

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def save_tracked(self, tracking: Tracking, *aggregates: Aggregate) -> None:
        """Append the aggregates' new events and the consumer position in one transaction."""
        processing_event: ProcessingEvent[Any] = ProcessingEvent(tracking)
        processing_event.collect_events(*aggregates)
        self._record(processing_event)


def event_id(originator_id: Any, version: int) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator_id}:{version}"))


def cloud_type(event_class: type[Any]) -> str:
    return TYPE_PREFIX + event_class.cloud_type


def data_fields(event_class: type[Any]) -> dict[str, Any]:
    """The published data fields of an event class, with their types (for JSON Schema)."""
    return dict(_data_fields(event_class))


@functools.cache
def _data_fields(event_class: type[Any]) -> tuple[tuple[str, Any], ...]:
    # Resolving the (string) annotations costs more than the rest of mapping an event to
    # a CloudEvent; an event class's fields never change, so resolve them once per class.
    hints = get_type_hints(event_class, include_extras=True)
    return tuple(
        (name, hint)
        for name, hint in hints.items()
        if name not in ENVELOPE_FIELDS and not str(hint).startswith("typing.ClassVar")
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def event_data(domain_event: Any) -> dict[str, Any]:
    data = {name: getattr(domain_event, name) for name, _ in _data_fields(type(domain_event))}
    data.setdefault("case_id", str(domain_event.originator_id))
    result: dict[str, Any] = json.loads(json.dumps(data, default=_jsonable, ensure_ascii=False))
    return result


def to_cloud_event(domain_event: Any, source: str) -> CloudEvent:
    data = event_data(domain_event)
    attributes: dict[str, Any] = {
        "id": event_id(domain_event.originator_id, domain_event.originator_version),
        "source": source,
        "type": cloud_type(type(domain_event)),
        "subject": data["case_id"],
        "time": domain_event.timestamp,
        "datacontenttype": "application/json",
        "dataschema": f"urn:caseledger:contracts:events:{cloud_type(type(domain_event))}",
        "partitionkey": data["case_id"],
        "sequence": str(domain_event.originator_version),
        "aggregateid": str(domain_event.originator_id),
    }
    if domain_event.traceparent:
        attributes["traceparent"] = domain_event.traceparent
    return CloudEvent(attributes, data)


def to_kafka_message(domain_event: Any, source: str) -> KafkaMessage:
    """Structured-mode CloudEvent, keyed by case id, with the traceparent as a header too."""
    message = to_structured_event(to_cloud_event(domain_event, source))
    headers = dict(message.headers)
    if domain_event.traceparent:
        headers["traceparent"] = domain_event.traceparent.encode()
    return KafkaMessage(headers=headers, key=message.key, value=message.value)
