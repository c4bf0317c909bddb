"""Public disclosure feed (行政处罚信息公示): one row per decision published now, fed from
Kafka by ``disclosure.published.v1``, which carries the masked 双公示 items in full, and
removed when the publication is withdrawn, ends or is repaired; the agency's view of its
publications by state (pending, published, withheld with the reason, overdue, withdrawn,
ended, repaired); and the queries the API answers from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    select,
)
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
# The agency's view: every publication (and every withheld decision) with its state.
publications = Table(
    "publications",
    metadata,
    Column("publication_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("agency_code", String(18), nullable=False, index=True),
    Column("decision_number", String(60), nullable=False),
    Column("respondent", Integer, nullable=False),
    Column("tier", String(10), nullable=False),
    # pending, published, withheld, withdrawn, ended, repaired (overdue: pending past publish_by).
    Column("state", String(12), nullable=False, index=True),
    Column("reason", Text),  # withheld, withdrawn, ended: why; a refused repair: the refusal
    Column("party_name", String(200)),  # masked as published (黄某某); none when withheld
    Column("party_category", String(24)),
    Column("decided_on", String(10), nullable=False),
    Column("publish_by", String(10)),
    Column("publish_deadline_missed", Boolean, nullable=False, default=False),
    Column("published_on", String(10)),
    Column("publication_end", String(10)),
    Column("repair_from", String(10)),
    Column("repair_status", String(10), nullable=False, default="none"),  # none, applied, granted, refused
    Column("withdrawal_due_on", String(10)),
    Column("ended_on", String(10)),
    Column("replaces", String(36)),
    Column("republished_as", String(36)),
    Column("notified", JSON, nullable=False),  # what Credit China accepted: {"publication": receipt, ...}
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
)
PUBLICATION_STATES = ("pending", "published", "withheld", "overdue", "withdrawn", "ended", "repaired")


class DisclosureFeedProjection:
    name = "disclosure-feed"
    # Bump when what the tables show changes: they are emptied and rebuilt from the topic.
    # 2: the agency's view, and the feed loses what is withdrawn, ended or repaired (issue 14).
    schema_version = 2
    rebuilt_tables = ("disclosure_feed", "publications")
    metadata = metadata
    handles = frozenset(
        {
            types.DISCLOSURE_PUBLICATION_PREPARED,
            types.DISCLOSURE_PUBLICATION_WITHHELD,
            types.DISCLOSURE_PUBLISHED,
            types.DISCLOSURE_WITHDRAWN,
            types.DISCLOSURE_ENDED,
            types.DISCLOSURE_REPAIR_APPLIED,
            types.DISCLOSURE_REPAIR_GRANTED,
            types.DISCLOSURE_REPAIR_REFUSED,
            types.DISCLOSURE_CREDIT_CHINA_NOTIFIED,
            types.DISCLOSURE_DEADLINE_MISSED,
        }
    )

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        """The batch's publications in the agency's view (the feed's rows are written
        whole from their event, or taken away)."""
        await rows.load_keys(publications, "publication_id", {_publication_of(event) for event in events})

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        data = event.data
        if event.type == types.DISCLOSURE_PUBLICATION_PREPARED:
            _prepared(rows, event)
        elif event.type == types.DISCLOSURE_PUBLICATION_WITHHELD:
            _withheld(rows, event)
        elif event.type == types.DISCLOSURE_PUBLISHED:
            _published(rows, event)
            _change(rows, data, state="published", published_on=data["published_on"])
            if data["item"].get("decision_kind", "penalty") == "penalty":  # an other decision is not pushed
                _notified(rows, data["publication_id"], "publication", data["receipt_id"])
        elif event.type == types.DISCLOSURE_WITHDRAWN:
            rows.remove(disclosure_feed, data["publication_id"])
            due = (data.get("withdrawal_deadline") or {}).get("due_on")
            _change(
                rows,
                data,
                state="withdrawn",
                reason=data["reason"],
                withdrawal_due_on=due,
                republished_as=data.get("republished_as"),
            )
        elif event.type == types.DISCLOSURE_ENDED:
            rows.remove(disclosure_feed, data["publication_id"])
            _change(rows, data, state="ended", reason=data["reason"], ended_on=data["ended_on"])
        elif event.type == types.DISCLOSURE_REPAIR_APPLIED:
            _change(rows, data, repair_status="applied", reason=None)
        elif event.type == types.DISCLOSURE_REPAIR_GRANTED:
            rows.remove(disclosure_feed, data["publication_id"])
            _change(
                rows,
                data,
                state="repaired",
                repair_status="granted",
                reason=data["reason"],
                ended_on=data["decided_on"],
            )
        elif event.type == types.DISCLOSURE_REPAIR_REFUSED:
            _change(rows, data, repair_status="refused", reason=data["reason"])
        elif event.type == types.DISCLOSURE_CREDIT_CHINA_NOTIFIED:
            _notified(rows, data["publication_id"], data["notice"], data["receipt_id"])
            if data["notice"] == "publication":  # accepted after it was withdrawn or ended here
                due = (data.get("withdrawal_deadline") or {}).get("due_on")
                _change(rows, data, published_on=data["notified_on"], withdrawal_due_on=due)
        elif event.type == types.DISCLOSURE_DEADLINE_MISSED and data["deadline"]["name"] == "publication":
            _change(rows, {"publication_id": str(event.aggregate_id)}, publish_deadline_missed=True)


def _publication_of(event: ConsumedEvent) -> str:
    return str(event.data.get("publication_id") or event.aggregate_id)


def _prepared(rows: BatchRows, event: ConsumedEvent) -> None:
    data = event.data
    item, period = data["item"], data["period"]
    _create_once(
        rows,
        {
            "publication_id": data["publication_id"],
            "case_id": data["case_id"],
            "agency_code": item["deciding_agency_code"],
            "decision_number": data["decision_number"],
            "respondent": data["respondent"],
            "tier": data["tier"],
            "state": "pending",
            "reason": None,
            "party_name": item["party_name"],
            "party_category": item["party_category"],
            "decided_on": item["decision_date"],
            "publish_by": data["publish_by"],
            "publish_deadline_missed": False,
            "publication_end": data["publication_end"],
            "repair_from": period["repair_from"],
            "repair_status": "none",
            "replaces": data.get("replaces"),
            "notified": {},
            "recorded_at": datetime.now(UTC),
        },
    )


def _withheld(rows: BatchRows, event: ConsumedEvent) -> None:
    data = event.data
    _create_once(
        rows,
        {
            "publication_id": data["publication_id"],
            "case_id": data["case_id"],
            "agency_code": data["actor"]["agency_code"],
            "decision_number": data["decision_number"],
            "respondent": data["respondent"],
            "tier": data["tier"],
            "state": "withheld",
            "reason": data["reason"],
            "decided_on": data["decided_on"],
            "publish_deadline_missed": False,
            "repair_status": "none",
            "notified": {},
            "recorded_at": datetime.now(UTC),
        },
    )


def _published(rows: BatchRows, event: ConsumedEvent) -> None:
    data = event.data
    # The agency's site shows the unit's code as the agency's rule says (Credit China has it whole).
    item = dict(data["item"])
    if "shown_party_code" in data:
        item["party_code"] = data["shown_party_code"]
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


def _create_once(rows: BatchRows, values: dict[str, Any]) -> None:
    """The row a creation event makes; one there already (and what later events changed
    in it) stays as it is."""
    if rows.get(publications, values["publication_id"]) is None:
        rows.put(publications, values)


def _change(rows: BatchRows, data: dict[str, Any], **values: Any) -> None:
    row = rows.get(publications, data["publication_id"])
    if row is not None:  # its creation comes first on the case's partition
        rows.change(publications, row, **values)


def _notified(rows: BatchRows, publication_id: str, notice: str, receipt_id: str) -> None:
    row = rows.get(publications, publication_id)
    if row is not None:
        rows.change(publications, row, notified={**(row["notified"] or {}), notice: receipt_id})


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


def publication_row(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry["recorded_at"] = utc(entry["recorded_at"])
    today = today_in_china().isoformat()
    entry["overdue"] = entry["state"] == "pending" and bool(entry["publish_by"]) and entry["publish_by"] < today
    entry["decision_kind"] = "other" if entry["tier"] == "none" else "penalty"  # only other decisions have no tier
    # Pushed after its publish-by day, whether or not the scheduler saw it missed first.
    entry["published_late"] = bool(entry["published_on"] and entry["publish_by"]) and (
        entry["published_on"] > entry["publish_by"]
    )
    return entry


async def agency_publications_page(
    db: AsyncEngine, *, agency_code: str, state: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The caller's agency's publications (and withheld decisions), by state, one page.
    ``overdue``: pending past its publish-by day (China time), whether or not the
    scheduler has recorded the missed deadline yet."""
    query = select(publications).where(publications.c.agency_code == agency_code)
    today = today_in_china().isoformat()
    if state == "overdue":
        query = query.where(and_(publications.c.state == "pending", publications.c.publish_by < today))
    elif state is not None:
        query = query.where(publications.c.state == state)
    rows, next_cursor = await keyset_page(
        db, query, publications.c.recorded_at, publications.c.publication_id, limit, cursor
    )
    return {"items": [publication_row(r) for r in rows], "next_cursor": next_cursor}


async def agency_publication(db: AsyncEngine, agency_code: str, publication_id: UUID) -> dict[str, Any]:
    """One of the agency's publications (another agency's is not found)."""
    row = await one_or_not_found(
        db,
        select(publications).where(
            publications.c.publication_id == str(publication_id), publications.c.agency_code == agency_code
        ),
        f"publication {publication_id} of your agency (yet)",
    )
    return publication_row(row)
