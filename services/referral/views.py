"""The referral service's views, fed from Kafka: the cases it knows (it never reads the case
service's tables) and the referral tracker (移送台账)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.infra.consumer import ConsumedEvent, upsert
from services.infra.telemetry import trace_id_of

metadata = MetaData()
known_cases = Table(
    "known_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("agency_code", String(18), nullable=False),
    Column("agency_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False),
    # The party as the case service recorded it: a person's identifiers sealed.
    Column("party", JSON, nullable=False),
    Column("case_status", String(30), nullable=False),
    Column("decision_number", String(60)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
referral_tracker = Table(
    "referral_tracker",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("agency_code", String(18), nullable=False, index=True),
    Column("agency_name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    Column("receiving_organ", String(30), nullable=False, index=True),
    Column("organ_name", String(200), nullable=False),
    Column("organ_code", String(18), nullable=False, index=True),
    Column("copy_to_code", String(18), index=True),
    Column("party", JSON, nullable=False),
    Column("suspected_offence", Text, nullable=False),
    Column("materials", JSON, nullable=False),
    Column("status", String(30), nullable=False, index=True),
    Column("referred_on", String(10), nullable=False),
    Column("filing_decision_due", String(10), nullable=False),
    Column("trace_id", String(32)),
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class ReferralViewsProjection:
    name = "referral-views"
    metadata = metadata

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        data = event.data
        now = datetime.now(UTC)
        dialect = conn.dialect.name
        if event.is_type(".case.filed.v1"):
            await conn.execute(
                upsert(
                    known_cases,
                    {
                        "case_id": event.subject,
                        "agency_code": data["agency"]["code"],
                        "agency_name": data["agency"]["name"],
                        "region_code": data["agency"]["region_code"],
                        "party": data["party"],
                        "case_status": "filed",
                        "updated_at": now,
                    },
                    ("case_id",),
                    dialect,
                )
            )
        elif event.is_type(".case.penalty_decided.v1"):
            await conn.execute(
                update(known_cases)
                .where(known_cases.c.case_id == event.subject)
                .values(case_status="decided", decision_number=data["decision_number"], updated_at=now)
            )
        elif event.is_type(".referral.referred.v1"):
            row: dict[str, Any] = {
                "referral_id": event.aggregate_id,
                "case_id": data["case_id"],
                "agency_code": data["agency_code"],
                "agency_name": data["agency_name"],
                "region_code": data["region_code"],
                "receiving_organ": data["receiving_organ"],
                "organ_name": data["organ_name"],
                "organ_code": data["organ_code"],
                "copy_to_code": data.get("copy_to_code"),
                "party": data["party"],
                "suspected_offence": data["suspected_offence"],
                "materials": data["materials"],
                "status": "referred",
                "referred_on": data["referred_on"],
                "filing_decision_due": data["filing_decision_due"],
                "trace_id": trace_id_of(event.traceparent) or None,
                "recorded_at": now,
                "updated_at": now,
            }
            await conn.execute(upsert(referral_tracker, row, ("referral_id",), dialect))
