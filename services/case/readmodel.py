"""Case ledger (案件台账): one row per case, fed from Kafka, never from the event store, and
the queries the API answers from it.

It also shows each case's referral (移送) and publication (公示) status, learnt from the
referral and disclosure services' events on the same topic.
"""

from __future__ import annotations

from collections.abc import Callable
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
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.access.policy import jurisdiction_clause, reads_personal_data
from services.case.personal_data import lookup_code
from services.common import event_types as types
from services.common.personal_data import party_as_shown
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.deadline_rows import SHOWN, DeadlineRows
from services.infra.identity import Principal
from services.infra.pagination import keyset_page
from services.infra.sql import one_or_not_found
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

# A case's deadlines (the decision deadline, ...): open until the step is taken.
case_deadlines = Table(
    "case_deadlines",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("due_on", String(10), nullable=False, index=True),
    Column("rule_id", String(120), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("provisional", Boolean, nullable=False),
    Column("open", Boolean, nullable=False, index=True),
    Column("approaching_recorded", Boolean, nullable=False),
    Column("missed_recorded", Boolean, nullable=False),
    Column("extended", Boolean, nullable=False),
)
DEADLINES = DeadlineRows(case_deadlines, "case_id", (*SHOWN, "approaching_recorded", "missed_recorded", "extended"))


def _decision_deadline(data: dict[str, Any]) -> dict[str, Any]:
    """The filed event's decision deadline (events before it was recorded: the date alone)."""
    recorded = data.get("decision_deadline")
    if recorded:
        return dict(recorded)
    return {"name": "decision", "rule_id": "case.decision_due", "rule_version": 1, "due_on": data["decision_due"]} | {
        "provisional": False
    }


# How each deadline event changes the deadline's row.
_DEADLINE_CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    types.CASE_DEADLINE_APPROACHING: lambda _data: {"approaching_recorded": True},
    types.CASE_DEADLINE_MISSED: lambda _data: {"missed_recorded": True},
    types.CASE_DEADLINE_EXTENDED: lambda data: {
        "due_on": data["deadline"]["due_on"],
        "extended": True,
        "approaching_recorded": False,
        "missed_recorded": False,
    },
}

# What each event the ledger shows changes in a case's row (case.filed inserts it).
_CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    types.CASE_LEGAL_REVIEW_RECORDED: lambda data: {
        "status": "review_passed" if data["outcome"] == "passed" else "review_returned",
        "review_outcome": data["outcome"],
    },
    types.CASE_PENALTY_DECIDED: lambda data: {
        "status": "decided",
        "decision_number": data["decision_number"],
        "decided_on": data["decided_on"],
        "penalties": data["penalties"],
        "fine_total_yuan": data["fine_total_yuan"],
    },
    types.CASE_DEADLINE_APPROACHING: lambda _data: {},
    types.CASE_DEADLINE_MISSED: lambda _data: {},
    types.CASE_DEADLINE_EXTENDED: lambda data: (
        {"decision_due": data["deadline"]["due_on"]} if data["deadline"]["name"] == "decision" else {}
    ),
    types.REFERRAL_REFERRED: lambda data: {"referral_status": "referred", "referral_organ": data["receiving_organ"]},
    types.DISCLOSURE_PUBLICATION_PREPARED: lambda _data: {"publication_status": "pending"},
    types.DISCLOSURE_PUBLISHED: lambda data: {"publication_status": "published", "published_on": data["published_on"]},
}


