"""Case ledger (案件台账): one row per case, fed from Kafka, never from the event store, and
the queries the API answers from it.

It also shows each case's referral (移送) and publication (公示) status, learnt from the
referral and disclosure services' events on the same topic, and keeps the case's one
history across services (``case_timeline``): every case, referral and disclosure event
of the case in the order the topic delivered them, which is their causal order (a case's
events are on one partition, and the referral and disclosure relays publish after the
case relay, services/infra/topic.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    exists,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from services.access.policy import jurisdiction_clause, jurisdiction_prefix, reads_personal_data
from services.case.domain import BEFORE_DECISION, accrued_surcharge_fen, allowed_actions, case_status
from services.case.personal_data import lookup_code
from services.common import event_types as types
from services.common.personal_data import event_data_as_shown, party_as_shown
from services.infra.batch_rows import BatchRows
from services.infra.clock import today_in_china
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.deadline_rows import SHOWN, DeadlineRows
from services.infra.formats import utc
from services.infra.identity import Principal
from services.infra.migrations import Schema
from services.infra.pagination import keyset_page, position_after
from services.infra.projection import consumer_metadata
from services.infra.sql import one_or_not_found
from services.infra.telemetry import trace_id_of

metadata = MetaData()
# Its tables are made and changed only by the revisions in services/case/migrations/.
SCHEMA = Schema("case", (consumer_metadata, metadata), Path(__file__).with_name("migrations"))
case_ledger = Table(
    "case_ledger",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("agency_code", String(18), nullable=False),
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
    Column("status", String(30), nullable=False),
    # 普通程序 or 简易程序; dismissed or suspended (the status whatever the tracks).
    Column("procedure", String(20), nullable=False, default="ordinary"),
    Column("ended_as", String(20)),
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
    # 结案 and 归档 (issue 12).
    Column("closed_on", String(10)),
    Column("archived_on", String(10)),
    Column("last_event_type", String(120), nullable=False),
    Column("last_event_id", String(36), nullable=False),
    Column("trace_id", String(32)),
    # Record time: when the ledger learnt of the case and of its latest change.
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # GET /v1/cases pages in record time then case id (services/infra/pagination.py): each
    # index gives a page's rows in that order, from the cursor on, the whole ledger's or
    # one status's or one agency's, so a page reads about its own rows (README, Performance).
    Index("ix_case_ledger_recorded_at_case_id", "recorded_at", "case_id"),
    Index("ix_case_ledger_status_recorded_at", "status", "recorded_at", "case_id"),
    Index("ix_case_ledger_agency_code_recorded_at", "agency_code", "recorded_at", "case_id"),
)

# A case's history across services, in the order applied (= the topic's order for the case).
case_timeline = Table(
    "case_timeline",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(120), nullable=False),
    Column("source", String(120), nullable=False),
    Column("time", String(40), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("trace_id", String(32)),
    # The event's data as published: personal data sealed, as in the ledger's party.
    Column("data", JSON, nullable=False),
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
# A case's respondents (当事人, 一案双罚), each with its track: state, the penalty intended
# (prior notice) and decided, the periods running for it, its decision number and its
# publication.
case_respondents = Table(
    "case_respondents",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("party_kind", String(20), nullable=False),
    Column("party_name", String(200), nullable=False),
    # An enterprise's code, or a keyed digest of a person's ID number (personal_data.py).
    Column("party_code", String(60), nullable=False, index=True),
    Column("party", JSON, nullable=False),
    Column("state", String(30), nullable=False),
    Column("intended_penalties", JSON),
    Column("intended_fine_yuan", Integer),
    Column("notified_on", String(10)),
    Column("statement_until", String(10)),
    Column("hearing_request_until", String(10)),
    Column("hearing_on", String(10)),
    Column("decision_number", String(60), index=True),
    Column("decided_on", String(10), index=True),
    Column("penalties", JSON),
    Column("fine_total_yuan", Integer),
    Column("no_penalty_ground", String(30)),
    Column("publication_status", String(30), nullable=False),
    Column("published_on", String(10)),
    # After the decision (issue 12): service, the payment period and the surcharge rule,
    # what was paid (fen) and when the fine was paid off (the surcharge stops), what the
    # court recovered, the remedy's and the enforcement's status, the last correction.
    Column("service_method", String(20)),
    Column("served_on", String(10)),
    Column("payment_due", String(10)),
    Column("surcharge", JSON),
    Column("paid_fen", BigInteger),
    Column("fine_paid_off_on", String(10)),
    Column("recovered_fen", BigInteger),
    Column("remedy_status", String(40), index=True),
    Column("enforcement_status", String(20), index=True),
    Column("correction", String(20)),
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


def _decided_case_row(data: dict[str, Any]) -> dict[str, Any]:
    """The case row keeps the first respondent's decision (every one is in case_respondents)."""
    if data.get("respondent", 1) != 1:
        return {}
    return {
        "decision_number": data["decision_number"],
        "decided_on": data["decided_on"],
        "penalties": data["penalties"],
        "fine_total_yuan": data["fine_total_yuan"],
    }


