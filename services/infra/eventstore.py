"""Event-store plumbing shared by the services: a traced aggregate base, the service
application (an eventsourcing Application over a process recorder, so policies and the
outbox relay can record their positions atomically) with the one way every command
loads, decides and saves, and the mapping of stored domain events to CloudEvents. No
domain rules live here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol, TypeVar, cast, get_type_hints

from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, ProcessRecorder, Tracking

from services.infra.envelope import DATASCHEMA_PREFIX, sequence_of, to_kafka_structured
from services.infra.errors import NotFound, StaleVersion
from services.infra.idempotency import Idempotency
from services.infra.identity import Actor, current_actor
from services.infra.telemetry import current_traceparent, tracer

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
# How often a command without If-Match is decided again after losing a race to another writer.
CHANGE_ATTEMPTS = 3
# The Kafka header naming the CloudEvent type, so a consumer can skip the types it does
# not handle without parsing the message (the message itself is structured mode).
TYPE_HEADER = "ce_type"


class TracedAggregate(Aggregate):
    """Aggregate whose events carry the W3C traceparent of the request that caused them
    and the actor (who, for which agency, in which role, why) set by the access guard."""

    class Event(Aggregate.Event):
        traceparent: str
        actor: Actor
        # The CloudEvent type, one of services.common.event_types.
        cloud_type: ClassVar[str] = ""

    class Created(Event, Aggregate.Created):
        pass

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        kwargs.setdefault("traceparent", current_traceparent())
        if "actor" not in kwargs:
            kwargs["actor"] = _actor()
        super().trigger_event(event_class, **kwargs)

    @classmethod
    def _create(cls, event_class: type[Any], *, id: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("traceparent", current_traceparent())
        if "actor" not in kwargs:
            kwargs["actor"] = _actor()
        return super()._create(event_class, id=id, **kwargs)


def _actor() -> dict[str, Any]:
    actor = current_actor()
    if actor is None:  # nothing may be recorded without saying who did it
        raise RuntimeError("no actor: the command was not run behind the access guard")
    return actor


AggregateT = TypeVar("AggregateT", bound=Aggregate)
KeyedT = TypeVar("KeyedT", bound="KeyedAggregate")


class KeyedAggregate(Protocol):
    """An aggregate that remembers its commands' Idempotency-Keys (``RemembersCommands``)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def version(self) -> int: ...

    def already_did(self, idempotency: Idempotency) -> bool: ...