class CaseLedgerProjection:
    name = "case-ledger"
    metadata = metadata
    handles = frozenset({types.CASE_FILED, *_CHANGES})

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
        if event.type == types.CASE_FILED:
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
            deadline = _decision_deadline(data)
            await conn.execute(
                case_deadlines.insert().values(
                    case_id=case_id,
                    name=deadline["name"],
                    due_on=deadline["due_on"],
                    rule_id=deadline["rule_id"],
                    rule_version=deadline["rule_version"],
                    provisional=deadline["provisional"],
                    open=True,
                    approaching_recorded=False,
                    missed_recorded=False,
                    extended=False,
                )
            )
            return
        change = _CHANGES.get(event.type)
        if change is None:
            return  # an event type the ledger does not show
        changes = change(data)
        await _deadline_change(conn, event)
        if event.aggregate_id == case_id:  # the case's own events move its version
            changes["version"] = event.sequence
        await conn.execute(update(case_ledger).where(case_ledger.c.case_id == case_id).values(**changes, **common))


async def _deadline_change(conn: AsyncConnection, event: ConsumedEvent) -> None:
    where = case_deadlines.c.case_id == event.subject
    if event.type == types.CASE_PENALTY_DECIDED:  # the decision closes the decision deadline
        await conn.execute(update(case_deadlines).where(where, case_deadlines.c.name == "decision").values(open=False))
        return
    deadline_change = _DEADLINE_CHANGES.get(event.type)
    if deadline_change is not None:
        name = event.data["deadline"]["name"]
        await conn.execute(
            update(case_deadlines).where(where, case_deadlines.c.name == name).values(**deadline_change(event.data))
        )


# -- queries ------------------------------------------------------------------------------


def _entry(row: Any, cipher: FieldCipher, full_personal_data: bool, deadlines: list[Any]) -> dict[str, Any]:
    """A ledger row as the API shows it: personal data opened or masked by role, with
    its open deadlines (overdue: the due date has passed, China time)."""
    entry = dict(row._mapping)
    entry["deadlines"] = DEADLINES.shown_for(entry["case_id"], deadlines)
    entry["party"] = party_as_shown(entry["party"], cipher, full_personal_data)
    entry["party_code"] = entry["party"]["code"]
    entry["recorded_at"] = entry["recorded_at"].isoformat() if entry["recorded_at"] else None
    entry["updated_at"] = entry["updated_at"].isoformat() if entry["updated_at"] else None
    return entry


async def ledger_entry(db: AsyncEngine, cipher: FieldCipher, caller: Principal, case_id: UUID) -> dict[str, Any]:
    """A case's ledger entry, if it is in the caller's jurisdiction (and the ledger yet)."""
    row = await one_or_not_found(
        db,
        select(case_ledger).where(
            case_ledger.c.case_id == str(case_id),
            jurisdiction_clause(caller, case_ledger.c.agency_code, case_ledger.c.region_code),
        ),
        f"case {case_id} in the ledger (yet)",
    )
    return _entry(row, cipher, reads_personal_data(caller), await DEADLINES.open_for(db, [str(case_id)]))


async def ledger_page(
    db: AsyncEngine,
    cipher: FieldCipher,
    caller: Principal,
    *,
    status: str | None,
    agency_code: str | None,
    party_code: str | None,
    overdue: bool | None = None,
    due_before: date | None = None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The ledger in the caller's jurisdiction, filtered, one page."""
    query = select(case_ledger).where(jurisdiction_clause(caller, case_ledger.c.agency_code, case_ledger.c.region_code))
    if status:
        query = query.where(case_ledger.c.status == status)
    if agency_code:
        query = query.where(case_ledger.c.agency_code == agency_code)
    if party_code:
        # A person is found by the keyed digest of their ID number, an enterprise by its code.
        wanted = party_code.strip().upper()
        query = query.where(case_ledger.c.party_code.in_([wanted, cipher.digest(wanted)]))
    query = DEADLINES.filtered(query, case_ledger.c.case_id, overdue=overdue, due_before=due_before)
    rows, next_cursor = await keyset_page(db, query, case_ledger.c.recorded_at, case_ledger.c.case_id, limit, cursor)
    full = reads_personal_data(caller)
    deadlines = await DEADLINES.open_for(db, [r.case_id for r in rows])
    return {"items": [_entry(r, cipher, full, deadlines) for r in rows], "next_cursor": next_cursor}