# What each event the ledger shows changes in a case's row (case.filed inserts it).
_CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    types.CASE_LEGAL_REVIEW_RECORDED: lambda data: {"review_outcome": data["outcome"]},
    types.CASE_PENALTY_DECIDED: _decided_case_row,
    types.CASE_DISMISSED: lambda _data: {"ended_as": "dismissed"},
    types.CASE_SUSPENDED_FOR_REFERRAL: lambda data: {"ended_as": "suspended"} if data["suspended"] else {},
    types.CASE_RESUMED_AFTER_REFERRAL: lambda data: {"ended_as": None} if data["resumed"] else {},
    types.CASE_DEADLINE_APPROACHING: lambda _data: {},
    types.CASE_DEADLINE_MISSED: lambda _data: {},
    types.CASE_DEADLINE_EXTENDED: lambda data: (
        {"decision_due": data["deadline"]["due_on"]} if data["deadline"]["name"] == "decision" else {}
    ),
    types.REFERRAL_REFERRED: lambda data: {"referral_status": "referred", "referral_organ": data["receiving_organ"]},
    # The referral lifecycle: the file went to the organ; the case came back (反向衔接). The
    # case procedure resumes from referral.returned.v1 (issue 11); the ledger shows it.
    types.REFERRAL_DISPATCHED: lambda data: {"referral_status": "referred", "referral_organ": data["receiving_organ"]},
    types.REFERRAL_RETURNED: lambda _data: {"referral_status": "returned"},
    types.DISCLOSURE_PUBLICATION_PREPARED: lambda _data: {"publication_status": "pending"},
    types.DISCLOSURE_PUBLISHED: lambda data: {"publication_status": "published", "published_on": data["published_on"]},
    # The publication lifecycle (issue 14): its last step, like the two above.
    types.DISCLOSURE_PUBLICATION_WITHHELD: lambda _data: {"publication_status": "withheld"},
    types.DISCLOSURE_WITHDRAWN: lambda _data: {"publication_status": "withdrawn"},
    types.DISCLOSURE_ENDED: lambda _data: {"publication_status": "ended"},
    types.DISCLOSURE_REPAIR_GRANTED: lambda _data: {"publication_status": "repaired"},
    types.CASE_CLOSED: lambda data: {"ended_as": "closed", "closed_on": data["closed_on"]},
    types.CASE_CONCLUDED_BY_REFERRAL: lambda data: {"ended_as": None} if data["resumed"] else {},
    types.CASE_ARCHIVED: lambda data: {"ended_as": "archived", "archived_on": data["archived_on"]},
}
for _type in (
    types.CASE_SERVICE_CONSENT_RECORDED,
    types.CASE_DECISION_SERVED,
    types.CASE_PAYMENT_ARRANGED,
    types.CASE_PAYMENT_RECORDED,
    types.CASE_REMEDY_FILED,
    types.CASE_REMEDY_DECIDED,
    types.CASE_DECISION_CORRECTED,
    types.CASE_REMINDER_SERVED,
    types.CASE_COURT_APPLIED,
    types.CASE_COURT_RULED,
    types.CASE_ANNOTATED,
    types.CASE_EVIDENCE_RECORDED,
    types.CASE_INQUIRY_RECORDED,
    types.CASE_MEASURE_TAKEN,
    types.CASE_MEASURE_EXTENDED,
    types.CASE_MEASURE_CONCLUDED,
    types.CASE_COLLECTIVE_DISCUSSION_RECORDED,
    types.CASE_PRIOR_NOTICE_SERVED,
    types.CASE_STATEMENT_RECORDED,
    types.CASE_HEARING_REQUESTED,
    types.CASE_HEARING_SCHEDULED,
    types.CASE_HEARING_HELD,
    types.CASE_NOT_PENALISED,
    types.CASE_REPORTED_TO_AGENCY,
):
    _CHANGES[_type] = lambda _data: {}

