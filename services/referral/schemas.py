"""The referral service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.deadlines import RecordedDeadline
from services.common.identifiers import USCC
from services.referral.domain import Officer, ReceivingOrgan, Referral

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ReferRequest(BaseModel):
    """移送: which case, to whom, for what suspected offence, with which materials."""

    model_config = ConfigDict(extra="forbid")
    case_id: UUID
    receiving_organ: ReceivingOrgan
    organ_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    organ_code: USCC = Field(description="The receiving organ's unified social credit code: it alone sees the referral")
    copy_to_code: USCC | None = Field(
        None, description="The procuratorate that receives a copy and supervises (抄送), if any"
    )
    suspected_offence: Text = Field(description="e.g. 刑法第一百三十四条 重大责任事故罪")
    reason: Text
    officers: Annotated[list[Officer], Field(min_length=1, max_length=20)]
    materials: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]],
        Field(min_length=1, max_length=100, description="移送书, 调查报告, 涉案物品清单, 检验鉴定报告, ..."),
    ]
    referred_on: date | None = None


class ReferralState(BaseModel):
    id: UUID
    case_id: UUID
    status: str
    receiving_organ: ReceivingOrgan
    organ_name: str
    referred_on: date
    filing_decision_due: date
    deadlines: list[RecordedDeadline] = Field(description="The deadlines starting from the referral, with their rules")

    @classmethod
    def of(cls, referral: Referral) -> ReferralState:
        return cls(
            id=referral.id,
            case_id=UUID(referral.case_id),
            status=referral.status,
            receiving_organ=referral.receiving_organ,
            organ_name=referral.organ_name,
            referred_on=date.fromisoformat(referral.referred_on),
            filing_decision_due=date.fromisoformat(referral.filing_decision_due),
            deadlines=[state["deadline"] for state in referral.deadlines.values()],
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
    suspected_offence: str
    materials: list[str]
    status: str
    referred_on: str
    filing_decision_due: str
    deadlines: list[OpenDeadline] = Field(description="The open deadlines, each with the rule that set it")
    trace_id: str | None
    recorded_at: str
    updated_at: str


class TrackerPage(BaseModel):
    items: list[TrackerRow]
    next_cursor: str | None
