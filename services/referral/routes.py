"""Referral service REST API: the referral's steps (行刑衔接), from the report to the
criminal outcome or the case's return; the referral tracker and the yearly statistics."""

from __future__ import annotations

import asyncio
import inspect
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Response
from pydantic import BaseModel

from services.access.guard import add_tamper_evidence_routes, authorize
from services.access.policy import Permission
from services.infra.app import Cipher, ReadModels, service_application
from services.infra.clock import today_in_china
from services.infra.endpoints import (
    RETRY_AFTER_HEADER,
    AsOf,
    AtVersion,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    answered,
    command_answer,
    expected_version,
)
from services.infra.formats import IsoDate
from services.infra.identity import Principal
from services.infra.strict_json import service_router
from services.referral import readmodel
from services.referral.application import ReferralApplication, StepName
from services.referral.domain import Party, ReceivingOrgan
from services.referral.schemas import (
    DispatchRequest,
    FilingDecisionRequest,
    HandOverRequest,
    HeadDecisionRequest,
    OutcomeRequest,
    PaidFineRequest,
    ReceiptRequest,
    ReconsiderationAnswerRequest,
    ReconsiderationRequest,
    ReferralAsOf,
    ReferralState,
    ReferRequest,
    Statistics,
    SupervisionRequest,
    TakeBackRequest,
    TrackerPage,
    TrackerRow,
)

router = service_router()
Referrals = Annotated[ReferralApplication, Depends(service_application)]
Referrer = Annotated[Principal, Depends(authorize(Permission.REFER_CASE))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_REFERRALS))]
StatisticsReader = Annotated[Principal, Depends(authorize(Permission.READ_REFERRAL_STATISTICS))]
STEP_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed at the referral's current step (names it, who owes the next, what is allowed)"},
    412: {"description": "Stale If-Match"},
}


@router.post(
    "/v1/referrals",
    status_code=201,
    response_model=ReferralState,
    tags=["referrals"],
    summary="Report a suspected crime for referral (移送报告), naming the offence and the organ",
    description="By two officers or more; the agency head's decision is due within `referral.head_decision`. "
    "A retry with the same Idempotency-Key and the same body is answered with the first referral "
    "(`Idempotent-Replayed: true`), and so is the same body again without a key; the same key with a "
    "different body is refused (422 `idempotency-key-reused`), and so (409 `already-referred`) is a "
    "different referral of the case to an organ it was referred to already.",
    responses={
        **command_answer(201, "Referred (or, for a retry, the first referral)", versioned=False),
        409: {
            "description": "Already referred to this organ; or (unknown-case, with Retry-After) the referral "
            "service has not learnt the case yet: it learns cases from the case service's events, so retry",
            "headers": {"Retry-After": {**RETRY_AFTER_HEADER, "required": False}},
        },
        422: {"description": "A rule broken, or an Idempotency-Key reused with a different body"},
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
    answered(response, f"/v1/referrals/{referral.id}", replayed, referral.version)
    return ReferralState.of(referral)


def _step_route(name: StepName, permission: Permission, request_model: type[BaseModel], summary: str) -> None:
    """POST /v1/referrals/{referral_id}/<name>: one step of the referral (application STEPS),
    by the roles ``permission`` names, with a body of ``request_model``."""

    async def step(
        referral_id: UUID,
        body: BaseModel,
        response: Response,
        caller: Principal,
        referrals: ReferralApplication,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> ReferralState:
        referral, replayed = await asyncio.to_thread(
            referrals.step, name, caller, referral_id, body, idempotency_key, expected_version(if_match)
        )
        answered(response, f"/v1/referrals/{referral.id}", replayed, referral.version)
        return ReferralState.of(referral)

    # The signature FastAPI reads (the body's model and the caller's permission differ per step).
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        ("referral_id", UUID, inspect.Parameter.empty),
        ("body", request_model, inspect.Parameter.empty),
        ("response", Response, inspect.Parameter.empty),
        ("caller", Annotated[Principal, Depends(authorize(permission))], inspect.Parameter.empty),
        ("referrals", Referrals, inspect.Parameter.empty),
        ("idempotency_key", IdempotencyKey, None),
        ("if_match", IfMatch, None),
    ]
    step.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, kind, annotation=a, default=d) for n, a, d in parameters], return_annotation=ReferralState
    )
    step.__name__ = step.__qualname__ = name.replace("-", "_")
    router.post(
        f"/v1/referrals/{{referral_id}}/{name}",
        response_model=ReferralState,
        tags=["referral steps"],
        summary=summary,
        responses=STEP_ANSWERS,
    )(step)


