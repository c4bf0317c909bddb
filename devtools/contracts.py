"""Generate contracts/ from the code: the JSON Schema of every event's data and of the
CloudEvents envelope, the AsyncAPI document of the topic, and each service's OpenAPI.

``make contracts`` writes them; tests/test_contracts.py fails when the checked-in copies
drift from what the code would generate.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from services.case.domain import Case
from services.disclosure.domain import Publication
from services.infra.eventstore import cloud_type, data_fields
from services.infra.settings import CASE_EVENTS_TOPIC, Settings
from services.infra.topic import CAUGHT_UP, CONTROL_HEADER, GENESIS
from services.referral.domain import Referral

ROOT = Path(__file__).resolve().parent.parent / "contracts"
SERVICES = ("case", "referral", "disclosure", "notification")
# Every event type published on the case-events topic, with the service that emits it.
EVENTS: list[tuple[str, type[Any]]] = [
    ("case", Case.Filed),
    ("case", Case.LegalReviewRecorded),
    ("case", Case.PenaltyDecided),
    ("case", Case.DeadlineApproaching),
    ("case", Case.DeadlineMissed),
    ("case", Case.DeadlineExtended),
    ("referral", Referral.Referred),
    ("referral", Referral.DeadlineApproaching),
    ("referral", Referral.DeadlineMissed),
    ("disclosure", Publication.Prepared),
    ("disclosure", Publication.Published),
    ("disclosure", Publication.DeadlineApproaching),
    ("disclosure", Publication.DeadlineMissed),
]


def event_doc(event_class: type[Any]) -> str:
    """The event class's docstring as written: the eventsourcing library redefines a nested
    event class as a dataclass whose generated docstring is its signature, so the first class
    up our hierarchy (not the library's) with a written one."""
    for cls in event_class.__mro__:
        doc = cls.__dict__.get("__doc__") if cls.__module__.startswith("services.") else None
        if doc and not doc.startswith(f"{cls.__name__}("):
            return " ".join(doc.split())
    return ""


def event_data_schema(event_class: type[Any]) -> dict[str, Any]:
    fields = {"case_id": str, **data_fields(event_class)}
    shape = TypedDict(event_class.__qualname__.replace(".", ""), fields)  # type: ignore[misc]  # its name is made at run time
    schema = TypeAdapter(shape).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:caseledger:contracts:events:{cloud_type(event_class)}",
        "title": cloud_type(event_class),
        "description": event_doc(event_class) or f"data of {cloud_type(event_class)}",
        **schema,
    }


def envelope_schema() -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode envelope as caseledger fills it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:caseledger:contracts:envelope",
        "title": "caseledger CloudEvent envelope",
        "description": "CloudEvents 1.0, structured mode (content-type application/cloudevents+json), "
        "one per Kafka message keyed by case id. The id is derived from (aggregate id, version), "
        "so a re-published event keeps its id: consumers drop duplicates by id.",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"enum": [f"/caseledger/{s}" for s in SERVICES if s != "notification"]},
            "type": {"enum": [cloud_type(c) for _, c in EVENTS]},
            "subject": {"type": "string", "format": "uuid", "description": "the case id"},
            "time": {"type": "string", "format": "date-time", "description": "record time of the event"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string", "pattern": "^urn:caseledger:contracts:events:"},
            "partitionkey": {"type": "string", "description": "the case id (Kafka message key)"},
            "aggregateid": {"type": "string", "description": "id of the aggregate that emitted the event"},
            "sequence": {"type": "string", "pattern": "^[0-9]+$", "description": "the aggregate's version"},
            "traceparent": {"type": "string", "description": "W3C trace context of the causing request"},
            "data": {"type": "object"},
        },
    }


def message_name(event_class: type[Any]) -> str:
    """The AsyncAPI message name of an event: its CloudEvent type without the prefix."""
    return cloud_type(event_class).removeprefix("cn.caseledger.").replace(".", "_")


