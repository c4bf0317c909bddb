"""Disclosure service REST API: the public feed of published penalty decisions
(行政处罚信息公示, 双公示). Publications are prepared from the case-events topic and pushed to
Credit China (信用中国) by the publisher worker; nothing here writes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query

from services.access.guard import add_tamper_evidence_routes, public
from services.disclosure import readmodel
from services.disclosure.schemas import DisclosureEntry, DisclosurePage
from services.infra.app import ReadModels
from services.infra.endpoints import Cursor, Limit
from services.infra.formats import IsoDate
from services.infra.strict_json import service_router

router = service_router()


@router.get(
    "/v1/disclosures",
    response_model=DisclosurePage,
    tags=["disclosures"],
    summary="Published penalty decisions still within their publication period, paginated",
    dependencies=[Depends(public)],
)
async def list_disclosures(
    db: ReadModels,
    agency_code: Annotated[str | None, Query(max_length=18, description="处罚机关统一社会信用代码")] = None,
    published_from: Annotated[IsoDate | None, Query(description="Published on or after this date")] = None,
    published_to: Annotated[IsoDate | None, Query(description="Published on or before this date")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.disclosure_page(
        db,
        agency_code=agency_code,
        published_from=published_from,
        published_to=published_to,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/v1/disclosures/{publication_id}",
    response_model=DisclosureEntry,
    tags=["disclosures"],
    summary="One published penalty decision",
    dependencies=[Depends(public)],
)
async def get_disclosure(publication_id: UUID, db: ReadModels) -> dict[str, Any]:
    return await readmodel.disclosure(db, publication_id)


add_tamper_evidence_routes(router)
