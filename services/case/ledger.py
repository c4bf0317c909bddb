"""Case ledger (案件台账): one row per case, fed from Kafka, never from the event store.

It also shows each case's referral (移送) and publication (公示) status, learnt from the
referral and disclosure services' events on the same topic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from services.case.personal_data import lookup_code, show_party
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.telemetry import trace_id_of

metadata = MetaData()
case_ledger = Table(
    "case_ledger",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("agency_code", String(18), nullable=False, index=True),
    Column("agency_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("party_kind", String(20), nullable=False),
    Column("party_name", String(200), nullable=False),
    # An enterprise's code, or a keyed digest of a person's ID number (personal_data.py).
    Column("party_code", String(60), nullable=False, index=True),
    # The party as recorded: a natural person's ID number, phone and address sealed.
    Column("party", JSON, nullable=False),
    Column("violation_summary", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("status", String(30), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("filed_on", String(10), nullable=False),
    Column("decision_due", String(10), nullable=False),
    Column("review_outcome", String(20)),
    Column("decision_number", String(60)),
    Column("decided_on", String(10)),
    Column("penalties", JSON),
    Column("fine_total_yuan", Integer),
    Column("referral_status", String(30), nullable=False, default="none"),
    Column("referral_organ", String(30)),
    Column("publication_status", String(30), nullable=False, default="none"),
    Column("published_on", String(10)),
    Column("last_event_type", String(120), nullable=False),
    Column("last_event_id", String(36), nullable=False),
    Column("trace_id", String(32)),
    # Record time: when the ledger learnt of the case and of its latest change.
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class CaseLedgerProjection:
    name = "case-ledger"
    metadata = metadata

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        data = event.data
        case_id = event.subject
        now = datetime.now(UTC)
        common = {
            "last_event_type": event.type,
            "last_event_id": event.id,
            "trace_id": trace_id_of(event.traceparent) or None,
            "updated_at": now,
        }
        if event.is_type(".case.filed.v1"):
            await conn.execute(
                case_ledger.insert().values(
                    case_id=case_id,
                    agency_code=data["agency"]["code"],
                    agency_name=data["agency"]["name"],
                    region_code=data["agency"]["region_code"],
                    party_kind=data["party"]["kind"],
                    party_name=data["party"]["name"],
                    party_code=lookup_code(data["party"], self.cipher),
                    party=data["party"],
                    violation_summary=data["violation_summary"],
                    legal_basis=data["legal_basis"],
                    status="filed",
                    version=event.sequence,
                    filed_on=data["filed_on"],
                    decision_due=data["decision_due"],
                    referral_status="none",
                    publication_status="none",
                    recorded_at=now,
                    **common,
                )
            )
            return
        changes: dict[str, Any] = {}
        if event.is_type(".case.legal_review_recorded.v1"):
            changes = {
                "status": "review_passed" if data["outcome"] == "passed" else "review_returned",
                "review_outcome": data["outcome"],
            }
        elif event.is_type(".case.penalty_decided.v1"):
            changes = {
                "status": "decided",
                "decision_number": data["decision_number"],
                "decided_on": data["decided_on"],
                "penalties": data["penalties"],
                "fine_total_yuan": data["fine_total_yuan"],
            }
        elif event.is_type(".referral.referred.v1"):
            changes = {"referral_status": "referred", "referral_organ": data["receiving_organ"]}
        elif event.is_type(".disclosure.publication_prepared.v1"):
            changes = {"publication_status": "pending"}
        elif event.is_type(".disclosure.published.v1"):
            changes = {"publication_status": "published", "published_on": data["published_on"]}
        else:
            return  # an event type the ledger does not show
        if event.aggregate_id == case_id:  # the case's own events move its version
            changes["version"] = event.sequence
        await conn.execute(update(case_ledger).where(case_ledger.c.case_id == case_id).values(**changes, **common))


def ledger_entry(row: Any, cipher: FieldCipher, full_personal_data: bool) -> dict[str, Any]:
    """A ledger row as the API shows it: personal data opened or masked by role."""
    entry = dict(row._mapping)
    entry["party"] = show_party(entry["party"], cipher, full_personal_data)
    entry["party_code"] = entry["party"]["code"]
    entry["recorded_at"] = entry["recorded_at"].isoformat() if entry["recorded_at"] else None
    entry["updated_at"] = entry["updated_at"].isoformat() if entry["updated_at"] else None
    return entry