class ServiceApplication(Application[uuid.UUID]):
    """An eventsourcing application over a process recorder (events + tracking rows), and
    the one path of every command: load (or find), decide, save."""

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

    # -- the command path ------------------------------------------------------------------
    def find(self, aggregate_id: uuid.UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def load(self, aggregate_id: uuid.UUID, what: str) -> Any:
        """The aggregate, or ``NotFound`` naming ``what`` ("case", "publication")."""
        aggregate = self.find(aggregate_id)
        if aggregate is None:
            raise NotFound(f"no {what} {aggregate_id}")
        return aggregate

    def state_at(
        self, aggregate_id: uuid.UUID, what: str, moment: datetime | None, version: int | None
    ) -> tuple[Any, datetime]:
        """The aggregate as its events stored by ``moment`` (and up to ``version``) make it,
        with the record time of the last of them; NotFound when there were none yet."""
        stored: list[Any] = list(self.events.get(aggregate_id))
        events = [
            e
            for e in stored
            if (moment is None or e.timestamp <= moment) and (version is None or e.originator_version <= version)
        ]
        if not events:
            raise NotFound(f"{what} {aggregate_id} was not recorded yet then")
        return self.repository.get(aggregate_id, version=events[-1].originator_version), events[-1].timestamp

    def append(self, aggregate: Aggregate, span: Mapping[str, str]) -> None:
        """Save the aggregate's new events, traced with ``span``'s attributes."""
        with tracer().start_as_current_span("event-store append", attributes=dict(span)):
            self.save(aggregate)

    def create(
        self,
        aggregate_id: uuid.UUID,
        build: Callable[[], AggregateT],
        answer_existing: Callable[[AggregateT], None],
        span: Mapping[str, str],
    ) -> tuple[AggregateT, bool]:
        """Create what a command makes, under an id derived from the command (so a retry
        finds the first). Returns (aggregate, replayed): one that exists already is
        checked by ``answer_existing`` (it raises unless it is this command's first
        result) and answered; a concurrent twin that won the append likewise."""
        existing = self.find(aggregate_id)
        if existing is not None:
            answer_existing(existing)
            return existing, True
        aggregate = build()
        try:
            self.append(aggregate, span)
        except IntegrityError:
            winner = self.load(aggregate_id, "aggregate")
            answer_existing(winner)
            return winner, True
        return aggregate, False

    def change(
        self,
        aggregate_id: uuid.UUID,
        what: str,
        idempotency: Idempotency,
        expected_version: int | None,
        permit: Callable[[KeyedT], None],
        decide: Callable[[KeyedT], None],
    ) -> tuple[KeyedT, bool]:
        """Load, check access (``permit`` raises NotFound or Forbidden), answer a retry
        from the events, check If-Match, decide, save. Returns (aggregate, replayed).

        Someone else may append between our read and our write (another command, or a
        service's own worker such as the deadline scheduler): with If-Match the caller
        gets 412; without it the command is decided again on what is now there, a few
        times, as if it had arrived a moment later."""
        for attempt in range(1, CHANGE_ATTEMPTS + 1):
            aggregate: KeyedT = self.load(aggregate_id, what)
            permit(aggregate)
            if aggregate.already_did(idempotency):
                return aggregate, True
            if expected_version is not None and expected_version != aggregate.version:
                raise StaleVersion(what, expected_version, aggregate.version)
            decide(aggregate)
            try:
                self.append(cast(Aggregate, aggregate), {f"{what}.id": str(aggregate_id)})
            except IntegrityError as exc:
                current: KeyedT = self.load(aggregate_id, what)
                if current.already_did(idempotency):
                    return current, True
                if expected_version is not None or attempt == CHANGE_ATTEMPTS:
                    raise StaleVersion(what, aggregate.version - 1, current.version) from exc
                continue
            return aggregate, False
        raise AssertionError("unreachable")


def event_id(originator_id: Any, version: int) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator_id}:{version}"))


def cloud_type(event_class: type[Any]) -> str:
    type_: str = event_class.cloud_type
    return type_


def data_fields(event_class: type[Any]) -> dict[str, Any]:
    """The published data fields of an event class, with their types (for JSON Schema)."""
    return dict(_data_fields(event_class))


# Resolving the (string) annotations costs more than the rest of mapping an event to a
# CloudEvent; an event class's fields never change, so they are resolved once per class.
_DATA_FIELDS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _data_fields(event_class: type[Any]) -> tuple[tuple[str, Any], ...]:
    fields = _DATA_FIELDS.get(event_class)
    if fields is None:
        hints = get_type_hints(event_class, include_extras=True)
        fields = tuple(
            (name, hint)
            for name, hint in hints.items()
            if name not in ENVELOPE_FIELDS and not str(hint).startswith("typing.ClassVar")
        )
        _DATA_FIELDS[event_class] = fields
    return fields


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
        "dataschema": f"{DATASCHEMA_PREFIX}{cloud_type(type(domain_event))}",
        "partitionkey": data["case_id"],
        "sequence": sequence_of(domain_event.originator_version),
        "aggregateid": str(domain_event.originator_id),
    }
    if domain_event.traceparent:
        attributes["traceparent"] = domain_event.traceparent
    return CloudEvent(attributes, data)


def to_kafka_message(domain_event: Any, source: str) -> KafkaMessage:
    """Structured-mode CloudEvent (text as UTF-8), keyed by case id, with the traceparent
    as a header too."""
    message = to_kafka_structured(to_cloud_event(domain_event, source))
    headers = dict(message.headers)
    headers[TYPE_HEADER] = cloud_type(type(domain_event)).encode()
    if domain_event.traceparent:
        headers["traceparent"] = domain_event.traceparent.encode()
    return KafkaMessage(headers=headers, key=message.key, value=message.value)
