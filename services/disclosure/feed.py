"""Public disclosure feed (行政处罚信息公示): one row per published decision, fed from Kafka
by ``disclosure.published.v1``, which carries the masked 双公示 items in full."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from services.infra.consumer import ConsumedEvent, upsert
from services.infra.telemetry import trace_id_of

metadata = MetaData()
disclosure_feed = Table(
    "disclosure_feed",
    metadata,
    Column("publication_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("agency_code", String(18), nullable=False, index=True),
    Column("decision_number", String(60), nullable=False),
    Column("published_on", String(10), nullable=False, index=True),
    Column("publication_end", String(10), nullable=False, index=True),
    Column("receipt_id", String(100), nullable=False),
    Column("item", JSON, nullable=False),
    Column("trace_id", String(32)),
    # Record time: when the feed learnt of the publication (the pagination order).
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
)


class DisclosureFeedProjection:
    name = "disclosure-feed"
    metadata = metadata

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if not event.is_type(".disclosure.published.v1"):
            return
        data = event.data
        item = data["item"]
        await conn.execute(
            upsert(
                disclosure_feed,
                {
                    "publication_id": data["publication_id"],
                    "case_id": data["case_id"],
                    "agency_code": item["deciding_agency_code"],
                    "decision_number": item["decision_number"],
                    "published_on": data["published_on"],
                    "publication_end": item["publication_end_date"],
                    "receipt_id": data["receipt_id"],
                    "item": item,
                    "trace_id": trace_id_of(event.traceparent) or None,
                    "recorded_at": datetime.now(UTC),
                },
                ("publication_id",),
                conn.dialect.name,
            )
        )


def feed_entry(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry["recorded_at"] = entry["recorded_at"].isoformat()
    return entry
