"""Case service REST API: file (立案), legal review (法制审核), penalty decision
(行政处罚决定); the case ledger; a case's full history for auditors."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from cloudevents.core.formats.json import JSONFormat
from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from services.access.guard import authorize, forbidden
from services.access.policy import (
    Permission,
    acts_for_agency,
    jurisdiction_clause,
    may,
    sees_agency,
)
from services.case.application import (
    CaseApplication,
    CaseNotFound,
    Permit,
    StaleVersion,
)
from services.case.domain import (
    Agency,
    Case,
    CaseStatus,
    IdempotencyConflict,
    IllegalTransition,
    Officer,
    Party,
    Penalty,
    Reviewer,
    ReviewOutcome,
    RuleViolation,
)
from services.case.ledger import (
    CaseLedgerProjection,
    case_ledger,
    ledger_entry,
    metadata,
)
from services.case.personal_data import show_party
from services.infra.auth import Principal
from services.infra.clock import today_in_china
from services.infra.consumer import ProjectionRunner
from services.infra.eventstore import to_cloud_event
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

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
FileCaseCaller = Annotated[Principal, Depends(authorize(Permission.FILE_CASE))]
ReviewCaller = Annotated[Principal, Depends(authorize(Permission.REVIEW_CASE))]
DecideCaller = Annotated[Principal, Depends(authorize(Permission.DECIDE_PENALTY))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_CASES))]
HistoryReader = Annotated[Principal, Depends(authorize(Permission.READ_CASE_HISTORY))]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The case version you last saw, e.g. "3"')]


class FileCaseRequest(BaseModel):
    """立案: the agency, the party, what was violated, and the officers acting."""

    model_config = ConfigDict(extra="forbid")
    agency: Agency
    party: Party
    violation_summary: Text
    violation_date: date
    harm_caused: bool = Field(False, description="Life, health or property harmed: 5-year limitation period")
    legal_basis: Text
    officers: Annotated[list[Officer], Field(min_length=1, max_length=20)]
    filed_on: date | None = Field(None, description="Business date of filing (default: today, China time)")


class LegalReviewRequest(BaseModel):
    """法制审核 outcome: passed, or returned with the reviewer's opinion."""

    model_config = ConfigDict(extra="forbid")
    outcome: ReviewOutcome
    reviewer: Reviewer
    opinion: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""
    reviewed_on: date | None = None


class PenaltyDecisionRequest(BaseModel):
    """行政处罚决定: the decision document number and the penalties."""

    model_config = ConfigDict(extra="forbid")
    decision_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    penalties: Annotated[list[Penalty], Field(min_length=1, max_length=10)]
    decided_on: date | None = None


class ShownParty(BaseModel):
    """当事人 as shown to the caller: a natural person's ID number, phone and address in
    full for roles that need them, masked (430281********1234) for the rest."""

    kind: str
    name: str
    code: str
    legal_representative: str | None = None
    address: str | None = None
    phone: str | None = None


class CaseState(BaseModel):
    """The case as its event store knows it right after the command."""

    id: UUID
    version: int
    status: CaseStatus
    allowed_actions: list[str]
    agency: Agency
    party: ShownParty
    filed_on: date
    decision_due: date
    decision_number: str | None


class LedgerEntry(BaseModel):
    case_id: str
    agency_code: str
    agency_name: str
    region_code: str
    party_kind: str
    party_name: str
    party_code: str
    party: ShownParty
    violation_summary: str
    legal_basis: str
    status: str
    version: int
    filed_on: str
    decision_due: str
    review_outcome: str | None
    decision_number: str | None
    decided_on: str | None
    penalties: list[dict[str, Any]] | None
    fine_total_yuan: int | None
    referral_status: str
    referral_organ: str | None
    publication_status: str
    published_on: str | None
    last_event_type: str
    last_event_id: str
    trace_id: str | None
    recorded_at: str
    updated_at: str


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    next_cursor: str | None


