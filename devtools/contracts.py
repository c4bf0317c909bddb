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
from services.case.register import DecisionRegister
from services.common import event_types
from services.disclosure.domain import Publication, WithheldDecision
from services.infra.envelope import DATASCHEMA_PREFIX, SEQUENCE_DIGITS
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
    ("case", Case.EvidenceRecorded),
    ("case", Case.InquiryRecorded),
    ("case", Case.MeasureTaken),
    ("case", Case.MeasureExtended),
    ("case", Case.MeasureConcluded),
    ("case", Case.CollectiveDiscussionRecorded),
    ("case", Case.PriorNoticeServed),
    ("case", Case.StatementRecorded),
    ("case", Case.HearingRequested),
    ("case", Case.HearingScheduled),
    ("case", Case.HearingHeld),
    ("case", Case.NotPenalised),
    ("case", Case.Dismissed),
    ("case", Case.SuspendedForReferral),
    ("case", Case.ResumedAfterReferral),
    ("case", Case.ReportedToAgency),
    ("case", Case.ServiceConsentRecorded),
    ("case", Case.DecisionServed),
    ("case", Case.PaymentArranged),
    ("case", Case.PaymentRecorded),
    ("case", Case.RemedyFiled),
    ("case", Case.RemedyDecided),
    ("case", Case.DecisionCorrected),
    ("case", Case.ReminderServed),
    ("case", Case.CourtApplied),
    ("case", Case.CourtRuled),
    ("case", Case.Closed),
    ("case", Case.Archived),
    ("case", Case.Annotated),
    ("case", Case.ConcludedByReferral),
    ("case", DecisionRegister.NumberAssigned),
    ("referral", Referral.Referred),
    ("referral", Referral.Reported),
    ("referral", Referral.HeadDecided),
    ("referral", Referral.Dispatched),
    ("referral", Referral.Received),
    ("referral", Referral.FilingDecided),
    ("referral", Referral.ReconsiderationRequested),
    ("referral", Referral.ReconsiderationAnswered),
    ("referral", Referral.Supervised),
    ("referral", Referral.HandedOver),
    ("referral", Referral.OutcomeRecorded),
    ("referral", Referral.Returned),
    ("referral", Referral.PaidFineRecorded),
    ("referral", Referral.DeadlineApproaching),
    ("referral", Referral.DeadlineMissed),
    ("disclosure", Publication.Prepared),
    ("disclosure", Publication.Published),
    ("disclosure", WithheldDecision.Withheld),
    ("disclosure", Publication.Withdrawn),
    ("disclosure", Publication.Ended),
    ("disclosure", Publication.RepairApplied),
    ("disclosure", Publication.RepairGranted),
    ("disclosure", Publication.RepairRefused),
    ("disclosure", Publication.CreditChinaNotified),
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


# What each event's data says, for the other agencies that read contracts/ (the event
# classes are dataclasses whose generated docstring is a Python signature naming stored
# fields that are never published, such as command_key).
EVENT_DESCRIPTIONS = {
    event_types.CASE_FILED: "立案: a case filed by its agency: the agency, the party (a natural person's ID number, "
    "phone and address sealed), the violation, the officers acting, the filing date and the decision deadline "
    "with the rule that set it; actor: who filed, for which agency, and why.",
    event_types.CASE_LEGAL_REVIEW_RECORDED: "法制审核: the legal review's outcome (passed or returned), the reviewer, "
    "the opinion and the review date.",
    event_types.CASE_PENALTY_DECIDED: "行政处罚决定: the decision document's content (number, date, respondent, "
    "facts, legal basis, penalties, agency), self-contained so the disclosure needs no other view of the case.",
    event_types.CASE_DEADLINE_APPROACHING: "A deadline of the case is approaching: recorded once per due date, "
    "a configured number of working days before it.",
    event_types.CASE_DEADLINE_MISSED: "A deadline of the case passed with its step not taken: recorded once per "
    "due date, the day after it.",
    event_types.CASE_DEADLINE_EXTENDED: "延期/中止: a deadline moved to a new due date, with the reason and the "
    "approver (the agency head).",
    event_types.REFERRAL_REFERRED: "移送: a case referred to the public security organ or the procuratorate, with the "
    "suspected offence, the reason, the materials, the officers, the party it shares and the police's filing "
    "decision deadline.",
    event_types.DISCLOSURE_PUBLICATION_PREPARED: "双公示: a penalty decision's publication prepared by the "
    "disclosure policy: "
    "the published items (natural persons masked), the tier and period, and the publish-by deadline.",
    event_types.DISCLOSURE_PUBLISHED: "The publication was pushed to Credit China and accepted, with its receipt; "
    "the item as pushed (the unit's code whole) and the code as the agency's site shows it.",
    event_types.DISCLOSURE_PUBLICATION_WITHHELD: "不予公示: a penalty decision not published, with the ground (a "
    "minor party, state or trade secrets, privacy, the minor tier where the rule withholds it) and its tier; "
    "nothing of the decision's content.",
    event_types.DISCLOSURE_WITHDRAWN: "撤回 (行政处罚法 Art. 48): the decision was revoked, changed, declared "
    "illegal or void; the reason, and the withdrawal deadline by which Credit China is told (none when it had "
    "not gone out); for a change, the publication of the decision as changed.",
    event_types.DISCLOSURE_ENDED: "公示期满: the publication's period (its tier's maximum) is over; recorded once "
    "by the scheduler (or at preparation), dated the legal end (the day after the last day) with the day it was "
    "recorded; one whose period was over before it went out is never pushed (was_published false).",
    event_types.DISCLOSURE_REPAIR_APPLIED: "信用修复申请: the party applied through the agency, after the minimum "
    "period, its obligations performed, with a credit commitment (by reference and hash).",
    event_types.DISCLOSURE_REPAIR_GRANTED: "信用修复 granted, with the reason: the publication ends at once.",
    event_types.DISCLOSURE_REPAIR_REFUSED: "信用修复 refused, with the reason: the publication goes on.",
    event_types.DISCLOSURE_CREDIT_CHINA_NOTIFIED: "Credit China accepted a withdrawal, an end or a repair of the "
    "publication, with its receipt; or (notice publication) the record itself, accepted after it was withdrawn "
    "or ended here, with the withdrawal deadline from that day.",
}