# What each event of a respondent's track changes in its row.
_RESPONDENT_CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    types.CASE_PRIOR_NOTICE_SERVED: lambda data: {
        "state": "notified",
        "intended_penalties": data["intended_penalties"],
        "intended_fine_yuan": data["intended_fine_yuan"],
        "notified_on": data["notified_on"],
        "statement_until": data["statement_deadline"]["due_on"],
        "hearing_request_until": (data["hearing_request_deadline"] or {}).get("due_on"),
    },
    types.CASE_HEARING_REQUESTED: lambda _data: {"state": "hearing_requested"},
    types.CASE_HEARING_SCHEDULED: lambda data: {"state": "hearing_scheduled", "hearing_on": data["hearing_on"]},
    types.CASE_HEARING_HELD: lambda data: {"state": "heard", "hearing_on": data["held_on"]},
    types.CASE_PENALTY_DECIDED: lambda data: {
        "state": "decided",
        "decision_number": data["decision_number"],
        "decided_on": data["decided_on"],
        "penalties": data["penalties"],
        "fine_total_yuan": data["fine_total_yuan"],
    },
    types.CASE_NOT_PENALISED: lambda data: {
        "state": "not_penalised",
        "decided_on": data["decided_on"],
        "no_penalty_ground": data["ground"],
    },
    # After the decision (issue 12); payments and corrections are computed on the row
    # (_AMOUNT_CHANGES).
    types.CASE_DECISION_SERVED: lambda data: {
        "state": "served" if data["payment_deadline"] else "performed",
        "service_method": data["method"],
        "served_on": data["served_on"],
        "payment_due": (data["payment_deadline"] or {}).get("due_on"),
        "surcharge": data["surcharge"],
        "paid_fen": 0,
        "recovered_fen": 0,
        "remedy_status": "none",
        "enforcement_status": "none",
    },
    types.CASE_PAYMENT_ARRANGED: lambda data: {
        "payment_due": data["payment_deadline"]["due_on"],
        "surcharge": data["surcharge"],
    },
    types.CASE_REMEDY_FILED: lambda data: {"remedy_status": f"{data['kind']}_pending"},
    types.CASE_REMEDY_DECIDED: lambda data: {"remedy_status": f"{data['kind']}_{data['outcome']}"},
    types.CASE_REMINDER_SERVED: lambda _data: {"state": "reminded", "enforcement_status": "reminded"},
    types.CASE_COURT_APPLIED: lambda _data: {"state": "enforcement_applied", "enforcement_status": "applied"},
    types.CASE_COURT_RULED: lambda data: {
        "state": "enforced" if data["ruling"] == "granted" else "enforcement_refused",
        "enforcement_status": data["ruling"],
        "recovered_fen": data["recovered_fen"],
    },
}