settings = Settings(service_name="case")
runtime: ServiceRuntime[CaseApplication] = ServiceRuntime(
    settings,
    metadata,
    application=lambda: CaseApplication(env=event_store_env(settings), cipher=runtime.cipher),
    handlers=lambda rt: [ProjectionRunner(rt.settings, CaseLedgerProjection(rt.cipher))],
    personal_data=True,
)
app = create_service_app(
    "caseledger case service",
    "1.0.0",
    "Files enforcement cases (立案), records legal reviews (法制审核) and penalty decisions "
    "(行政处罚决定); serves the case ledger built from the case-events topic.",
    runtime.readiness,
    settings=settings,
    lifespan=runtime.lifespan(),
)


def _permit(principal: Principal, *, acting: bool) -> Permit:
    """A case outside the caller's jurisdiction does not exist for them (404); a case they
    may see but not act on (a subordinate agency's) is forbidden (403)."""

    def permit(case: Case) -> None:
        if not sees_agency(principal, case.agency["code"], case.agency["region_code"]):
            raise CaseNotFound(str(case.id))
        if acting and not acts_for_agency(principal, case.agency["code"]):
            raise forbidden("only the case's own agency acts on it")

    return permit


def _full_personal_data(principal: Principal) -> bool:
    return may(principal, Permission.READ_PERSONAL_DATA)



def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise field_problem("If-Match", "etag", 'expected a case version, e.g. "3"', where="header") from None


def _run(command: Any) -> tuple[Case, bool]:
    """Run a case command, turning domain refusals into problem responses."""
    try:
        result: tuple[Case, bool] = command()
        return result
    except RuleViolation as exc:
        raise field_problem(exc.pointer, exc.rule, str(exc), kind="rule-violation", title="The command breaks a rule") from exc
    except IllegalTransition as exc:
        raise Problem(
            409,
            "illegal-in-current-state",
            "Not allowed in the case's current state",
            str(exc),
            current_state=exc.status,
            allowed_actions=list(exc.allowed),
        ) from exc
    except StaleVersion as exc:
        raise Problem(
            412,
            "stale-version",
            "The case has changed since you read it",
            str(exc),
            headers={"ETag": f'"{exc.current}"'},
            current_version=exc.current,
        ) from exc
    except CaseNotFound as exc:
        raise Problem(404, "not-found", "Not found", f"no case {exc}") from exc
    except IdempotencyConflict as exc:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc)) from exc


def _answer(response: Response, case: Case, replayed: bool, principal: Principal) -> CaseState:
    response.headers["ETag"] = f'"{case.version}"'
    response.headers["Location"] = f"/v1/cases/{case.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CaseState(
        id=case.id,
        version=case.version,
        status=case.status,  # type: ignore[arg-type]
        allowed_actions=list(case.allowed_actions),
        agency=case.agency,
        party=ShownParty(**show_party(case.party, runtime.cipher, _full_personal_data(principal))),
        filed_on=date.fromisoformat(case.filed_on),
        decision_due=date.fromisoformat(case.decision_due),
        decision_number=case.decision_number,
    )


@app.post("/v1/cases", status_code=201, response_model=CaseState, tags=["cases"], summary="File a case (立案)")
def file_case(
    body: FileCaseRequest, response: Response, caller: FileCaseCaller, idempotency_key: IdempotencyKey = None
) -> CaseState:
    if body.agency["code"] != caller.agency_code or body.agency["region_code"] != caller.region_code:
        raise Problem(
            403,
            "forbidden",
            "Not permitted",
            "a case is filed by the caller's own agency: /agency must match the token's agency",
            errors=[{"pointer": "/agency/code", "in": "body", "rule": "own-agency", "detail": "not your agency"}],
        )
    case, replayed = _run(
        lambda: runtime.application.file_case(
            agency=body.agency,
            party=body.party,
            violation_summary=body.violation_summary,
            violation_date=body.violation_date,
            harm_caused=body.harm_caused,
            legal_basis=body.legal_basis,
            officers=body.officers,
            filed_on=body.filed_on or today_in_china(),
            idempotency_key=idempotency_key,
            payload=body.model_dump(mode="json"),
            permit=_permit(caller, acting=True),
        )
    )
    return _answer(response, case, replayed, caller)