def event_description(event_class: type[Any]) -> str:
    """The event's description: the table above, else the class's own docstring (not the
    signature a dataclass generates), else its type."""
    type_ = cloud_type(event_class)
    if type_ in EVENT_DESCRIPTIONS:
        return EVENT_DESCRIPTIONS[type_]
    return event_doc(event_class) or f"The data of {type_}"


def event_data_schema(event_class: type[Any]) -> dict[str, Any]:
    fields = {"case_id": str, **data_fields(event_class)}
    shape = TypedDict(event_class.__qualname__.replace(".", ""), fields)  # type: ignore[misc]  # its name is made at run time
    schema = TypeAdapter(shape).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{DATASCHEMA_PREFIX}{cloud_type(event_class)}",
        "title": cloud_type(event_class),
        "description": event_description(event_class),
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
        "so a re-published event keeps its id: consumers drop duplicates by id. Text is UTF-8 (no \\u "
        "escapes). Webhooks carry the same envelope in the HTTP binding's structured mode.",
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "partitionkey",
            "aggregateid",
            "sequence",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"enum": [f"/caseledger/{s}" for s in SERVICES if s != "notification"]},
            "type": {"enum": [cloud_type(c) for _, c in EVENTS]},
            "subject": {"type": "string", "format": "uuid", "description": "the case id"},
            "time": {"type": "string", "format": "date-time", "description": "record time of the event"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string", "pattern": f"^{DATASCHEMA_PREFIX}"},
            "partitionkey": {"type": "string", "description": "the case id (Kafka message key)"},
            "aggregateid": {"type": "string", "description": "id of the aggregate that emitted the event"},
            "sequence": {
                "type": "string",
                "pattern": f"^[0-9]{{{SEQUENCE_DIGITS}}}$",
                "description": f"the aggregate's version, zero-padded to {SEQUENCE_DIGITS} digits so that it "
                "compares as a string (sequence extension); messages relayed before the padding carry the bare "
                "number, so a reader of old messages compares int(sequence)",
            },
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
                "servers": [{"$ref": "#/servers/production"}, {"$ref": "#/servers/local"}],
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
            f"{group_operation(group)}Receives": {
                "action": "receive",
                "channel": {"$ref": "#/channels/caseEvents"},
                "summary": f"consumer group {group} of the {service} service, suffixed with the topic's identity "
                "(.<8 characters>); it stores its offsets, under the topic's identity, with its effects, drops "
                "a CloudEvent id it has applied, and skips control records",
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "pattern": f"^{group}\\.[0-9a-f]{{8}}$"},
                        "clientId": {"type": "string", "const": f"{service}-{group}"},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
            for service, group in CONSUMER_GROUPS
        },
        "servers": {
            "production": {
                "host": "{brokers}",
                "protocol": "kafka",
                "description": "The operator's Kafka (KRaft) cluster, as KAFKA_BOOTSTRAP_SERVERS names it; the topic "
                "created ahead with replication.factor=3, min.insync.replicas=2, retention.ms=-1",
                "variables": {"brokers": {"description": "host:port of the bootstrap brokers"}},
            },
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "`make run`'s embedded broker (Tansu): kept in memory, refilled from the event stores",
            },
        },
        "components": {"messages": messages},
    }


# Every consumer group reading the topic: (service, group).
CONSUMER_GROUPS = (
    ("case", "case-ledger"),
    ("referral", "referral-views-v2"),
    ("disclosure", "disclosure-policy"),
    ("disclosure", "disclosure-feed"),
    ("notification", "notification-deliveries"),
)


def group_operation(group: str) -> str:
    head, *rest = group.split("-")
    return head + "".join(part.title() for part in rest)


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