def _payment(row: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A payment: what was paid, the day the fine was paid off, paid when nothing is outstanding."""
    paid = (row["paid_fen"] or 0) + data["amount_fen"]
    changes: dict[str, Any] = {"paid_fen": paid}
    if row["fine_paid_off_on"] is None and paid >= (row["fine_total_yuan"] or 0) * 100:
        changes["fine_paid_off_on"] = data["paid_on"]
    if data["outstanding_fen"] == 0:
        changes["state"] = "paid"
    return changes


def _correction(row: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A decision revoked, void, confirmed illegal, or changed (its new fine): as the case applies it."""
    changes: dict[str, Any] = {
        "correction": data["correction"],
        "penalties": data["penalties"],
        "fine_total_yuan": data["fine_total_yuan"],
    }
    if data["correction"] in ("revoked", "void"):
        changes["state"] = "revoked"
        return changes
    fine_fen = data["fine_total_yuan"] * 100
    paid = row["paid_fen"] or 0
    paid_off = row["fine_paid_off_on"] or (data["corrected_on"] if paid >= fine_fen else None)
    changes["fine_paid_off_on"] = paid_off
    if row["state"] in ("served", "reminded", "enforcement_applied"):
        as_of = date.fromisoformat(data["corrected_on"])
        surcharge = accrued_surcharge_fen(
            fine_fen, row["payment_due"], row["surcharge"], date.fromisoformat(paid_off) if paid_off else None, as_of
        )
        if fine_fen + surcharge - paid - (row["recovered_fen"] or 0) <= 0:
            changes["state"] = "paid"
    return changes


# Events whose change to a respondent's row depends on the row.
_AMOUNT_CHANGES: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    types.CASE_PAYMENT_RECORDED: _payment,
    types.CASE_DECISION_CORRECTED: _correction,
}
# A publication's events name the decision: its respondent's row shows it.
_PUBLICATION_CHANGES: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    types.DISCLOSURE_PUBLICATION_PREPARED: lambda data: (data["decision_number"], {"publication_status": "pending"}),
    types.DISCLOSURE_PUBLISHED: lambda data: (
        data["item"]["decision_number"],
        {"publication_status": "published", "published_on": data["published_on"]},
    ),
    # The publication lifecycle (issue 14); a changed decision's new publication follows.
    types.DISCLOSURE_PUBLICATION_WITHHELD: lambda data: (data["decision_number"], {"publication_status": "withheld"}),
    types.DISCLOSURE_WITHDRAWN: lambda data: (data["decision_number"], {"publication_status": "withdrawn"}),
    types.DISCLOSURE_ENDED: lambda data: (data["decision_number"], {"publication_status": "ended"}),
    types.DISCLOSURE_REPAIR_GRANTED: lambda data: (data["decision_number"], {"publication_status": "repaired"}),
}


def _respondents_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The filed event's respondents (events before respondents: the one party)."""
    return list(data.get("respondents") or [data["party"]])


class CaseLedgerProjection:
    name = "case-ledger"
    # Bump when what the tables show changes: they are emptied and rebuilt from the topic.
    # 2: respondents' tracks, the timeline, procedure and ended_as (issues 11 and 15).
    schema_version = 2
    rebuilt_tables = ("case_ledger", "case_deadlines", "case_respondents", "case_timeline")
    metadata = metadata
    # Every type of the topic: the ledger row changes for some, the timeline keeps them all.
    handles = frozenset({types.CASE_FILED, *_CHANGES, *types.ALL})

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        """The batch's cases: their rows, respondents and deadlines."""
        cases = {event.subject for event in events}
        for table in (case_ledger, case_respondents, case_deadlines):
            await rows.load_keys(table, "case_id", cases)

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        data = event.data
        case_id = event.subject
        now = datetime.now(UTC)
        common = {
            "last_event_type": event.type,
            "last_event_id": event.id,
            "trace_id": trace_id_of(event.traceparent) or None,
            "updated_at": now,
        }
        rows.append(
            case_timeline,
            {
                "case_id": case_id,
                "event_id": event.id,
                "type": event.type,
                "source": event.source,
                "time": event.time,
                "aggregate_id": event.aggregate_id or case_id,
                "sequence": event.sequence,
                "trace_id": common["trace_id"],
                "data": data,
            },
        )
        if event.type == types.CASE_FILED:
            self._filed(rows, event, common | {"recorded_at": now})
            return
        change = _CHANGES.get(event.type)
        case = rows.get(case_ledger, case_id)
        if change is None or case is None:
            return  # an event type the ledger does not show (or of a case it has not seen filed)
        changes = change(data)
        _respondent_change(rows, event)
        _deadline_change(rows, event)  # after: a payment's deadline closes when its row is paid
        if event.type in _RESPONDENT_CHANGES or event.type in _AMOUNT_CHANGES or event.type in _CHANGES_STATUS:
            changes["status"] = _status(rows, case, changes)
        if event.aggregate_id == case_id:  # the case's own events move its version
            changes["version"] = event.sequence
        rows.change(case_ledger, case, **changes, **common)

    def _filed(self, rows: BatchRows, event: ConsumedEvent, common: dict[str, Any]) -> None:
        data, case_id = event.data, event.subject
        rows.put(
            case_ledger,
            {
                "case_id": case_id,
                "agency_code": data["agency"]["code"],
                "agency_name": data["agency"]["name"],
                "region_code": data["agency"]["region_code"],
                "party_kind": data["party"]["kind"],
                "party_name": data["party"]["name"],
                "party_code": lookup_code(data["party"], self.cipher),
                "party": data["party"],
                "violation_summary": data["violation_summary"],
                "legal_basis": data["legal_basis"],
                "status": "filed",
                "procedure": data.get("procedure", "ordinary"),
                "version": event.sequence,
                "filed_on": data["filed_on"],
                "decision_due": data["decision_due"],
                "referral_status": "none",
                "publication_status": "none",
                **common,
            },
        )
        for number, party in enumerate(_respondents_of(data), start=1):
            rows.put(
                case_respondents,
                {
                    "case_id": case_id,
                    "number": number,
                    "party_kind": party["kind"],
                    "party_name": party["name"],
                    "party_code": lookup_code(party, self.cipher),
                    "party": party,
                    "state": "investigating",
                    "publication_status": "none",
                },
            )
        _open_deadline(rows, case_id, _decision_deadline(data))


