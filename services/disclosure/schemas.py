"""The disclosure service's response models (its public REST contract)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from services.disclosure.domain import PartyCategory


class DisclosedPenaltyView(BaseModel):
    """The 双公示 items as published. Natural persons appear as 黄某某 with no code; no
    ID number, address or phone of anyone is ever part of this model."""

    party_name: str = Field(description="行政相对人名称 (natural persons masked: 黄某某)")
    party_category: PartyCategory = Field(description="行政相对人类别")
    party_code: str = Field(description="统一社会信用代码 of a unit; empty for a natural person")
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
    penalty_validity: date = Field(description="处罚有效期 (2099-12-31: long-term)")
    publication_end_date: date = Field(description="公示截止期")
    deciding_agency: str = Field(description="处罚机关")
    deciding_agency_code: str = Field(description="处罚机关统一社会信用代码")
    data_source: str = Field(description="数据来源单位")
    data_source_code: str = Field(description="数据来源单位统一社会信用代码")
    remarks: str = Field(description="备注")


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
