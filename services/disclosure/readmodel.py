"""Public disclosure feed (行政处罚信息公示): one row per published decision, fed from Kafka
by ``disclosure.published.v1``, which carries the masked 双公示 items in full; and the
queries the public API answers from it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import event_types as types
from services.infra.batch_rows import BatchRows
from services.infra.clock import today_in_china
from services.infra.consumer import ConsumedEvent
from services.infra.errors import InvalidInput, NotFound
from services.infra.formats import utc
from services.infra.migrations import Schema
from services.infra.pagination import keyset_page
from services.infra.projection import consumer_metadata
from services.infra.sql import one_or_not_found
from services.infra.telemetry import trace_id_of

metadata = MetaData()
# Its tables are made and changed only by the revisions in services/disclosure/migrations/.
SCHEMA = Schema("disclosure", (consumer_metadata, metadata), Path(__file__).with_name("migrations"))
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
    # Bump when what the tables show changes: they are emptied and rebuilt from the topic.
    schema_version = 1
    rebuilt_tables = ("disclosure_feed",)
    metadata = metadata
    handles = frozenset({types.DISCLOSURE_PUBLISHED})

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        pass  # a publication's row is written whole from its event

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        if event.type != types.DISCLOSURE_PUBLISHED:
            return
        data = event.data
        item = data["item"]
        rows.put(
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
        )


# -- queries ------------------------------------------------------------------------------


def feed_entry(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry["recorded_at"] = utc(entry["recorded_at"])
    return entry


async def disclosure(db: AsyncEngine, publication_id: UUID) -> dict[str, Any]:
    """One published decision, while its publication period lasts."""
    row = await one_or_not_found(
        db,
        select(disclosure_feed).where(disclosure_feed.c.publication_id == str(publication_id)),
        f"publication {publication_id} in the feed (yet)",
    )
    if row.publication_end < today_in_china().isoformat():
        raise NotFound(f"the publication period of {publication_id} has ended")
    return feed_entry(row)


async def disclosure_page(
    db: AsyncEngine,
    *,
    agency_code: str | None,
    published_from: date | None,
    published_to: date | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Published decisions still within their publication period, filtered, one page."""
    if published_from and published_to and published_from > published_to:
        raise InvalidInput("published_from", "date-range", "published_from is after published_to", where="query")
    # Publication ends automatically at its end date (DOMAIN.md §5).
    query = select(disclosure_feed).where(disclosure_feed.c.publication_end >= today_in_china().isoformat())
    if agency_code:
        query = query.where(disclosure_feed.c.agency_code == agency_code)
    if published_from:
        query = query.where(disclosure_feed.c.published_on >= published_from.isoformat())
    if published_to:
        query = query.where(disclosure_feed.c.published_on <= published_to.isoformat())
    rows, next_cursor = await keyset_page(
        db, query, disclosure_feed.c.recorded_at, disclosure_feed.c.publication_id, limit, cursor
    )
    return {"items": [feed_entry(r) for r in rows], "next_cursor": next_cursor}