# Events that end the case whatever its tracks.
_CHANGES_STATUS = frozenset(
    {
        types.CASE_DISMISSED,
        types.CASE_SUSPENDED_FOR_REFERRAL,
        types.CASE_RESUMED_AFTER_REFERRAL,
        types.CASE_CLOSED,
        types.CASE_ARCHIVED,
        types.CASE_CONCLUDED_BY_REFERRAL,
    }
)


def _respondent_change(rows: BatchRows, event: ConsumedEvent) -> None:
    case_id = event.subject
    respondent_change = _RESPONDENT_CHANGES.get(event.type)
    if respondent_change is not None:
        number = event.data.get("respondent", 1)
        rows.change_all(
            case_respondents, rows.of(case_respondents, case_id, number=number), **respondent_change(event.data)
        )
    if event.type == types.CASE_CONCLUDED_BY_REFERRAL:
        referred = [r for r in rows.of(case_respondents, case_id) if r["number"] in event.data["respondents"]]
        rows.change_all(case_respondents, referred, state="referred")
        rows.change_all(case_deadlines, rows.of(case_deadlines, case_id, name="decision"), open=False)
    amount_change = _AMOUNT_CHANGES.get(event.type)
    if amount_change is not None:
        for row in rows.of(case_respondents, case_id, number=event.data["respondent"]):
            rows.change(case_respondents, row, **amount_change(row, event.data))
    publication_change = _PUBLICATION_CHANGES.get(event.type)
    if publication_change is not None:
        number, changes = publication_change(event.data)
        rows.change_all(case_respondents, rows.of(case_respondents, case_id, decision_number=number), **changes)


def _status(rows: BatchRows, case: dict[str, Any], changes: dict[str, Any]) -> str:
    """The case's status from its respondents' rows, as the case computes it, with the
    ``ended_as`` the event sets (None when it resumes) or the row's."""
    states = [r["state"] for r in rows.of(case_respondents, case["case_id"])]
    ended_as = changes["ended_as"] if "ended_as" in changes else case["ended_as"]
    return case_status(states, ended_as)


def _open_deadline(rows: BatchRows, case_id: str, deadline: dict[str, Any]) -> None:
    """A deadline the case opened (the decision's at filing, a measure's), as its event recorded it."""
    rows.put(
        case_deadlines,
        {
            "case_id": case_id,
            "name": deadline["name"],
            "due_on": deadline["due_on"],
            "rule_id": deadline["rule_id"],
            "rule_version": deadline["rule_version"],
            "provisional": deadline["provisional"],
            "open": True,
            "approaching_recorded": False,
            "missed_recorded": False,
            "extended": False,
        },
    )


