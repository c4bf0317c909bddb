"""The referral service's views, fed from Kafka: the cases it knows (it never reads the case
service's tables) and the referral tracker (移送台账); and the queries on them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
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
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.access.policy import is_receiving_organ, jurisdiction_clause, reads_personal_data
from services.common import event_types as types
from services.common.personal_data import party_as_shown
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.deadline_rows import DeadlineRows
from services.infra.identity import Principal
from services.infra.pagination import keyset_page
from services.infra.sql import one_or_not_found, upsert
from services.infra.telemetry import trace_id_of
from services.referral.domain import FILING_DECISION_DEADLINE, POLICE_FILING_DECISION_RULE, KnownCase, ReceivingOrgan

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

# A referral's deadlines (the police's filing decision, ...): open until the step is taken
# (the police's answer is not recorded yet, so they stay open).
referral_deadlines = Table(
    "referral_deadlines",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("due_on", String(10), nullable=False, index=True),
    Column("rule_id", String(120), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("provisional", Boolean, nullable=False),
    Column("open", Boolean, nullable=False, index=True),
)
DEADLINES = DeadlineRows(referral_deadlines, "referral_id")


def _recorded_deadlines(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The referred event's deadlines (events before they were recorded: the date alone,
    under the only version of the rule, as the domain's upcast says)."""
    recorded = data.get("deadlines")
    if recorded is not None:
        return list(recorded)
    return [
        {
            "name": FILING_DECISION_DEADLINE,
            "rule_id": POLICE_FILING_DECISION_RULE,
            "rule_version": 1,
            "due_on": data["filing_decision_due"],
            "provisional": False,
        }
    ]


async def _known(conn: AsyncConnection, event: ConsumedEvent, now: datetime) -> None:
    data = event.data
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
            conn.dialect.name,
        )
    )


async def _decided(conn: AsyncConnection, event: ConsumedEvent, now: datetime) -> None:
    await conn.execute(
        update(known_cases)
        .where(known_cases.c.case_id == event.subject)
        .values(case_status="decided", decision_number=event.data["decision_number"], updated_at=now)
    )


async def _tracked(conn: AsyncConnection, event: ConsumedEvent, now: datetime) -> None:
    data = event.data
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
    await conn.execute(upsert(referral_tracker, row, ("referral_id",), conn.dialect.name))
    for deadline in _recorded_deadlines(data):
        deadline_row = {
            "referral_id": event.aggregate_id,
            "name": deadline["name"],
            "due_on": deadline["due_on"],
            "rule_id": deadline["rule_id"],
            "rule_version": deadline["rule_version"],
            "provisional": deadline["provisional"],
            "open": True,
        }
        await conn.execute(upsert(referral_deadlines, deadline_row, ("referral_id", "name"), conn.dialect.name))


_APPLY: dict[str, Callable[[AsyncConnection, ConsumedEvent, datetime], Awaitable[None]]] = {
    types.CASE_FILED: _known,
    types.CASE_PENALTY_DECIDED: _decided,
    types.REFERRAL_REFERRED: _tracked,
}


class ReferralViewsProjection:
    name = "referral-views"
    metadata = metadata
    handles = frozenset(_APPLY)

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        apply = _APPLY.get(event.type)
        if apply is not None:
            await apply(conn, event, datetime.now(UTC))


# -- queries ------------------------------------------------------------------------------


async def known_case(db: AsyncEngine, case_id: UUID) -> KnownCase | None:
    """What the service knows of a case, or None (not learnt from the topic yet)."""
    async with db.connect() as conn:
        row = (await conn.execute(select(known_cases).where(known_cases.c.case_id == str(case_id)))).first()
    if row is None:
        return None
    return KnownCase(
        case_id=row.case_id,
        agency_code=row.agency_code,
        agency_name=row.agency_name,
        region_code=row.region_code,
        party=row.party,
    )


def _visible(caller: Principal) -> Any:
    """Receiving organs see the referrals addressed (or copied) to them; agencies see
    the referrals of cases in their jurisdiction."""
    if is_receiving_organ(caller):
        return or_(
            referral_tracker.c.organ_code == caller.agency_code, referral_tracker.c.copy_to_code == caller.agency_code
        )
    return jurisdiction_clause(caller, referral_tracker.c.agency_code, referral_tracker.c.region_code)


def _tracker_row(row: Any, cipher: FieldCipher, full_personal_data: bool, deadlines: list[Any]) -> dict[str, Any]:
    """A tracker row as the API shows it, with its open deadlines (overdue: the due date
    has passed, China time)."""
    entry = dict(row._mapping)
    entry["deadlines"] = DEADLINES.shown_for(entry["referral_id"], deadlines)
    entry["party"] = party_as_shown(entry["party"], cipher, full_personal_data)
    entry["recorded_at"] = entry["recorded_at"].isoformat()
    entry["updated_at"] = entry["updated_at"].isoformat()
    return entry


async def referral(db: AsyncEngine, cipher: FieldCipher, caller: Principal, referral_id: UUID) -> dict[str, Any]:
    row = await one_or_not_found(
        db,
        select(referral_tracker).where(referral_tracker.c.referral_id == str(referral_id), _visible(caller)),
        f"referral {referral_id} in the tracker (yet)",
    )
    return _tracker_row(row, cipher, reads_personal_data(caller), await DEADLINES.open_for(db, [str(referral_id)]))


async def referral_page(
    db: AsyncEngine,
    cipher: FieldCipher,
    caller: Principal,
    *,
    status: str | None,
    receiving_organ: ReceivingOrgan | None,
    case_id: UUID | None,
    overdue: bool | None = None,
    due_before: date | None = None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    query = select(referral_tracker).where(_visible(caller))
    if status:
        query = query.where(referral_tracker.c.status == status)
    if receiving_organ:
        query = query.where(referral_tracker.c.receiving_organ == receiving_organ)
    if case_id:
        query = query.where(referral_tracker.c.case_id == str(case_id))
    query = DEADLINES.filtered(query, referral_tracker.c.referral_id, overdue=overdue, due_before=due_before)
    rows, next_cursor = await keyset_page(
        db, query, referral_tracker.c.recorded_at, referral_tracker.c.referral_id, limit, cursor
    )
    full = reads_personal_data(caller)
    deadlines = await DEADLINES.open_for(db, [r.referral_id for r in rows])
    return {"items": [_tracker_row(r, cipher, full, deadlines) for r in rows], "next_cursor": next_cursor}
