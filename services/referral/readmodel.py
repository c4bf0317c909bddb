"""The referral service's views, fed from Kafka: the cases it knows (it never reads the case
service's tables) and the referral tracker (移送台账); and the queries on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from services.access.policy import is_receiving_organ, jurisdiction_clause, reads_personal_data
from services.common import event_types as types
from services.common.personal_data import party_as_shown
from services.infra.batch_rows import BatchRows
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.deadline_rows import DeadlineRows
from services.infra.formats import utc
from services.infra.identity import Principal
from services.infra.migrations import Schema
from services.infra.pagination import keyset_page
from services.infra.projection import consumer_metadata
from services.infra.sql import one_or_not_found
from services.infra.telemetry import trace_id_of
from services.referral.domain import (
    FILING_DECISION_DEADLINE,
    OWED_BY,
    POLICE_FILING_DECISION_RULE,
    KnownCase,
    ReceivingOrgan,
)

metadata = MetaData()
# Its tables are made and changed only by the revisions in services/referral/migrations/.
SCHEMA = Schema("referral", (consumer_metadata, metadata), Path(__file__).with_name("migrations"))
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
# The referral tracker (移送台账): a row per referral, its current step, who owes the next
# one and since when, and what the yearly statistics count. ("referral_tracker" was the
# table before the lifecycle; this one is rebuilt from the topic under a new projection name.)
referral_tracker = Table(
    "referrals",
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
    Column("offence", String(120)),
    Column("suspected_offence", Text, nullable=False),
    Column("persons_referred", Integer, nullable=False),
    Column("materials", JSON, nullable=False),
    Column("status", String(30), nullable=False, index=True),
    Column("owed_by", String(30), index=True),
    Column("owed_since", String(40)),
    # The day the referral was opened (reported; before the lifecycle: referred).
    Column("opened_on", String(10), nullable=False, index=True),
    Column("reported_on", String(10)),
    Column("referred_on", String(10), index=True),
    Column("filing_decision_due", String(10)),
    Column("outcomes", JSON, nullable=False),
    Column("returned_reason", String(30)),
    Column("paid_fines_yuan", Integer, nullable=False),
    # What the yearly statistics count (0 or 1 each).
    Column("filed", Integer, nullable=False),
    Column("not_filed", Integer, nullable=False),
    Column("reconsidered", Integer, nullable=False),
    Column("supervised", Integer, nullable=False),
    Column("returned", Integer, nullable=False),
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


def _known(rows: BatchRows, event: ConsumedEvent, now: datetime) -> None:
    data = event.data
    rows.put(
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
    )


def _decided(rows: BatchRows, event: ConsumedEvent, now: datetime) -> None:
    case = rows.get(known_cases, event.subject)
    if case is not None:
        rows.change(
            known_cases, case, case_status="decided", decision_number=event.data["decision_number"], updated_at=now
        )


def _open_deadlines(rows: BatchRows, referral_id: str, deadlines: list[dict[str, Any]]) -> None:
    for deadline in deadlines:
        rows.put(
            referral_deadlines,
            {
                "referral_id": referral_id,
                "name": deadline["name"],
                "due_on": deadline["due_on"],
                "rule_id": deadline["rule_id"],
                "rule_version": deadline["rule_version"],
                "provisional": deadline["provisional"],
                "open": True,
            },
        )


def _tracked(rows: BatchRows, event: ConsumedEvent, now: datetime) -> None:
    """A new referral: reported (the lifecycle), or referred in one step (events before it)."""
    data = event.data
    reported = event.type == types.REFERRAL_REPORTED
    status = "reported" if reported else "received"
    opened_on = data["reported_on"] if reported else data["referred_on"]
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
        "offence": data["offence"]["rule_id"] if reported else None,
        "suspected_offence": data["suspected_offence"],
        "persons_referred": data.get("persons_referred", 1),
        "materials": data["materials"],
        "status": status,
        "owed_by": OWED_BY[status],
        "owed_since": event.time,
        "opened_on": opened_on,
        "reported_on": data.get("reported_on"),
        "referred_on": None if reported else data["referred_on"],
        "filing_decision_due": None if reported else data["filing_decision_due"],
        "outcomes": [],
        "returned_reason": None,
        "paid_fines_yuan": 0,
        "filed": 0,
        "not_filed": 0,
        "reconsidered": 0,
        "supervised": 0,
        "returned": 0,
        "trace_id": trace_id_of(event.traceparent) or None,
        "recorded_at": now,
        "updated_at": now,
    }
    rows.put(referral_tracker, row)
    _open_deadlines(rows, event.aggregate_id, _recorded_deadlines(data))


def _step_changes(event: ConsumedEvent, row: dict[str, Any]) -> dict[str, Any]:
    """What a step changes in its tracker row besides the step, who owes the next and
    since when: the dates, the outcomes and the statistics' counts."""
    data, kind = event.data, event.type
    if kind == types.REFERRAL_DISPATCHED:
        return {"referred_on": data["dispatched_at"][:10]}
    if kind == types.REFERRAL_FILING_DECIDED or kind == types.REFERRAL_RECONSIDERATION_ANSWERED:
        filed = data["outcome"] == "filed"
        return {"filed": 1} if filed else {"not_filed": 1} if kind == types.REFERRAL_FILING_DECIDED else {}
    if kind == types.REFERRAL_RECONSIDERATION_REQUESTED:
        return {"reconsidered": 1}
    if kind == types.REFERRAL_SUPERVISED:
        return {"supervised": 1}
    if kind == types.REFERRAL_OUTCOME_RECORDED:
        return {"outcomes": [*row["outcomes"], data["outcome"]]}
    if kind == types.REFERRAL_RETURNED:
        return {"returned": 1, "returned_reason": data["reason"]}
    if kind == types.REFERRAL_PAID_FINE_RECORDED:
        return {"paid_fines_yuan": row["paid_fines_yuan"] + data["amount_yuan"]}
    return {}