def _deadline_change(rows: BatchRows, event: ConsumedEvent) -> None:
    case_id = event.subject

    def named(name: str) -> list[dict[str, Any]]:
        return rows.of(case_deadlines, case_id, name=name)

    if event.type in _CLOSE_DECISION_DEADLINE:  # the case's end closes the decision deadline
        still_open = event.type != types.CASE_DISMISSED and _open_tracks(rows, event)
        if not still_open:
            rows.change_all(case_deadlines, named("decision"), open=False)
        return
    if event.type == types.CASE_MEASURE_TAKEN:
        _open_deadline(rows, case_id, event.data["deadline"])
        return
    if event.type in _TRACK_DEADLINES:
        _track_deadlines(rows, event)
        return
    if event.type in (types.CASE_MEASURE_EXTENDED, types.CASE_MEASURE_CONCLUDED):
        name = f"measure_{event.data['measure_no']}"
        changes: dict[str, Any] = (
            {
                "due_on": event.data["deadline"]["due_on"],
                "extended": True,
                "approaching_recorded": False,
                "missed_recorded": False,
            }
            if event.type == types.CASE_MEASURE_EXTENDED
            else {"open": False}
        )
        rows.change_all(case_deadlines, named(name), **changes)
        return
    deadline_change = _DEADLINE_CHANGES.get(event.type)
    if deadline_change is not None:
        rows.change_all(case_deadlines, named(event.data["deadline"]["name"]), **deadline_change(event.data))


_TRACK_DEADLINES = frozenset(
    {
        types.CASE_DECISION_SERVED,
        types.CASE_PAYMENT_ARRANGED,
        types.CASE_PAYMENT_RECORDED,
        types.CASE_DECISION_CORRECTED,
        types.CASE_REMINDER_SERVED,
        types.CASE_COURT_APPLIED,
        types.CASE_CLOSED,
    }
)


def _track_deadlines(rows: BatchRows, event: ConsumedEvent) -> None:
    """A respondent's payment deadline (opened at service, moved by a deferral, closed when
    paid, revoked or reminded) and court application deadline (opened by the reminder,
    closed by the application); a closure closes every deadline."""
    data, case_id = event.data, event.subject
    if event.type == types.CASE_CLOSED:
        rows.change_all(case_deadlines, rows.of(case_deadlines, case_id), open=False)
        return
    number = data["respondent"]
    payment = rows.of(case_deadlines, case_id, name=f"payment_{number}")
    court_application = rows.of(case_deadlines, case_id, name=f"court_application_{number}")
    if event.type == types.CASE_DECISION_SERVED and data["payment_deadline"]:
        _open_deadline(rows, case_id, data["payment_deadline"])
    elif event.type == types.CASE_PAYMENT_ARRANGED:
        moved = {"due_on": data["payment_deadline"]["due_on"], "extended": True, "approaching_recorded": False}
        rows.change_all(case_deadlines, payment, **moved, missed_recorded=False)
    elif event.type == types.CASE_REMINDER_SERVED:
        rows.change_all(case_deadlines, payment, open=False)
        _open_deadline(rows, case_id, data["court_application_deadline"])
    elif event.type == types.CASE_COURT_APPLIED:
        rows.change_all(case_deadlines, court_application, open=False)
    else:  # a payment or a correction: closed when the track ended
        states = {r["state"] for r in rows.of(case_respondents, case_id, number=number)}
        if states & {"paid", "revoked"}:
            rows.change_all(case_deadlines, [*payment, *court_application], open=False)


_CLOSE_DECISION_DEADLINE = frozenset({types.CASE_PENALTY_DECIDED, types.CASE_NOT_PENALISED, types.CASE_DISMISSED})


def _open_tracks(rows: BatchRows, event: ConsumedEvent) -> bool:
    """Whether another respondent than the one this event concludes is still to be decided."""
    concluded = event.data.get("respondent", 1)
    return any(
        r["number"] != concluded and r["state"] in BEFORE_DECISION for r in rows.of(case_respondents, event.subject)
    )


# -- queries ------------------------------------------------------------------------------


def _entry(
    row: Any, cipher: FieldCipher, full_personal_data: bool, deadlines: list[Any], respondents: list[Any]
) -> dict[str, Any]:
    """A ledger row as the API shows it: personal data opened or masked by role, with
    its open deadlines (overdue: the due date has passed, China time), its allowed actions
    and its respondents' tracks."""
    entry = dict(row._mapping)
    entry["deadlines"] = DEADLINES.shown_for(entry["case_id"], deadlines)
    entry["party"] = party_as_shown(entry["party"], cipher, full_personal_data)
    entry["party_code"] = entry["party"]["code"]
    entry["allowed_actions"] = allowed_actions(entry["status"])
    entry["respondents"] = [
        _respondent(r, entry["status"], cipher, full_personal_data)
        for r in respondents
        if r.case_id == entry["case_id"]
    ]
    entry["recorded_at"] = utc(entry["recorded_at"])
    entry["updated_at"] = utc(entry["updated_at"])
    return entry


