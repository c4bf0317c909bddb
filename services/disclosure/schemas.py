"""The disclosure service's response models (its public REST contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.common.identifiers import without_personal_identifier
from services.disclosure.domain import DecisionKind, PartyCategory, Publication, Tier
from services.infra.formats import IsoDate


class DisclosedPenaltyView(BaseModel):
    """The 双公示 items as published. Natural persons appear as 黄某某 with no code; no
    ID number, address or phone of anyone is ever part of this model."""

    party_name: str = Field(description="行政相对人名称 (natural persons masked: 黄某某)")
    party_category: PartyCategory = Field(description="行政相对人类别")
    party_code: str = Field(
        description="统一社会信用代码 of a unit, its last characters masked where the agency's rule says so; "
        "empty for a natural person"
    )
    legal_representative: str = Field(description="法定代表人 of a unit; empty for a natural person")
    decision_number: str = Field(description="行政处罚决定书文号")
    violation_type: str = Field(description="违法行为类型")
    violation_facts: str = Field(description="违法事实")
    legal_basis: str = Field(description="处罚依据")
    penalty_category: str = Field(description="处罚类别")
    penalty_content: str = Field(description="处罚内容")
    fine_amount_wan_yuan: str = Field(description="罚款金额（万元）, 6 decimals")
    confiscated_amount_wan_yuan: str = Field(description="没收违法所得、没收非法财物的金额（万元）")
    licence: str = Field(description="暂扣或吊销证照名称及编号, or empty")
    decision_date: date = Field(description="处罚决定日期")
    penalty_validity: date | None = Field(
        description="处罚有效期, from the decision (2099-12-31: long-term); none for an other decision"
    )
    publication_end_date: date = Field(description="公示截止期")
    deciding_agency: str = Field(description="处罚机关")
    deciding_agency_code: str = Field(description="处罚机关统一社会信用代码")
    data_source: str = Field(description="数据来源单位")
    data_source_code: str = Field(description="数据来源单位统一社会信用代码")
    remarks: str = Field(description="备注")
    decision_kind: DecisionKind = Field(
        "penalty",
        description="penalty: 行政处罚决定 (双公示, also on Credit China); other: 其他行政执法决定 "
        "(a no-penalty decision, 不予行政处罚决定), on the agency's site only",
    )

    @field_validator("penalty_validity", mode="before")
    @classmethod
    def _no_validity(cls, value: object) -> object:
        return value or None  # an other decision has none


class DisclosureEntry(BaseModel):
    publication_id: UUID
    case_id: UUID
    agency_code: str
    published_on: date
    publication_end: date
    item: DisclosedPenaltyView
    trace_id: str | None
    recorded_at: datetime


class DisclosurePage(BaseModel):
    items: list[DisclosureEntry]
    next_cursor: str | None


PublicationStateName = Literal["pending", "published", "withheld", "withdrawn", "ended", "repaired"]
StateFilter = Literal["pending", "published", "withheld", "overdue", "withdrawn", "ended", "repaired"]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# Free text kept in clear (events, views, webhooks, Credit China's notice): no personal
# identifier in it (422 no-personal-data-in-text, naming the field).
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(without_personal_identifier),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(without_personal_identifier),
]


class AgencyPublication(BaseModel):
    """One publication (or withheld decision) as its agency sees it."""

    publication_id: UUID
    case_id: UUID
    agency_code: str
    decision_number: str
    respondent: int
    tier: Tier = Field(
        description="minor, general or serious, by the rules in force on the decision date; none for an other decision"
    )
    decision_kind: DecisionKind = Field(
        description="penalty (双公示) or other (其他行政执法决定, on the agency's site only)"
    )
    state: PublicationStateName
    overdue: bool = Field(description="Pending past its publish-by day (China time)")
    published_late: bool = Field(description="Accepted by Credit China after its publish-by day")
    reason: str | None = Field(description="Why it is withheld, withdrawn or ended; a refused repair's reason")
    party_name: str | None = Field(description="As published (natural persons masked); none when withheld")
    party_category: PartyCategory | None
    decided_on: date
    publish_by: date | None
    publish_deadline_missed: bool
    published_on: date | None
    publication_end: date | None = Field(description="The last day it is published (the tier's maximum)")
    repair_from: date | None = Field(description="From this day the party may apply for credit repair")
    repair_status: Literal["none", "applied", "granted", "refused"]
    withdrawal_due_on: date | None = Field(description="Art. 48: the withdrawal reaches Credit China by this day")
    ended_on: date | None = Field(
        description="The legal end (the day after the last day, however late it was recorded); a granted repair's day"
    )
    replaces: UUID | None = Field(description="The publication of the decision before it was changed")
    republished_as: UUID | None = Field(description="The publication of the decision as changed")
    notified: dict[str, str] = Field(description="What Credit China accepted, with its receipts")
    recorded_at: datetime


class AgencyPublicationPage(BaseModel):
    items: list[AgencyPublication]
    next_cursor: str | None


class CommitmentDocument(BaseModel):
    """信用承诺书 (and the proof of performance), by reference and content hash."""

    model_config = ConfigDict(extra="forbid")
    title: ShortText
    uri: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(without_personal_identifier),
    ]
    sha256: Sha256


class RepairApplicationRequest(BaseModel):
    """信用修复申请, recorded by the agency for the party: after the tier's minimum period,
    with the obligations of the decision performed and a credit commitment."""

    model_config = ConfigDict(extra="forbid")
    obligations_performed: bool = Field(description="The decision's obligations are performed (已履行)")
    commitment: CommitmentDocument
    applied_on: IsoDate | None = Field(None, description="The day the party applied (default: today, China time)")


class RepairDecisionRequest(BaseModel):
    """The agency grants (publication ends at once) or refuses, with the reason."""

    model_config = ConfigDict(extra="forbid")
    granted: bool
    reason: Text
    decided_on: IsoDate | None = Field(None, description="Default: today, China time")


class RepairView(BaseModel):
    status: Literal["none", "applied", "granted", "refused"]
    applied_on: date | None
    reason: str | None


class PublicationView(BaseModel):
    """A publication as the write model has it, answering a command."""

    publication_id: UUID
    decision_number: str
    tier: Tier
    state: Literal["pending", "published", "withdrawn", "ended", "repaired"]
    repair_from: date
    publication_end: date
    repair: RepairView
    version: int

    @classmethod
    def of(cls, publication: Publication) -> PublicationView:
        return cls(
            publication_id=publication.id,
            decision_number=publication.decision_number,
            tier=publication.tier,
            state=publication.state,
            repair_from=publication.period["repair_from"],
            publication_end=publication.publication_end,
            repair=RepairView(**publication.repair),
            version=publication.version,
        )