def _stepped(rows: BatchRows, event: ConsumedEvent, now: datetime) -> None:
    data, referral_id = event.data, event.aggregate_id
    row = rows.get(referral_tracker, referral_id)
    if row is None:  # its creation comes first on the case's partition: never happens
        return
    changes: dict[str, Any] = {
        "status": data["status"],
        "owed_by": data["owed_by"],
        "owed_since": event.time,
        "updated_at": now,
        **_step_changes(event, row),
    }
    for deadline in data["deadlines"]:
        if deadline["name"] == FILING_DECISION_DEADLINE:
            changes["filing_decision_due"] = deadline["due_on"]
    rows.change(referral_tracker, row, **changes)
    closed = [d for d in rows.of(referral_deadlines, referral_id) if d["name"] in data["closed_deadlines"]]
    rows.change_all(referral_deadlines, closed, open=False)
    _open_deadlines(rows, referral_id, data["deadlines"])


STEPS = (
    types.REFERRAL_HEAD_DECIDED,
    types.REFERRAL_DISPATCHED,
    types.REFERRAL_RECEIVED,
    types.REFERRAL_FILING_DECIDED,
    types.REFERRAL_RECONSIDERATION_REQUESTED,
    types.REFERRAL_RECONSIDERATION_ANSWERED,
    types.REFERRAL_SUPERVISED,
    types.REFERRAL_HANDED_OVER,
    types.REFERRAL_OUTCOME_RECORDED,
    types.REFERRAL_RETURNED,
    types.REFERRAL_PAID_FINE_RECORDED,
)
_APPLY: dict[str, Callable[[BatchRows, ConsumedEvent, datetime], None]] = {
    types.CASE_FILED: _known,
    types.CASE_PENALTY_DECIDED: _decided,
    types.REFERRAL_REFERRED: _tracked,
    types.REFERRAL_REPORTED: _tracked,
    **dict.fromkeys(STEPS, _stepped),
}


_OF_A_KNOWN_CASE = frozenset({types.CASE_FILED, types.CASE_PENALTY_DECIDED})