def _respondent(row: Any, status: str, cipher: FieldCipher, full_personal_data: bool) -> dict[str, Any]:
    shown = dict(row._mapping)
    del shown["case_id"]
    shown["party"] = party_as_shown(shown["party"], cipher, full_personal_data)
    shown["party_code"] = shown["party"]["code"]
    shown["allowed_actions"] = allowed_actions(status, shown["state"])
    # Amounts decided, paid and outstanding, with the surcharge accrued to today (China).
    fine_fen = (shown["fine_total_yuan"] or 0) * 100
    paid_off = shown.pop("fine_paid_off_on")
    surcharge = accrued_surcharge_fen(
        fine_fen,
        shown["payment_due"],
        shown["surcharge"] if shown["state"] in _UNPAID else None,
        date.fromisoformat(paid_off) if paid_off else None,
        today_in_china(),
    )
    shown["surcharge_rule"] = shown.pop("surcharge")
    shown["paid_fen"] = shown["paid_fen"] or 0
    shown["recovered_fen"] = shown["recovered_fen"] or 0
    shown["surcharge_accrued_fen"] = surcharge
    shown["outstanding_fen"] = (
        max(0, fine_fen + surcharge - shown["paid_fen"] - shown["recovered_fen"]) if shown["state"] in _UNPAID else 0
    )
    return shown


# Tracks whose fine is still to be paid (or enforced): the ledger counts their surcharge on.
_UNPAID = frozenset({"served", "reminded", "enforcement_applied"})


async def _respondents(db: AsyncEngine, case_ids: list[str]) -> list[Any]:
    if not case_ids:
        return []
    c = case_respondents.c
    async with db.connect() as conn:
        query = select(case_respondents).where(c.case_id.in_(case_ids)).order_by(c.case_id, c.number)
        return list((await conn.execute(query)).all())


async def _visible_row(db: AsyncEngine, caller: Principal, case_id: UUID) -> Any:
    """The case's ledger row, if it is in the caller's jurisdiction (and the ledger yet)."""
    return await one_or_not_found(
        db,
        select(case_ledger).where(
            case_ledger.c.case_id == str(case_id),
            jurisdiction_clause(caller, case_ledger.c.agency_code, case_ledger.c.region_code),
        ),
        f"case {case_id} in the ledger (yet)",
    )


async def ledger_entry(db: AsyncEngine, cipher: FieldCipher, caller: Principal, case_id: UUID) -> dict[str, Any]:
    """A case's ledger entry, if it is in the caller's jurisdiction (and the ledger yet)."""
    row = await _visible_row(db, caller, case_id)
    ids = [str(case_id)]
    return _entry(
        row, cipher, reads_personal_data(caller), await DEADLINES.open_for(db, ids), await _respondents(db, ids)
    )


@dataclass(frozen=True)
class LedgerFilter:
    """What GET /v1/cases narrows the ledger by (every one optional; ranges inclusive)."""

    status: str | None = None
    agency_code: str | None = None
    region_code: str | None = None
    party_code: str | None = None
    decision_number: str | None = None
    respondent_state: str | None = None
    filed_from: date | None = None
    filed_to: date | None = None
    decided_from: date | None = None
    decided_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    due_before: date | None = None
    overdue: bool | None = None
    remedy_status: str | None = None
    enforcement_status: str | None = None
    unpaid: bool | None = None


def _with_respondent(case_id: Any, *conditions: Any) -> Any:
    """Cases with a respondent meeting ``conditions``. EXISTS, not IN: negated (unpaid=false)
    it is an anti-join probing each case's respondents, where NOT IN collects them all."""
    return exists().where(case_respondents.c.case_id == case_id, *conditions)


