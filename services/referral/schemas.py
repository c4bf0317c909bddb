"""The referral service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.deadlines import RecordedDeadline
from services.common.identifiers import USCC
from services.infra.formats import Instant, IsoDate, IsoInstant
from services.referral.domain import (
    FileKind,
    FilingOutcome,
    HeadOutcome,
    Officer,
    OutcomeKind,
    Party,
    ReceivingOrgan,
    ReconsiderationOutcome,
    Referral,
    SupervisionOutcome,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonModel(Command):
    name: Name
    title: Name | None = None


class ReferRequest(Command):
    """移送报告: which case, to whom, for what suspected offence, prepared by which officers
    (two or more), with which materials. The agency head decides on it next."""

    case_id: UUID
    receiving_organ: ReceivingOrgan
    organ_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    organ_code: USCC = Field(description="The receiving organ's unified social credit code: it alone sees the referral")
    copy_to_code: USCC | None = Field(
        None, description="The procuratorate that receives a copy and supervises (抄送); needed to dispatch"
    )
    offence: Annotated[str, StringConstraints(min_length=3, max_length=120)] = Field(
        description="The suspected offence: a rule id of rules/offences.yaml, e.g. offence.criminal_law_134a"
    )
    suspected_offence: Text = Field(description="The facts of the suspected offence, e.g. 拒不执行重大事故隐患整改指令")
    persons_referred: int = Field(1, ge=1, le=1000, description="How many persons are referred as suspects")
    reason: Text
    officers: Annotated[list[Officer], Field(min_length=2, max_length=20)] = Field(
        description="At least two officers with distinct certificate_no prepare a referral, else 422 two-officers"
    )
    materials: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]],
        Field(min_length=1, max_length=100, description="移送书, 调查报告, 涉案物品清单, 检验鉴定报告, ..."),
    ]
    reported_on: IsoDate | None = Field(None, description="The day of the report (default: today)")


class HeadDecisionRequest(Command):
    """负责人's decision on the report: approved, or refused with a reason."""

    outcome: HeadOutcome
    reason: Text | None = None
    head: PersonModel
    decided_at: IsoInstant | None = Field(None, description="Default: now")


class FileItemModel(Command):
    kind: FileKind
    title: Name
    sha256: Sha256 = Field(description="SHA-256 of the document's content (hex)")


class DispatchRequest(Command):
    """移送: the file, each document typed and referenced by content hash."""

    dispatched_at: IsoInstant | None = Field(None, description="Default: now")
    file: Annotated[list[FileItemModel], Field(min_length=1, max_length=100)]


class ReceiptRequest(Command):
    received_on: IsoDate | None = None
    received_by: PersonModel


class FilingDecisionRequest(Command):
    """立案 or 不予立案 (with the reason)."""

    outcome: FilingOutcome
    reason: Text | None = None
    decided_on: IsoDate | None = None
    police_case_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = (
        None
    )


class ReconsiderationRequest(Command):
    requested_on: IsoDate | None = None
    reason: Text


class ReconsiderationAnswerRequest(Command):
    outcome: ReconsiderationOutcome
    reason: Text | None = None
    answered_on: IsoDate | None = None


class SupervisionRequest(Command):
    outcome: SupervisionOutcome
    reason: Text
    supervised_on: IsoDate | None = None


class SeizedItemModel(Command):
    description: Name
    quantity: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    sha256: Sha256 | None = None


class HandOverRequest(Command):
    handed_over_on: IsoDate | None = None
    items: Annotated[list[SeizedItemModel], Field(min_length=1, max_length=500)]
    received_by: PersonModel


class OutcomeRequest(Command):
    outcome: OutcomeKind
    on: IsoDate | None = None
    note: Text | None = None
    persons: int = Field(1, ge=1, le=1000)
    penalty_due: bool = Field(
        True, description="Not prosecuted or exempted: whether an administrative penalty is still due"
    )


class TakeBackRequest(Command):
    """The police do not file: the agency takes the case back to its procedure."""

    returned_on: IsoDate | None = None
    note: Text | None = None
    penalty_due: bool = True


class PaidFineRequest(Command):
    decision_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=60)]
    amount_yuan: int = Field(ge=1, le=10**12)
    paid_on: IsoDate


class ReferralState(BaseModel):
    id: UUID
    case_id: UUID
    status: str
    owed_by: Party | None = Field(description="Who owes the next step (none once concluded)")
    allowed_actions: list[str]
    receiving_organ: ReceivingOrgan
    organ_name: str
    reported_on: date | None
    referred_on: date | None = Field(description="The day the file was dispatched (移送)")
    deadlines: list[RecordedDeadline] = Field(description="The open deadlines, with their rules")
    version: int

    @classmethod
    def of(cls, referral: Referral) -> ReferralState:
        return cls(
            id=referral.id,
            case_id=UUID(referral.case_id),
            status=referral.status,
            owed_by=referral.owed_by,
            allowed_actions=list(referral.allowed_actions),
            receiving_organ=referral.receiving_organ,
            organ_name=referral.organ_name,
            reported_on=date.fromisoformat(referral.reported_on) if referral.reported_on else None,
            referred_on=date.fromisoformat(referral.referred_on) if referral.referred_on else None,
            deadlines=referral.open_deadlines(),
            version=referral.version,
        )


class OpenDeadline(BaseModel):
    """An open deadline of a referral as the tracker shows it."""

    name: str
    due_on: str
    rule_id: str
    rule_version: int
    provisional: bool = Field(description="Counted on a calendar year whose holidays are guessed (Monday to Friday)")
    overdue: bool = Field(description="The due date has passed (China time) with the step not taken")


class TrackerRow(BaseModel):
    referral_id: str
    case_id: str
    agency_code: str
    agency_name: str
    region_code: str
    receiving_organ: str
    organ_name: str
    organ_code: str
    copy_to_code: str | None
    party: dict[str, Any] = Field(
        description="当事人: a person's identifiers in full for roles that need them, else masked"
    )
    offence: str | None = Field(description="The suspected offence's rule id (rules/offences.yaml)")
    suspected_offence: str
    persons_referred: int
    materials: list[str]
    status: str = Field(description="The current step")
    owed_by: Party | None = Field(description="Who owes the next step")
    owed_since: str | None = Field(description="Since when (the instant of the last step)")
    reported_on: str | None
    referred_on: str | None = Field(description="The day the file was dispatched (移送)")
    filing_decision_due: str | None
    outcomes: list[str] = Field(description="Criminal outcomes known so far")
    returned_reason: str | None
    paid_fines_yuan: int = Field(description="Fines already paid, to credit against a criminal fine")
    deadlines: list[OpenDeadline] = Field(description="The open deadlines, each with the rule that set it")
    trace_id: str | None
    recorded_at: Instant
    updated_at: Instant


class TrackerPage(BaseModel):
    items: list[TrackerRow]
    next_cursor: str | None


class StatisticsRow(BaseModel):
    """The yearly joint figures (行刑衔接统计) of one agency."""

    agency_code: str
    agency_name: str
    region_code: str
    referred_cases: int = Field(description="Referrals dispatched in the year")
    referred_persons: int
    filed: int
    not_filed: int
    reconsidered: int
    supervised: int
    arrested: int
    prosecuted: int
    judged: int
    returned: int


class Statistics(BaseModel):
    year: int
    items: list[StatisticsRow]


class ReferralAsOf(BaseModel):
    """The referral as recorded at a moment (``?as_of=``) or a version (``?version=``)."""

    as_of: str | None
    version: int
    recorded_at: str = Field(description="Record time of the referral's last event at that moment (RFC 3339)")
    referral: ReferralState