def asyncapi() -> dict[str, Any]:
    settings = Settings()
    messages = {
        message_name(c): {
            "name": cloud_type(c),
            "title": cloud_type(c),
            "summary": event_doc(c) or cloud_type(c),
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {
                    "content-type": {"const": "application/cloudevents+json"},
                    "traceparent": {"type": "string"},
                },
            },
            "payload": {
                "allOf": [
                    {"$ref": "envelope.schema.json"},
                    {
                        "properties": {
                            "type": {"const": cloud_type(c)},
                            "data": {"$ref": f"events/{cloud_type(c)}.schema.json"},
                        }
                    },
                ]
            },
            "bindings": {"kafka": {"key": {"type": "string", "description": "case id"}, "bindingVersion": "0.5.0"}},
            "x-emitted-by": service,
        }
        for service, c in EVENTS
    }
    messages[CONTROL_MESSAGE] = control_message()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "caseledger case events",
            "version": "1.0.0",
            "description": "Every fact about an enforcement case, from every service, on one topic keyed by "
            "case id, so each consumer sees a case's events in causal order. Kept forever: the events "
            "are the public record auditors rely on. Webhook deliveries are operational records kept "
            "by the notification service (GET /v1/deliveries), not published to Kafka in this version.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": {
            "caseEvents": {
                "address": CASE_EVENTS_TOPIC,
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "kafka": {
                        "topic": CASE_EVENTS_TOPIC,
                        "partitions": settings.case_events_partitions,
                        "replicas": 3,
                        "topicConfiguration": {
                            "retention.ms": -1,
                            "cleanup.policy": ["delete"],
                            "min.insync.replicas": 2,
                        },
                        "bindingVersion": "0.5.0",
                    }
                },
            }
        },
        "operations": {
            f"{service}Publishes": {
                "action": "send",
                "channel": {"$ref": "#/channels/caseEvents"},
                "summary": f"the {service} service's outbox relay (idempotent producer, acks=all)",
                "messages": [
                    {"$ref": f"#/channels/caseEvents/messages/{message_name(c)}"} for s, c in EVENTS if s == service
                ]
                + [{"$ref": f"#/channels/caseEvents/messages/{CONTROL_MESSAGE}"}],
            }
            for service in ("case", "referral", "disclosure")
        }
        | {
            "consumersReceive": {
                "action": "receive",
                "channel": {"$ref": "#/channels/caseEvents"},
                "summary": "consumer groups case-ledger, referral-views, disclosure-policy, disclosure-feed, "
                "notification-deliveries, each suffixed with the topic's identity (.<8 characters>); each "
                "stores its offsets, under the topic's identity, with its effects, and skips control records",
            }
        },
        "components": {"messages": messages},
    }


CONTROL_MESSAGE = "topic_control"


def control_message() -> dict[str, Any]:
    """The relays' control records (services/infra/topic.py): not events; skip them."""
    return {
        "name": "caseledger topic control record",
        "title": "topic control record",
        "summary": "Not a CloudEvent: skip it (a consumer tells it by the caseledger-control header). "
        f"{GENESIS}: the first record of partition 0, whose topic_id is the topic's identity; positions "
        f"are kept per identity, and a topic with another one is refilled from the event stores. {CAUGHT_UP}: "
        "the relay of `source` has published on this topic every event it held when it first saw it "
        "(up_to: its last notification id then); relays whose events follow from that source's wait for it.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": [CONTROL_HEADER],
            "properties": {
                CONTROL_HEADER: {"enum": [GENESIS, CAUGHT_UP]},
                "content-type": {"const": "application/json"},
            },
        },
        "payload": {
            "type": "object",
            "required": ["kind", "topic_id"],
            "properties": {
                "kind": {"enum": [GENESIS, CAUGHT_UP]},
                "topic_id": {"type": "string", "description": "the topic's identity"},
                "source": {"type": "string", "description": f"{CAUGHT_UP}: the relay's CloudEvent source"},
                "up_to": {"type": "integer", "minimum": 0, "description": f"{CAUGHT_UP}: last notification id"},
            },
        },
        "bindings": {
            "kafka": {"key": {"const": "caseledger-control"}, "bindingVersion": "0.5.0"},
        },
        "x-partition": 0,
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def generate() -> dict[Path, str]:
    files: dict[Path, str] = {ROOT / "envelope.schema.json": _json(envelope_schema())}
    for _, event_class in EVENTS:
        files[ROOT / "events" / f"{cloud_type(event_class)}.schema.json"] = _json(event_data_schema(event_class))
    files[ROOT / "asyncapi.yaml"] = yaml.safe_dump(asyncapi(), allow_unicode=True, sort_keys=False, width=100)
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.main")
        files[ROOT / "openapi" / f"{service}.json"] = _json(module.create_app().openapi())
    return files


def main() -> None:
    for path, content in generate().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()


def permission_table() -> str:
    """The permission table as the README shows it (tests/test_contracts.py checks it)."""
    from services.access.policy import PERMISSIONS, Role

    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |", "|---" * (len(roles) + 1) + "|"]
    for permission, allowed in PERMISSIONS.items():
        lines.append(f"| `{permission.value}` | " + " | ".join("✓" if r in allowed else "" for r in roles) + " |")
    return "\n".join(lines)
