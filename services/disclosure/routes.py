"""Disclosure service REST API: the public feed of what is published now (行政处罚信息公示,
双公示); the agency's view of its publications by state; credit repair (信用修复), applied
for through the agency and decided by its head. Publications are prepared and withdrawn
from the case-events topic and pushed to Credit China (信用中国) by the publisher worker."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Response

from services.access.guard import add_tamper_evidence_routes, authorize, public
from services.access.policy import Permission
from services.disclosure import readmodel
from services.disclosure.application import DisclosureApplication
from services.disclosure.schemas import (
    AgencyPublication,
    AgencyPublicationPage,
    DisclosureEntry,
    DisclosurePage,
    PublicationView,
    RepairApplicationRequest,
    RepairDecisionRequest,
    StateFilter,
)
from services.infra.app import ReadModels, service_application
from services.infra.endpoints import Cursor, IdempotencyKey, Limit, answered, command_answer
from services.infra.formats import IsoDate
from services.infra.identity import Principal
from services.infra.strict_json import service_router

router = service_router()
Disclosures = Annotated[DisclosureApplication, Depends(service_application)]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_PUBLICATIONS))]
RepairRecorder = Annotated[Principal, Depends(authorize(Permission.RECORD_REPAIR_APPLICATION))]
RepairDecider = Annotated[Principal, Depends(authorize(Permission.DECIDE_REPAIR))]
REPAIR_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No publication of your agency with this id"},
    409: {"description": "Not published now (pending, withdrawn, ended, repaired), or an application pending"},
    422: {"description": "A rule broken (repair-before-minimum-period, obligations-not-performed, ...)"},
}


@router.get(
    "/v1/disclosures",
    response_model=DisclosurePage,
    tags=["disclosures"],
    summary="Penalty decisions published now (not withdrawn, ended or repaired), paginated",
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


@router.get(
    "/v1/publications",
    response_model=AgencyPublicationPage,
    tags=["publications"],
    summary="Your agency's publications by state: pending, published, withheld, overdue, withdrawn, ended, repaired",
)
async def list_publications(
    caller: Reader,
    db: ReadModels,
    state: Annotated[
        StateFilter | None, Query(description="Only this state (overdue: pending past publish-by)")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.agency_publications_page(
        db, agency_code=caller.agency_code, state=state, limit=limit, cursor=cursor
    )


@router.get(
    "/v1/publications/{publication_id}",
    response_model=AgencyPublication,
    tags=["publications"],
    summary="One of your agency's publications, with its state, period and what Credit China accepted",
)
async def get_publication(publication_id: UUID, caller: Reader, db: ReadModels) -> dict[str, Any]:
    return await readmodel.agency_publication(db, caller.agency_code, publication_id)


@router.post(
    "/v1/publications/{publication_id}/repair-application",
    response_model=PublicationView,
    tags=["publications"],
    summary="Record the party's credit repair application (信用修复申请): after the minimum period, "
    "obligations performed, with a credit commitment",
    responses={
        **command_answer(200, "Recorded (a retry: the resource as it is now, nothing recorded again)"),
        **REPAIR_ANSWERS,
    },
)
async def apply_for_repair(
    publication_id: UUID,
    body: RepairApplicationRequest,
    response: Response,
    caller: RepairRecorder,
    disclosures: Disclosures,
    idempotency_key: IdempotencyKey = None,
) -> PublicationView:
    publication, replayed = await asyncio.to_thread(
        disclosures.apply_for_repair, caller, publication_id, body.model_dump(), idempotency_key
    )
    answered(response, f"/v1/publications/{publication.id}", replayed, publication.version)
    return PublicationView.of(publication)


@router.post(
    "/v1/publications/{publication_id}/repair-decision",
    response_model=PublicationView,
    tags=["publications"],
    summary="Grant (publication ends at once, pushed to Credit China) or refuse a credit repair, with the reason",
    responses={
        **command_answer(200, "Decided (a retry: the resource as it is now, nothing recorded again)"),
        **REPAIR_ANSWERS,
    },
)
async def decide_repair(
    publication_id: UUID,
    body: RepairDecisionRequest,
    response: Response,
    caller: RepairDecider,
    disclosures: Disclosures,
    idempotency_key: IdempotencyKey = None,
) -> PublicationView:
    publication, replayed = await asyncio.to_thread(
        disclosures.decide_repair, caller, publication_id, body.model_dump(), idempotency_key
    )
    answered(response, f"/v1/publications/{publication.id}", replayed, publication.version)
    return PublicationView.of(publication)


add_tamper_evidence_routes(router)