_step_route(
    "head-decision",
    Permission.APPROVE_REFERRAL,
    HeadDecisionRequest,
    "The agency head approves or refuses the referral (负责人批准), within its period",
)
_step_route(
    "dispatch",
    Permission.REFER_CASE,
    DispatchRequest,
    "Dispatch the file to the police within 24 hours, a copy to the procuratorate (移送)",
)
_step_route(
    "receipt",
    Permission.ANSWER_REFERRAL,
    ReceiptRequest,
    "The police receive the referral (接受移送)",
)
_step_route(
    "filing-decision",
    Permission.ANSWER_REFERRAL,
    FilingDecisionRequest,
    "The police file (立案) or decline (不予立案) with the reason",
)
_step_route(
    "reconsideration-request",
    Permission.REFER_CASE,
    ReconsiderationRequest,
    "The agency asks the police to reconsider not filing (提请复议), within its period",
)
_step_route(
    "reconsideration-answer",
    Permission.ANSWER_REFERRAL,
    ReconsiderationAnswerRequest,
    "The police answer the reconsideration: file, or uphold not filing",
)
_step_route(
    "supervision",
    Permission.SUPERVISE_REFERRAL,
    SupervisionRequest,
    "The procuratorate's filing supervision (立案监督): a notice to file, or no grounds",
)
_step_route(
    "hand-over",
    Permission.REFER_CASE,
    HandOverRequest,
    "Hand the seized items over (移交涉案物品)",
)
_step_route(
    "outcomes",
    Permission.RECORD_CRIMINAL_OUTCOME,
    OutcomeRequest,
    "A criminal outcome as it becomes known (not prosecuted or exempted: the case comes back)",
)
_step_route("return", Permission.REFER_CASE, TakeBackRequest, "The police do not file: the agency takes the case back")
_step_route(
    "paid-fines",
    Permission.REFER_CASE,
    PaidFineRequest,
    "A fine already paid, to credit against a criminal fine",
)


@router.get(
    "/v1/referrals/statistics",
    response_model=Statistics,
    tags=["tracker"],
    summary="The yearly joint figures (行刑衔接统计) per agency, for your whole jurisdiction",
)
async def referral_statistics(
    caller: StatisticsReader,
    db: ReadModels,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Default: this year")] = None,
) -> dict[str, Any]:
    return await readmodel.statistics(db, caller, year or today_in_china().year)


@router.get(
    "/v1/referrals/{referral_id}",
    response_model=TrackerRow | ReferralAsOf,
    tags=["tracker"],
    summary="One referral; with ?as_of= or ?version= the referral as recorded then (from its events)",
)
async def get_referral(
    referral_id: UUID,
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    referrals: Referrals,
    as_of: AsOf = None,
    version: AtVersion = None,
) -> dict[str, Any]:
    row = await readmodel.referral(db, cipher, caller, referral_id)  # NotFound unless the caller sees it
    if as_of is None and version is None:
        return row
    referral, recorded_at = await asyncio.to_thread(referrals.state_at, referral_id, "referral", as_of, version)
    return ReferralAsOf(
        as_of=as_of.isoformat() if as_of else None,
        version=referral.version,
        recorded_at=recorded_at.isoformat(),
        referral=ReferralState.of(referral),
    ).model_dump(mode="json")


@router.get(
    "/v1/referrals",
    response_model=TrackerPage,
    tags=["tracker"],
    summary="The referral tracker (移送台账): each referral's step, who owes the next and since when",
)
async def list_referrals(
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    status: Annotated[str | None, Query(max_length=30, description="The current step, e.g. received")] = None,
    receiving_organ: Annotated[ReceivingOrgan | None, Query()] = None,
    organ_code: Annotated[str | None, Query(max_length=18, description="The organ addressed")] = None,
    owed_by: Annotated[Party | None, Query(description="Who owes the next step")] = None,
    case_id: Annotated[UUID | None, Query()] = None,
    opened_from: Annotated[IsoDate | None, Query(description="Reported on or after this day")] = None,
    opened_to: Annotated[IsoDate | None, Query(description="Reported on or before this day")] = None,
    overdue: Annotated[
        bool | None, Query(description="Referrals with (true) or without (false) an overdue deadline")
    ] = None,
    due_before: Annotated[
        IsoDate | None, Query(description="Referrals with an open deadline due before this day")
    ] = None,
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
        organ_code=organ_code,
        owed_by=owed_by,
        opened_from=opened_from,
        opened_to=opened_to,
        overdue=overdue,
        due_before=due_before,
        limit=limit,
        cursor=cursor,
    )


add_tamper_evidence_routes(router)