@app.post(
    "/v1/cases/{case_id}/legal-reviews",
    response_model=CaseState,
    tags=["cases"],
    summary="Record the legal review (法制审核)",
    responses={409: {"description": "Not allowed in the current state"}, 412: {"description": "Stale If-Match"}},
)
def record_legal_review(
    case_id: UUID,
    body: LegalReviewRequest,
    response: Response,
    caller: ReviewCaller,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = _run(
        lambda: runtime.application.record_legal_review(
            case_id,
            outcome=body.outcome,
            reviewer=body.reviewer,
            opinion=body.opinion,
            reviewed_on=body.reviewed_on or today_in_china(),
            expected_version=_expected_version(if_match),
            idempotency_key=idempotency_key,
            payload=body.model_dump(mode="json"),
            permit=_permit(caller, acting=True),
        )
    )
    return _answer(response, case, replayed, caller)


@app.post(
    "/v1/cases/{case_id}/penalty-decision",
    response_model=CaseState,
    tags=["cases"],
    summary="Decide the penalty (行政处罚决定), only after a passed legal review",
    responses={409: {"description": "Not allowed in the current state"}, 412: {"description": "Stale If-Match"}},
)
def decide_penalty(
    case_id: UUID,
    body: PenaltyDecisionRequest,
    response: Response,
    caller: DecideCaller,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = _run(
        lambda: runtime.application.decide_penalty(
            case_id,
            decision_number=body.decision_number,
            decided_on=body.decided_on or today_in_china(),
            penalties=body.penalties,
            expected_version=_expected_version(if_match),
            idempotency_key=idempotency_key,
            payload=body.model_dump(mode="json"),
            permit=_permit(caller, acting=True),
        )
    )
    return _answer(response, case, replayed, caller)


@app.get("/v1/cases/{case_id}", response_model=LedgerEntry, tags=["ledger"], summary="A case's ledger entry")
async def get_ledger_entry(case_id: UUID, response: Response, caller: Reader) -> dict[str, Any]:
    row = await runtime.one_or_404(
        select(case_ledger).where(
            case_ledger.c.case_id == str(case_id),
            jurisdiction_clause(caller, case_ledger.c.agency_code, case_ledger.c.region_code),
        ),
        f"case {case_id} in the ledger (yet)",
    )
    entry = ledger_entry(row, runtime.cipher, _full_personal_data(caller))
    response.headers["ETag"] = f'"{entry["version"]}"'
    return entry


@app.get("/v1/cases", response_model=LedgerPage, tags=["ledger"], summary="The case ledger, filtered and paginated")
async def list_cases(
    caller: Reader,
    status: Annotated[CaseStatus | None, Query()] = None,
    agency_code: Annotated[str | None, Query(max_length=18)] = None,
    party_code: Annotated[str | None, Query(max_length=18)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    query = select(case_ledger).where(jurisdiction_clause(caller, case_ledger.c.agency_code, case_ledger.c.region_code))
    if status:
        query = query.where(case_ledger.c.status == status)
    if agency_code:
        query = query.where(case_ledger.c.agency_code == agency_code)
    if party_code:
        # A person is found by the keyed digest of their ID number, an enterprise by its code.
        wanted = party_code.strip().upper()
        query = query.where(case_ledger.c.party_code.in_([wanted, runtime.cipher.digest(wanted)]))
    rows, next_cursor = await keyset_page(
        runtime.db, query, case_ledger.c.recorded_at, case_ledger.c.case_id, limit, cursor
    )
    full = _full_personal_data(caller)
    return {"items": [ledger_entry(r, runtime.cipher, full) for r in rows], "next_cursor": next_cursor}


@app.get(
    "/v1/cases/{case_id}/history",
    tags=["audit"],
    summary="Every stored event of a case, as CloudEvents, oldest first (for auditors)",
)
def case_history(case_id: UUID, caller: HistoryReader) -> Response:
    try:
        events = runtime.application.history(case_id, permit=_permit(caller, acting=False))
    except CaseNotFound:
        raise Problem(404, "not-found", "Not found", f"no case {case_id}") from None
    fmt = JSONFormat()
    full = _full_personal_data(caller)
    body = [json.loads(fmt.write(to_cloud_event(e, CaseApplication.source))) for e in events]
    for event in body:
        if "party" in event["data"]:
            event["data"]["party"] = show_party(event["data"]["party"], runtime.cipher, full)
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
