"""Referral service REST API: refer a case (移送) to the public security organ or the
procuratorate; the referral tracker."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import or_, select

from services.access.guard import authorize, forbidden
from services.access.policy import (
    Permission,
    is_receiving_organ,
    jurisdiction_clause,
    may,
    sees_agency,
)
from services.infra.auth import Principal
from services.infra.clock import today_in_china
from services.infra.consumer import ProjectionRunner
from services.infra.crypto import masked_copy, revealed_copy
from services.infra.http import (
    IdempotencyKey,
    Problem,
    create_service_app,
    field_problem,
)
from services.infra.pagination import keyset_page
from services.infra.runtime import ServiceRuntime
from services.infra.settings import Settings
from services.infra.storage import event_store_env
from services.referral.application import ReferralApplication
from services.referral.domain import (
    AlreadyReferred,
    KnownCase,
    Officer,
    ReceivingOrgan,
    Referral,
    ReferralRuleViolation,
)
from services.referral.views import (
    ReferralViewsProjection,
    known_cases,
    metadata,
    referral_tracker,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OrganCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]
Referrer = Annotated[Principal, Depends(authorize(Permission.REFER_CASE))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_REFERRALS))]


class ReferRequest(BaseModel):
    """移送: which case, to whom, for what suspected offence, with which materials."""

    model_config = ConfigDict(extra="forbid")
    case_id: UUID
    receiving_organ: ReceivingOrgan
    organ_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    organ_code: OrganCode = Field(description="The receiving organ's unified social credit code: it alone sees the referral")
    copy_to_code: OrganCode | None = Field(
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
    party: dict[str, Any] = Field(description="当事人: a person's identifiers in full for roles that need them, else masked")
    suspected_offence: str
    materials: list[str]
    status: str
    referred_on: str
    filing_decision_due: str
    trace_id: str | None
    recorded_at: str
    updated_at: str


class TrackerPage(BaseModel):
    items: list[TrackerRow]
    next_cursor: str | None


settings = Settings(service_name="referral")
runtime: ServiceRuntime[ReferralApplication] = ServiceRuntime(
    settings,
    metadata,
    application=lambda: ReferralApplication(env=event_store_env(settings)),
    handlers=lambda rt: [ProjectionRunner(rt.settings, ReferralViewsProjection())],
    personal_data=True,
    relay_after=("/caseledger/case",),  # a referral follows from its case's events
)
app = create_service_app(
    "caseledger referral service",
    "1.0.0",
    "Refers cases with a suspected crime (行刑衔接) to the public security organ or the procuratorate; "
    "serves the referral tracker. Knows cases only from the case-events topic.",
    runtime.readiness,
    settings=settings,
    lifespan=runtime.lifespan(),
)


def _visible(caller: Principal) -> Any:
    """Receiving organs see the referrals addressed (or copied) to them; agencies see
    the referrals of cases in their jurisdiction."""
    if is_receiving_organ(caller):
        return or_(referral_tracker.c.organ_code == caller.agency_code, referral_tracker.c.copy_to_code == caller.agency_code)
    return jurisdiction_clause(caller, referral_tracker.c.agency_code, referral_tracker.c.region_code)



@app.post(
    "/v1/referrals",
    status_code=201,
    response_model=ReferralState,
    tags=["referrals"],
    summary="Refer a case (移送) to the public security organ or the procuratorate",
    responses={409: {"description": "Already referred to this organ"}, 422: {"description": "Unknown case"}},
)
async def refer_case(
    body: ReferRequest,
    response: Response,
    caller: Referrer,
    idempotency_key: IdempotencyKey = None,
) -> ReferralState:
    # Retries are safe with or without the key: the referral id is derived from
    # (case, organ), and the same request body replays the first answer.
    async with runtime.db.connect() as conn:
        row = (await conn.execute(select(known_cases).where(known_cases.c.case_id == str(body.case_id)))).first()
    # A case outside the caller's jurisdiction is answered exactly like an unknown one.
    if row is None or not sees_agency(caller, row.agency_code, row.region_code):
        raise field_problem(
            "/case_id",
            "known-case",
            f"case {body.case_id} is not known to the referral service; it learns cases from the case "
            "service's events, so a case filed moments ago may need a second",
            kind="unknown-case",
            title="Unknown case",
        )
    if row.agency_code != caller.agency_code:
        raise forbidden("only the case's own agency refers it")
    case = KnownCase(
        case_id=row.case_id,
        agency_code=row.agency_code,
        agency_name=row.agency_name,
        region_code=row.region_code,
        party=row.party,
    )
    try:
        referral, replayed = await asyncio.to_thread(
            runtime.application.refer,
            case=case,
            receiving_organ=body.receiving_organ,
            organ_name=body.organ_name,
            addressee={"organ_code": body.organ_code, "copy_to_code": body.copy_to_code},
            suspected_offence=body.suspected_offence,
            reason=body.reason,
            officers=body.officers,
            materials=body.materials,
            referred_on=body.referred_on or today_in_china(),
            payload=body.model_dump(mode="json"),
        )
    except ReferralRuleViolation as exc:
        raise field_problem(exc.pointer, exc.rule, str(exc), kind="rule-violation", title="The command breaks a rule") from exc
    except AlreadyReferred as exc:
        raise Problem(409, "already-referred", "Already referred", str(exc), referral_id=str(exc.referral_id)) from exc
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _state(referral)


def _state(referral: Referral) -> ReferralState:
    return ReferralState(
        id=referral.id,
        case_id=UUID(referral.case_id),
        status=referral.status,
        receiving_organ=referral.receiving_organ,
        organ_name=referral.organ_name,
        referred_on=date.fromisoformat(referral.referred_on),
        filing_decision_due=date.fromisoformat(referral.filing_decision_due),
    )


def _tracker_row(row: Any, caller: Principal) -> dict[str, Any]:
    entry = dict(row._mapping)
    party = entry["party"]
    full = may(caller, Permission.READ_PERSONAL_DATA)
    entry["party"] = revealed_copy(party, runtime.cipher, "party") if full else masked_copy(party)
    entry["recorded_at"] = entry["recorded_at"].isoformat()
    entry["updated_at"] = entry["updated_at"].isoformat()
    return entry


@app.get("/v1/referrals/{referral_id}", response_model=TrackerRow, tags=["tracker"], summary="One referral")
async def get_referral(referral_id: UUID, caller: Reader) -> dict[str, Any]:
    row = await runtime.one_or_404(
        select(referral_tracker).where(referral_tracker.c.referral_id == str(referral_id), _visible(caller)),
        f"referral {referral_id} in the tracker (yet)",
    )
    return _tracker_row(row, caller)


@app.get("/v1/referrals", response_model=TrackerPage, tags=["tracker"], summary="The referral tracker (移送台账)")
async def list_referrals(
    caller: Reader,
    status: Annotated[str | None, Query(max_length=30)] = None,
    receiving_organ: Annotated[ReceivingOrgan | None, Query()] = None,
    case_id: Annotated[UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    query = select(referral_tracker).where(_visible(caller))
    if status:
        query = query.where(referral_tracker.c.status == status)
    if receiving_organ:
        query = query.where(referral_tracker.c.receiving_organ == receiving_organ)
    if case_id:
        query = query.where(referral_tracker.c.case_id == str(case_id))
    rows, next_cursor = await keyset_page(
        runtime.db, query, referral_tracker.c.recorded_at, referral_tracker.c.referral_id, limit, cursor
    )
    return {"items": [_tracker_row(r, caller) for r in rows], "next_cursor": next_cursor}
