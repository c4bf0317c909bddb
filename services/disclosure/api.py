"""Disclosure service REST API: the public feed of published penalty decisions
(行政处罚信息公示, 双公示). Publications are prepared from the case-events topic and pushed to
Credit China (信用中国) by the publisher worker; nothing here writes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.access.guard import public
from services.disclosure.application import DisclosureApplication, DisclosureSettings
from services.disclosure.domain import PartyCategory
from services.disclosure.feed import (
    DisclosureFeedProjection,
    disclosure_feed,
    feed_entry,
    metadata,
)
from services.disclosure.publisher import CreditChinaPublisher
from services.infra.clock import today_in_china
from services.infra.consumer import PolicyRunner, ProjectionRunner
from services.infra.http import Problem, create_service_app, field_problem
from services.infra.pagination import keyset_page
from services.infra.runtime import ServiceRuntime
from services.infra.storage import event_store_env


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


settings = DisclosureSettings(service_name="disclosure")
runtime: ServiceRuntime[DisclosureApplication] = ServiceRuntime(
    settings,
    metadata,
    application=lambda: DisclosureApplication(
        env=event_store_env(settings), publication_months=settings.publication_period_months
    ),
    handlers=lambda rt: [
        PolicyRunner(rt.application, "disclosure-policy", rt.application.prepare_on_decision),
        ProjectionRunner(rt.settings, DisclosureFeedProjection()),
    ],
    workers=lambda rt: [CreditChinaPublisher(rt.application, settings)],
    relay_after=("/caseledger/case",),  # a publication follows from its decision
)
app = create_service_app(
    "caseledger disclosure service",
    "1.0.0",
    "Publishes penalty decisions (双公示) to Credit China (信用中国) within 7 working days, "
    "masked for natural persons; serves the public disclosure feed.",
    runtime.readiness,
    settings=settings,
    lifespan=runtime.lifespan(),
)



@app.get(
    "/v1/disclosures",
    response_model=DisclosurePage,
    tags=["disclosures"],
    summary="Published penalty decisions still within their publication period, paginated",
    dependencies=[Depends(public)],
)
async def list_disclosures(
    agency_code: Annotated[str | None, Query(max_length=18, description="处罚机关统一社会信用代码")] = None,
    published_from: Annotated[date | None, Query(description="Published on or after this date")] = None,
    published_to: Annotated[date | None, Query(description="Published on or before this date")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    if published_from and published_to and published_from > published_to:
        raise field_problem("published_from", "date-range", "published_from is after published_to", where="query")
    # Publication ends automatically at its end date (DOMAIN.md §5).
    query = select(disclosure_feed).where(disclosure_feed.c.publication_end >= today_in_china().isoformat())
    if agency_code:
        query = query.where(disclosure_feed.c.agency_code == agency_code)
    if published_from:
        query = query.where(disclosure_feed.c.published_on >= published_from.isoformat())
    if published_to:
        query = query.where(disclosure_feed.c.published_on <= published_to.isoformat())
    rows, next_cursor = await keyset_page(
        runtime.db, query, disclosure_feed.c.recorded_at, disclosure_feed.c.publication_id, limit, cursor
    )
    return {"items": [feed_entry(r) for r in rows], "next_cursor": next_cursor}


@app.get(
    "/v1/disclosures/{publication_id}",
    response_model=DisclosureEntry,
    tags=["disclosures"],
    summary="One published penalty decision",
    dependencies=[Depends(public)],
)
async def get_disclosure(publication_id: UUID) -> dict[str, Any]:
    row = await runtime.one_or_404(
        select(disclosure_feed).where(disclosure_feed.c.publication_id == str(publication_id)),
        f"publication {publication_id} in the feed (yet)",
    )
    if row.publication_end < today_in_china().isoformat():
        raise Problem(404, "not-found", "Not found", f"the publication period of {publication_id} has ended")
    return feed_entry(row)