class ReferralViewsProjection:
    # "-v2": the tracker of the lifecycle, built afresh from the topic (the name keeps its offsets).
    name = "referral-views-v2"
    # Bump when what the tables show changes: they are emptied and rebuilt from the topic.
    schema_version = 1
    rebuilt_tables = ("known_cases", "referrals", "referral_deadlines")
    metadata = metadata
    handles = frozenset(_APPLY)

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        """The cases of the batch's case events, the referrals of its referral events."""
        await rows.load_keys(known_cases, "case_id", {e.subject for e in events if e.type in _OF_A_KNOWN_CASE})
        referrals = {e.aggregate_id for e in events if e.type not in _OF_A_KNOWN_CASE}
        for table in (referral_tracker, referral_deadlines):
            await rows.load_keys(table, "referral_id", referrals)

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        apply = _APPLY.get(event.type)
        if apply is not None:
            apply(rows, event, datetime.now(UTC))


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
    entry["recorded_at"] = utc(entry["recorded_at"])
    entry["updated_at"] = utc(entry["updated_at"])
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
    organ_code: str | None = None,
    owed_by: str | None = None,
    opened_from: date | None = None,
    opened_to: date | None = None,
    overdue: bool | None = None,
    due_before: date | None = None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    c = referral_tracker.c
    query = select(referral_tracker).where(_visible(caller))
    for column, value in (
        (c.status, status),
        (c.receiving_organ, receiving_organ),
        (c.case_id, str(case_id) if case_id else None),
        (c.organ_code, organ_code),
        (c.owed_by, owed_by),
    ):
        if value:
            query = query.where(column == value)
    if opened_from:
        query = query.where(c.opened_on >= opened_from.isoformat())
    if opened_to:
        query = query.where(c.opened_on <= opened_to.isoformat())
    query = DEADLINES.filtered(query, c.referral_id, overdue=overdue, due_before=due_before)
    rows, next_cursor = await keyset_page(db, query, c.recorded_at, c.referral_id, limit, cursor)
    full = reads_personal_data(caller)
    deadlines = await DEADLINES.open_for(db, [r.referral_id for r in rows])
    return {"items": [_tracker_row(r, cipher, full, deadlines) for r in rows], "next_cursor": next_cursor}


COUNTED = ("filed", "not_filed", "reconsidered", "supervised", "returned")


async def statistics(db: AsyncEngine, caller: Principal, year: int) -> dict[str, Any]:
    """行刑衔接 yearly joint figures per agency, of the referrals dispatched in ``year``, for
    the agencies in the caller's jurisdiction: referred cases and persons, filed, not filed,
    reconsidered, supervised, arrested, prosecuted, judged, returned."""
    c = referral_tracker.c
    query = (
        select(c.agency_code, c.agency_name, c.region_code, c.persons_referred, c.outcomes, *(c[n] for n in COUNTED))
        .where(
            jurisdiction_clause(caller, c.agency_code, c.region_code),
            c.referred_on >= f"{year:04d}-01-01",
            c.referred_on <= f"{year:04d}-12-31",
        )
        .order_by(c.region_code, c.agency_code)
    )
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    figures: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = figures.setdefault(
            row.agency_code,
            {
                "agency_code": row.agency_code,
                "agency_name": row.agency_name,
                "region_code": row.region_code,
                "referred_cases": 0,
                "referred_persons": 0,
                **dict.fromkeys(COUNTED, 0),
                **dict.fromkeys(("arrested", "prosecuted", "judged"), 0),
            },
        )
        entry["referred_cases"] += 1
        entry["referred_persons"] += row.persons_referred
        for name in COUNTED:
            entry[name] += getattr(row, name)
        entry["arrested"] += "arrested" in row.outcomes
        entry["prosecuted"] += "prosecuted" in row.outcomes
        # A court's exemption from criminal punishment (免予刑事处罚) is a judgment too.
        entry["judged"] += bool({"judged", "exempted"} & set(row.outcomes))
    return {"year": year, "items": list(figures.values())}