def ledger_query(cipher: FieldCipher, caller: Principal, wanted: LedgerFilter) -> Select[Any]:
    """The ledger rows in the caller's jurisdiction that ``wanted`` selects (unordered:
    the page orders them by record time, services/infra/pagination.py)."""
    c, r, d = case_ledger.c, case_respondents.c, case_deadlines.c
    query = select(case_ledger).where(jurisdiction_clause(caller, c.agency_code, c.region_code))
    if wanted.status:
        query = query.where(c.status == wanted.status)
    if wanted.agency_code:
        query = query.where(c.agency_code == wanted.agency_code)
    if wanted.region_code:
        # A region and every region under it (a city's 4301 prefix, a province's 43).
        query = query.where(c.region_code.startswith(jurisdiction_prefix(wanted.region_code)))
    if wanted.party_code:
        # A person is found by the keyed digest of their ID number, an enterprise by its code.
        code = wanted.party_code.strip().upper()
        query = query.where(_with_respondent(c.case_id, r.party_code.in_([code, cipher.digest(code)])))
    if wanted.decision_number:
        query = query.where(_with_respondent(c.case_id, r.decision_number == wanted.decision_number.strip()))
    if wanted.respondent_state:
        query = query.where(_with_respondent(c.case_id, r.state == wanted.respondent_state))
    if wanted.remedy_status:
        query = query.where(_with_respondent(c.case_id, r.remedy_status == wanted.remedy_status))
    if wanted.enforcement_status:
        query = query.where(_with_respondent(c.case_id, r.enforcement_status == wanted.enforcement_status))
    if wanted.unpaid is not None:
        unpaid = _with_respondent(c.case_id, r.state.in_(_UNPAID))
        query = query.where(unpaid if wanted.unpaid else ~unpaid)
    if wanted.filed_from:
        query = query.where(c.filed_on >= wanted.filed_from.isoformat())
    if wanted.filed_to:
        query = query.where(c.filed_on <= wanted.filed_to.isoformat())
    # A range is one respondent decided within it, one open deadline due within it (not
    # one respondent after its start and maybe another before its end).
    decided = [
        compare(bound.isoformat())
        for bound, compare in ((wanted.decided_from, r.decided_on.__ge__), (wanted.decided_to, r.decided_on.__le__))
        if bound
    ]
    if decided:
        query = query.where(_with_respondent(c.case_id, *decided))
    due = [
        compare(bound.isoformat())
        for bound, compare in ((wanted.due_from, d.due_on.__ge__), (wanted.due_to, d.due_on.__le__))
        if bound
    ]
    if due:
        query = query.where(exists().where(d.case_id == c.case_id, d.open.is_(True), *due))
    query = DEADLINES.filtered(query, c.case_id, overdue=wanted.overdue, due_before=wanted.due_before)
    return query


async def ledger_page(
    db: AsyncEngine,
    cipher: FieldCipher,
    caller: Principal,
    wanted: LedgerFilter,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The ledger in the caller's jurisdiction, filtered, one page."""
    c = case_ledger.c
    query = ledger_query(cipher, caller, wanted)
    rows, next_cursor = await keyset_page(db, query, c.recorded_at, c.case_id, limit, cursor)
    full = reads_personal_data(caller)
    ids = [row.case_id for row in rows]
    deadlines, respondents = await DEADLINES.open_for(db, ids), await _respondents(db, ids)
    return {"items": [_entry(row, cipher, full, deadlines, respondents) for row in rows], "next_cursor": next_cursor}


async def timeline_page(
    db: AsyncEngine, cipher: FieldCipher, caller: Principal, case_id: UUID, limit: int, cursor: str | None
) -> tuple[Any, dict[str, Any]]:
    """The case's history across services, oldest first, one page after ``cursor``; with
    the case's ledger row (for the read audit). Personal data opened or masked by role."""
    row = await _visible_row(db, caller, case_id)
    after = position_after(cursor)
    query = (
        select(case_timeline)
        .where(case_timeline.c.case_id == str(case_id), case_timeline.c.position > after)
        .order_by(case_timeline.c.position)
        .limit(limit + 1)
    )
    async with db.connect() as conn:
        rows = list((await conn.execute(query)).all())
    full = reads_personal_data(caller)
    items = []
    for r in rows[:limit]:
        data = event_data_as_shown(r.data, cipher, full)
        actor = data.get("actor") or {}
        items.append(
            {
                "position": r.position,
                "id": r.event_id,
                "type": r.type,
                "source": r.source,
                "time": r.time,
                "aggregate_id": r.aggregate_id,
                "version": r.sequence,
                "actor": actor,
                "reason": actor.get("reason"),
                "trace_id": r.trace_id,
                "data": data,
            }
        )
    next_cursor = str(rows[limit - 1].position) if len(rows) > limit else None
    return row, {"items": items, "next_cursor": next_cursor}
