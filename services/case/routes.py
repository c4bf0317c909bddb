"""Case service REST API: file (立案), legal review (法制审核), penalty decision
(行政处罚决定); the case ledger; a case's full history for auditors."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response

from services.access.guard import authorize
from services.access.policy import Permission
from services.case import readmodel
from services.case.application import CaseApplication
from services.case.domain import Case, CaseStatus
from services.case.schemas import (
    CaseState,
    DeadlineExtensionRequest,
    FileCaseRequest,
    LedgerEntry,
    LedgerPage,
    LegalReviewRequest,
    PenaltyDecisionRequest,
    RulePage,
    RuleView,
)
from services.infra.app import Cipher, ReadModels, service_application
from services.infra.endpoints import Cursor, IdempotencyKey, IfMatch, Limit, answered, expected_version
from services.infra.identity import Principal
from services.infra.pagination import list_page

router = APIRouter()
Cases = Annotated[CaseApplication, Depends(service_application)]
FileCaseCaller = Annotated[Principal, Depends(authorize(Permission.FILE_CASE))]
ReviewCaller = Annotated[Principal, Depends(authorize(Permission.REVIEW_CASE))]
DecideCaller = Annotated[Principal, Depends(authorize(Permission.DECIDE_PENALTY))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_CASES))]
HistoryReader = Annotated[Principal, Depends(authorize(Permission.READ_CASE_HISTORY))]
Extender = Annotated[Principal, Depends(authorize(Permission.EXTEND_DEADLINE))]
RulesReader = Annotated[Principal, Depends(authorize(Permission.READ_RULES))]
OnDate = Annotated[
    date | None,
    Query(description="YYYY-MM-DD: only the version in force that day (with your region's override)"),
]
COMMAND_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the current state"},
    412: {"description": "Stale If-Match"},
}


def _answer(response: Response, cases: CaseApplication, caller: Principal, case: Case, replayed: bool) -> CaseState:
    answered(response, f"/v1/cases/{case.id}", replayed, case.version)
    return CaseState.of(case, cases.party_seen_by(caller, case))


@router.post("/v1/cases", status_code=201, response_model=CaseState, tags=["cases"], summary="File a case (立案)")
def file_case(
    body: FileCaseRequest,
    response: Response,
    caller: FileCaseCaller,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
) -> CaseState:
    case, replayed = cases.file_case(caller, body, idempotency_key)
    return _answer(response, cases, caller, case, replayed)


@router.post(
    "/v1/cases/{case_id}/legal-reviews",
    response_model=CaseState,
    tags=["cases"],
    summary="Record the legal review (法制审核)",
    responses=COMMAND_ANSWERS,
)
def record_legal_review(
    case_id: UUID,
    body: LegalReviewRequest,
    response: Response,
    caller: ReviewCaller,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = cases.record_legal_review(caller, case_id, body, idempotency_key, expected_version(if_match))
    return _answer(response, cases, caller, case, replayed)


@router.post(
    "/v1/cases/{case_id}/penalty-decision",
    response_model=CaseState,
    tags=["cases"],
    summary="Decide the penalty (行政处罚决定), only after a passed legal review",
    responses=COMMAND_ANSWERS,
)
def decide_penalty(
    case_id: UUID,
    body: PenaltyDecisionRequest,
    response: Response,
    caller: DecideCaller,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = cases.decide_penalty(caller, case_id, body, idempotency_key, expected_version(if_match))
    return _answer(response, cases, caller, case, replayed)


@router.post(
    "/v1/cases/{case_id}/deadlines/{name}/extensions",
    response_model=CaseState,
    tags=["cases"],
    summary="Extend or suspend a deadline (延期、中止), approved by the agency head: a new due date and why",
    responses=COMMAND_ANSWERS,
)
def extend_deadline(
    case_id: UUID,
    name: Annotated[str, Path(pattern=r"^[a-z][a-z_]{0,39}$")],
    body: DeadlineExtensionRequest,
    response: Response,
    caller: Extender,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = cases.extend_deadline(caller, case_id, name, body, idempotency_key, expected_version(if_match))
    return _answer(response, cases, caller, case, replayed)


@router.get("/v1/cases/{case_id}", response_model=LedgerEntry, tags=["ledger"], summary="A case's ledger entry")
async def get_ledger_entry(
    case_id: UUID, response: Response, caller: Reader, db: ReadModels, cipher: Cipher
) -> dict[str, Any]:
    entry = await readmodel.ledger_entry(db, cipher, caller, case_id)
    response.headers["ETag"] = f'"{entry["version"]}"'
    return entry


@router.get("/v1/cases", response_model=LedgerPage, tags=["ledger"], summary="The case ledger, filtered and paginated")
async def list_cases(
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    status: Annotated[CaseStatus | None, Query()] = None,
    agency_code: Annotated[str | None, Query(max_length=18)] = None,
    party_code: Annotated[str | None, Query(max_length=18)] = None,
    overdue: Annotated[
        bool | None, Query(description="Cases with (true) or without (false) an overdue deadline")
    ] = None,
    due_before: Annotated[date | None, Query(description="Cases with an open deadline due before this day")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.ledger_page(
        db,
        cipher,
        caller,
        status=status,
        agency_code=agency_code,
        party_code=party_code,
        overdue=overdue,
        due_before=due_before,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/v1/cases/{case_id}/history",
    tags=["audit"],
    summary="Every stored event of a case, as CloudEvents, oldest first (for auditors)",
)
def case_history(case_id: UUID, caller: HistoryReader, cases: Cases) -> Response:
    return Response(json.dumps(cases.history(caller, case_id), ensure_ascii=False), media_type="application/json")


@router.get("/v1/rules", response_model=RulePage, tags=["rules"], summary="The rules catalogue, paginated by rule id")
async def list_rules(
    caller: RulesReader, cases: Cases, on: OnDate = None, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    items, next_cursor = list_page(cases.rules(on, caller.region_code), lambda r: str(r["id"]), limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/v1/rules/{rule_id}", response_model=RuleView, tags=["rules"], summary="One rule of the catalogue")
async def get_rule(
    caller: RulesReader,
    cases: Cases,
    rule_id: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=120)],
    on: OnDate = None,
) -> dict[str, Any]:
    return cases.rule(rule_id, on, caller.region_code)
