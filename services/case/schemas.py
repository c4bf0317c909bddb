"""The case service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.case.domain import (
    Agency,
    Approver,
    Case,
    CaseStatus,
    DeadlineChange,
    Party,
    Penalty,
    Reviewer,
    ReviewOutcome,
)
from services.common.deadlines import RecordedDeadline
from services.common.officers import Officer

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class FileCaseRequest(BaseModel):
    """立案: the agency, the party, what was violated, and the officers acting."""

    model_config = ConfigDict(extra="forbid")
    agency: Agency
    party: Party
    violation_summary: Text
    violation_date: date
    harm_caused: bool = Field(False, description="Life, health or property harmed: 5-year limitation period")
    legal_basis: Text
    officers: Annotated[list[Officer], Field(min_length=1, max_length=20)]
    filed_on: date | None = Field(None, description="Business date of filing (default: today, China time)")


class LegalReviewRequest(BaseModel):
    """法制审核 outcome: passed, or returned with the reviewer's opinion."""

    model_config = ConfigDict(extra="forbid")
    outcome: ReviewOutcome
    reviewer: Reviewer
    opinion: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""
    reviewed_on: date | None = None


class PenaltyDecisionRequest(BaseModel):
    """行政处罚决定: the decision document number and the penalties."""

    model_config = ConfigDict(extra="forbid")
    decision_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    penalties: Annotated[list[Penalty], Field(min_length=1, max_length=10)]
    decided_on: date | None = None


class DeadlineExtensionRequest(BaseModel):
    """延期 or 中止 of a deadline, approved by the agency head: the new due date and why."""

    model_config = ConfigDict(extra="forbid")
    change: DeadlineChange
    due_on: date = Field(description="The new due date (after the current one)")
    reason: Text
    approver: Approver


class ShownParty(BaseModel):
    """当事人 as shown to the caller: a natural person's ID number, phone and address in
    full for roles that need them, masked (430281********1234) for the rest."""

    kind: str
    name: str
    code: str
    legal_representative: str | None = None
    address: str | None = None
    phone: str | None = None


class CaseState(BaseModel):
    """The case as its event store knows it right after the command."""

    id: UUID
    version: int
    status: CaseStatus
    allowed_actions: list[str]
    agency: Agency
    party: ShownParty
    filed_on: date
    decision_due: date
    decision_number: str | None
    deadlines: list[RecordedDeadline] = Field(description="The case's open deadlines and the rules that set them")

    @classmethod
    def of(cls, case: Case, party: dict[str, Any]) -> CaseState:
        """``party`` is the case's party as the caller may see it."""
        return cls(
            id=case.id,
            version=case.version,
            status=case.status,
            allowed_actions=list(case.allowed_actions),
            agency=case.agency,
            party=ShownParty(**party),
            filed_on=date.fromisoformat(case.filed_on),
            decision_due=date.fromisoformat(case.decision_due),
            decision_number=case.decision_number,
            deadlines=case.open_deadlines(),
        )


class OpenDeadline(BaseModel):
    """An open deadline of a case as the ledger shows it."""

    name: str
    due_on: str
    rule_id: str
    rule_version: int
    provisional: bool
    overdue: bool = Field(description="The due date has passed (China time) with the step not taken")
    approaching_recorded: bool
    missed_recorded: bool
    extended: bool


class LedgerEntry(BaseModel):
    case_id: str
    agency_code: str
    agency_name: str
    region_code: str
    party_kind: str
    party_name: str
    party_code: str
    party: ShownParty
    violation_summary: str
    legal_basis: str
    status: str
    version: int
    filed_on: str
    decision_due: str
    deadlines: list[OpenDeadline]
    review_outcome: str | None
    decision_number: str | None
    decided_on: str | None
    penalties: list[dict[str, Any]] | None
    fine_total_yuan: int | None
    referral_status: str
    referral_organ: str | None
    publication_status: str
    published_on: str | None
    last_event_type: str
    last_event_id: str
    trace_id: str | None
    recorded_at: str
    updated_at: str


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    next_cursor: str | None


class RuleVersionView(BaseModel):
    """One version of a rule: its source, its value, how it counts, when it is in force."""

    version: int
    statute: str
    article: str | None
    value: dict[str, Any] | None = Field(description="e.g. {days: 90}; null: no national value (to_confirm)")
    counting: str | None
    effective_from: date | None = Field(description="inclusive; null: open")
    effective_to: date | None = Field(description="exclusive (the successor's effective_from); null: open")
    to_confirm: bool
    notes: str | None
    override: dict[str, str] | None = Field(description="the caller's region's override in force (with ?on=)")


class RuleView(BaseModel):
    """A rule of the catalogue (rules/*.yaml), with every version, or with ?on= the one in force."""

    id: str
    name: str
    kind: str
    trigger: str | None
    direction: str
    lighter: str | None
    file: str
    versions: list[RuleVersionView]


class RulePage(BaseModel):
    items: list[RuleView]
    next_cursor: str | None
