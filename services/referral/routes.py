"""Referral service REST API: refer a case (移送) to the public security organ or the
procuratorate; the referral tracker."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from services.access.guard import authorize
from services.access.policy import Permission
from services.infra.app import Cipher, ReadModels, service_application
from services.infra.endpoints import Cursor, IdempotencyKey, Limit, answered
from services.infra.identity import Principal
from services.referral import readmodel
from services.referral.application import ReferralApplication
from services.referral.domain import ReceivingOrgan
from services.referral.schemas import ReferralState, ReferRequest, TrackerPage, TrackerRow

router = APIRouter()
Referrals = Annotated[ReferralApplication, Depends(service_application)]
Referrer = Annotated[Principal, Depends(authorize(Permission.REFER_CASE))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_REFERRALS))]


@router.post(
    "/v1/referrals",
    status_code=201,
    response_model=ReferralState,
    tags=["referrals"],
    summary="Refer a case (移送) to the public security organ or the procuratorate",
    description="A retry with the same Idempotency-Key and the same body is answered with the first referral "
    "(`Idempotent-Replayed: true`), and so is the same body again without a key; the same key with a "
    "different body is refused (422 `idempotency-key-reused`), and so (409 `already-referred`) is a "
    "different referral of the case to an organ it was referred to already.",
    responses={
        409: {"description": "Already referred to this organ"},
        422: {"description": "Unknown case, a rule broken, or an Idempotency-Key reused with a different body"},
    },
)
async def refer_case(
    body: ReferRequest,
    response: Response,
    caller: Referrer,
    referrals: Referrals,
    db: ReadModels,
    idempotency_key: IdempotencyKey = None,
) -> ReferralState:
    case = await readmodel.known_case(db, body.case_id)
    referral, replayed = await asyncio.to_thread(referrals.refer, caller, body, case, idempotency_key)
    answered(response, f"/v1/referrals/{referral.id}", replayed)
    return ReferralState.of(referral)


@router.get("/v1/referrals/{referral_id}", response_model=TrackerRow, tags=["tracker"], summary="One referral")
async def get_referral(referral_id: UUID, caller: Reader, db: ReadModels, cipher: Cipher) -> dict[str, Any]:
    return await readmodel.referral(db, cipher, caller, referral_id)


@router.get("/v1/referrals", response_model=TrackerPage, tags=["tracker"], summary="The referral tracker (移送台账)")
async def list_referrals(
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    status: Annotated[str | None, Query(max_length=30)] = None,
    receiving_organ: Annotated[ReceivingOrgan | None, Query()] = None,
    case_id: Annotated[UUID | None, Query()] = None,
    overdue: Annotated[
        bool | None, Query(description="Referrals with (true) or without (false) an overdue deadline")
    ] = None,
    due_before: Annotated[date | None, Query(description="Referrals with an open deadline due before this day")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.referral_page(
        db,
        cipher,
        caller,
        status=status,
        receiving_organ=receiving_organ,
        case_id=case_id,
        overdue=overdue,
        due_before=due_before,
        limit=limit,
        cursor=cursor,
    )
