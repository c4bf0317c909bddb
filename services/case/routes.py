"""Case service REST API: file (立案), legal review (法制审核), penalty decision
(行政处罚决定); the case ledger; a case's full history for auditors."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Annotated, Any, Literal
from urllib.parse import unquote
from uuid import UUID

from fastapi import Depends, Path, Query, Request, Response

from services.access.guard import Reason, add_tamper_evidence_routes, authorize
from services.access.policy import Permission, reads_personal_data, sees_agency
from services.case import readmodel
from services.case.application import CaseApplication
from services.case.domain import Case, CaseStatus, RespondentState
from services.case.schemas import (
    AnnotationRequest,
    ArchiveRequest,
    CaseAsOf,
    CaseState,
    ClosureRequest,
    CollectiveDiscussionRequest,
    CommandRequest,
    CourtApplicationRequest,
    CourtRulingRequest,
    DeadlineExtensionRequest,
    DismissalRequest,
    EvidenceRequest,
    FileCaseRequest,
    HearingRecordRequest,
    HearingRequest,
    HearingScheduleRequest,
    HistoryEvent,
    InquiryRequest,
    LedgerEntry,
    LedgerPage,
    LegalReviewRequest,
    MeasureConclusionRequest,
    MeasureExtensionRequest,
    MeasureRequest,
    NoPenaltyRequest,
    OnTheSpotRequest,
    PaymentArrangementRequest,
    PaymentRequest,
    PenaltyDecisionRequest,
    PriorNoticeRequest,
    ReadPage,
    RemedyDecisionRequest,
    RemedyRequest,
    ReminderRequest,
    ReportRequest,
    RulePage,
    RuleView,
    ServiceConsentRequest,
    ServiceRequest,
    StatementRequest,
    TimelinePage,
)
from services.infra.app import Cipher, ReadModels, service_application
from services.infra.endpoints import (
    ETAG_HEADER,
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
from services.infra.errors import InvalidInput
from services.infra.formats import IsoDate, IsoInstant
from services.infra.identity import Principal
from services.infra.pagination import list_page, position_after
from services.infra.read_audit import ReadAudit
from services.infra.strict_json import service_router

router = service_router()
Cases = Annotated[CaseApplication, Depends(service_application)]
FileCaseCaller = Annotated[Principal, Depends(authorize(Permission.FILE_CASE))]
OnTheSpotCaller = Annotated[Principal, Depends(authorize(Permission.DECIDE_ON_THE_SPOT))]
DecideCaller = Annotated[Principal, Depends(authorize(Permission.DECIDE_PENALTY))]
Reader = Annotated[Principal, Depends(authorize(Permission.READ_CASES))]
HistoryReader = Annotated[Principal, Depends(authorize(Permission.READ_CASE_HISTORY))]
Extender = Annotated[Principal, Depends(authorize(Permission.EXTEND_DEADLINE))]
RulesReader = Annotated[Principal, Depends(authorize(Permission.READ_RULES))]
RespondentNo = Annotated[int, Path(ge=1, le=10, description="The respondent's number (1 = the first named)")]
MeasureNo = Annotated[int, Path(ge=1, le=1000, description="The measure's number in the case")]
ReadAuditor = Annotated[Principal, Depends(authorize(Permission.READ_READ_AUDIT))]


async def _read_audit(request: Request) -> ReadAudit:
    store: ReadAudit = request.app.state.runtime.stores["reads"]
    return store


ReadLog = Annotated[ReadAudit, Depends(_read_audit)]
OnDate = Annotated[
    IsoDate | None,
    Query(description="YYYY-MM-DD: only the version in force that day (with your region's override)"),
]
COMMAND_ANSWERS: dict[int | str, dict[str, Any]] = {
    **command_answer(200, "Recorded (a retry: the resource as it is now, nothing recorded again)"),
    409: {"description": "Not allowed in the current state (the state and the allowed actions)"},
    412: {"description": "Stale If-Match, or a weak one (If-Match compares strongly)"},
}


def _answer(response: Response, cases: CaseApplication, caller: Principal, case: Case, replayed: bool) -> CaseState:
    answered(response, f"/v1/cases/{case.id}", replayed, case.version)
    return CaseState.of(case, cases.parties_seen_by(caller, case))


@router.post(
    "/v1/cases",
    status_code=201,
    response_model=CaseState,
    tags=["cases"],
    summary="File a case (立案)",
    responses=command_answer(201, "Filed (or, for a retry, the case it filed first)"),
)
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
    "/v1/cases/on-the-spot",
    status_code=201,
    response_model=CaseState,
    tags=["cases"],
    summary="Decide on the spot (简易程序, 当场处罚): a warning or a fine within the catalogue's limit",
)
def decide_on_the_spot(
    body: OnTheSpotRequest,
    response: Response,
    caller: OnTheSpotCaller,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
) -> CaseState:
    case, replayed = cases.decide_on_the_spot(caller, body, idempotency_key)
    return _answer(response, cases, caller, case, replayed)


def _command(
    path: str,
    action: str,
    request: type[CommandRequest],
    permission: Permission,
    summary: str,
    target: Literal["respondent", "measure_no"] | None = None,
) -> None:
    """A route for the case command ``action`` (a method of Case): the body is its
    arguments, the path's number its target (the respondent or the measure)."""

    def handler(**given: Any) -> CaseState:
        targets = {target: given["number"]} if target else {}
        cases: CaseApplication = given["cases"]
        version = expected_version(given["if_match"])
        case, replayed = cases.command(
            given["caller"], given["case_id"], action, given["body"], given["idempotency_key"], version, **targets
        )
        return _answer(given["response"], cases, given["caller"], case, replayed)

    def parameter(name: str, annotation: Any, **default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, **default)

    numbered = [parameter("number", RespondentNo if target == "respondent" else MeasureNo)] if target else []
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            parameter("case_id", UUID),
            *numbered,
            parameter("body", request),
            parameter("response", Response),
            parameter("caller", Annotated[Principal, Depends(authorize(permission))]),
            parameter("cases", Cases),
            parameter("idempotency_key", IdempotencyKey, default=None),
            parameter("if_match", IfMatch, default=None),
        ],
        return_annotation=CaseState,
    )
    handler.__name__ = action
    router.post(path, response_model=CaseState, tags=["cases"], summary=summary, responses=COMMAND_ANSWERS)(handler)


P = Permission
_command(
    "/v1/cases/{case_id}/evidence",
    "record_evidence",
    EvidenceRequest,
    P.INVESTIGATE,
    "Record evidence by reference and content hash (证据, 全过程记录)",
)
_command(
    "/v1/cases/{case_id}/inquiries",
    "record_inquiry",
    InquiryRequest,
    P.INVESTIGATE,
    "Record an inspection or an interview by two officers or more (现场检查、询问)",
)
_command(
    "/v1/cases/{case_id}/measures",
    "take_measure",
    MeasureRequest,
    P.INVESTIGATE,
    "Preserve evidence in advance (先行登记保存, decision in 7 working days) or seal/seize (查封扣押, 30 days)",
)
_command(
    "/v1/cases/{case_id}/measures/{number}/extension",
    "extend_measure",
    MeasureExtensionRequest,
    P.EXTEND_DEADLINE,
    "Extend a sealing or seizure once (延长查封扣押), approved by the agency head",
    "measure_no",
)
_command(
    "/v1/cases/{case_id}/measures/{number}/conclusion",
    "conclude_measure",
    MeasureConclusionRequest,
    P.INVESTIGATE,
    "Conclude a measure: its decision or release (处理决定、解除)",
    "measure_no",
)
_command(
    "/v1/cases/{case_id}/legal-reviews",
    "record_legal_review",
    LegalReviewRequest,
    P.REVIEW_CASE,
    "Record the legal review (法制审核)",
)
_command(
    "/v1/cases/{case_id}/collective-discussions",
    "record_collective_discussion",
    CollectiveDiscussionRequest,
    P.DISCUSS,
    "Record the collective discussion (负责人集体讨论), after a passed review",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/prior-notice",
    "serve_prior_notice",
    PriorNoticeRequest,
    P.NOTIFY,
    "Serve the prior notice (事先告知) on one respondent",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/statements",
    "record_statement",
    StatementRequest,
    P.NOTIFY,
    "Record a respondent's statement, defence or waiver (陈述、申辩)",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/hearing-request",
    "request_hearing",
    HearingRequest,
    P.NOTIFY,
    "Record a respondent's hearing request (听证申请), within its period",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/hearing-schedule",
    "schedule_hearing",
    HearingScheduleRequest,
    P.HEAR,
    "Notify the hearing's time, place and chair (听证通知)",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/hearing-record",
    "record_hearing",
    HearingRecordRequest,
    P.HEAR,
    "Record the hearing held (听证笔录)",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/no-penalty",
    "not_penalise",
    NoPenaltyRequest,
    P.DECIDE_PENALTY,
    "Decide not to penalise a respondent (不予处罚, 首违不罚)",
    "respondent",
)
_command("/v1/cases/{case_id}/dismissal", "dismiss", DismissalRequest, P.DECIDE_PENALTY, "Dismiss the case (撤销立案)")
_command(
    "/v1/cases/{case_id}/report",
    "report_to_agency",
    ReportRequest,
    P.DECIDE_ON_THE_SPOT,
    "Report an on-the-spot decision to the agency (备案)",
)
# After the decision (issue 12).
_command(
    "/v1/cases/{case_id}/respondents/{number}/service-consent",
    "record_service_consent",
    ServiceConsentRequest,
    P.SERVE,
    "Record a respondent's consent to electronic service (同意电子送达)",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/service",
    "serve_decision",
    ServiceRequest,
    P.SERVE,
    "Serve the decision (送达): starts the payment and remedy periods",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/payment-arrangement",
    "arrange_payment",
    PaymentArrangementRequest,
    P.ARRANGE_PAYMENT,
    "Approve a deferral or instalments (暂缓、分期缴纳): the payment deadline moves",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/payments",
    "record_payment",
    PaymentRequest,
    P.RECORD_PAYMENT,
    "Record a payment at the bank by its receipt reference (罚款缴纳, part or all)",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/remedies",
    "file_remedy",
    RemedyRequest,
    P.RECORD_REMEDY,
    "Record a reconsideration applied for or a suit filed (行政复议、行政诉讼), within its period",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/remedy-decision",
    "decide_remedy",
    RemedyDecisionRequest,
    P.RECORD_REMEDY,
    "Record the pending remedy's decision; a revoked, changed, void or illegal decision is corrected",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/reminder",
    "serve_reminder",
    ReminderRequest,
    P.SERVE,
    "Serve the written reminder (催告) on a party who neither paid nor sought a remedy",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/court-application",
    "apply_to_court",
    CourtApplicationRequest,
    P.ENFORCE,
    "Apply to the court for enforcement (申请人民法院强制执行), within its window",
    "respondent",
)
_command(
    "/v1/cases/{case_id}/respondents/{number}/court-ruling",
    "record_court_ruling",
    CourtRulingRequest,
    P.RECORD_PAYMENT,
    "Record the court's ruling and what was recovered",
    "respondent",
)
_command("/v1/cases/{case_id}/closure", "close_case", ClosureRequest, P.CLOSE_CASE, "Close the case (结案)")
_command("/v1/cases/{case_id}/archive", "archive_case", ArchiveRequest, P.CLOSE_CASE, "Archive the case (归档)")
_command("/v1/cases/{case_id}/annotations", "annotate", AnnotationRequest, P.ANNOTATE, "Annotate a closed case (备注)")


@router.post(
    "/v1/cases/{case_id}/respondents/{number}/penalty-decision",
    response_model=CaseState,
    tags=["cases"],
    summary="Decide one respondent's penalty (行政处罚决定); the system assigns the decision number",
    responses=COMMAND_ANSWERS,
)
def decide_penalty(
    case_id: UUID,
    number: RespondentNo,
    body: PenaltyDecisionRequest,
    response: Response,
    caller: DecideCaller,
    cases: Cases,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseState:
    case, replayed = cases.decide_penalty(caller, case_id, number, body, idempotency_key, expected_version(if_match))
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
    case, replayed = cases.command(
        caller, case_id, "extend_deadline", body, idempotency_key, expected_version(if_match), name=name
    )
    return _answer(response, cases, caller, case, replayed)


@router.get(
    # Only a UUID is a case: /v1/cases/on-the-spot is another resource (405 for GET, not 422).
    "/v1/cases/{case_id:uuid}",
    response_model=LedgerEntry | CaseAsOf,
    tags=["ledger"],
    summary="A case's ledger entry; with ?as_of= or ?version= the case as recorded then (from its events)",
    responses={200: {"description": "The ledger entry", "headers": {"ETag": ETAG_HEADER}}},
)
async def get_ledger_entry(
    case_id: UUID,
    response: Response,
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    cases: Cases,
    reads: ReadLog,
    as_of: AsOf = None,
    version: AtVersion = None,
    reason: Reason = None,
) -> dict[str, Any]:
    if as_of is not None or version is not None:
        case, recorded_at = await asyncio.to_thread(cases.as_of, caller, case_id, as_of, version)
        await _record_full_read(reads, cases, caller, case, "personal-data", reason)
        return CaseAsOf(
            as_of=as_of.isoformat() if as_of else None,
            version=case.version,
            recorded_at=recorded_at.isoformat(),
            case=CaseState.of(case, cases.parties_seen_by(caller, case)),
        ).model_dump(mode="json")
    entry = await readmodel.ledger_entry(db, cipher, caller, case_id)
    for code in _people_shown_in_full(caller, entry):
        await _record(reads, caller, "personal-data", case_id, _person(entry), cipher.digest(code), reason)
    response.headers["ETag"] = f'"{entry["version"]}"'
    return entry


DateQuery = Annotated[IsoDate | None, Query(description="YYYY-MM-DD")]


def _shows_person_in_full(caller: Principal, party_kind: str) -> bool:
    return party_kind == "natural_person" and reads_personal_data(caller)


def _people_shown_in_full(caller: Principal, entry: dict[str, Any]) -> list[str]:
    """The ID numbers a ledger entry shows in full to ``caller``: every natural person among
    its respondents (一案双罚: the principal is often the second)."""
    if not reads_personal_data(caller):
        return []
    parties = [entry["party"], *(r["party"] for r in entry.get("respondents", []))]
    return sorted({p["code"].upper() for p in parties if p.get("kind") == "natural_person"})


def _person(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as the read of one natural person among its respondents."""
    return {**entry, "party_kind": "natural_person"}


async def _record(
    reads: ReadAudit,
    caller: Principal,
    what: str,
    case_id: UUID,
    entry: dict[str, Any],
    subject: str,
    reason: str | None,
) -> None:
    agency = {"code": entry["agency_code"], "region_code": entry["region_code"]}
    full = _shows_person_in_full(caller, entry["party_kind"])
    await asyncio.to_thread(
        reads.record,
        caller,
        what,
        case_id,
        agency,
        subject=subject,
        reason=unquote(reason) if reason else None,
        full_personal_data=full,
    )


async def _record_full_read(
    reads: ReadAudit, cases: CaseApplication, caller: Principal, case: Case, what: str, reason: str | None
) -> None:
    """Record ``what`` of the case: always for a history or an export, for any other read
    only when it showed a person's data in full (a masked read is not a full read)."""
    kinds = {track.party["kind"] for track in case.tracks} | {case.party["kind"]}
    kind = "natural_person" if "natural_person" in kinds else case.party["kind"]
    if what == "personal-data" and not _shows_person_in_full(caller, kind):
        return
    entry = {"agency_code": case.agency["code"], "region_code": case.agency["region_code"], "party_kind": kind}
    await _record(reads, caller, what, case.id, entry, cases.subject_of(case), reason)


@router.get("/v1/cases", response_model=LedgerPage, tags=["ledger"], summary="The case ledger, filtered and paginated")
async def list_cases(
    caller: Reader,
    db: ReadModels,
    cipher: Cipher,
    reads: ReadLog,
    status: Annotated[CaseStatus | None, Query()] = None,
    agency_code: Annotated[str | None, Query(max_length=18)] = None,
    region_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{6}$", description="A region and the regions under it")
    ] = None,
    party_code: Annotated[str | None, Query(max_length=18, description="Any respondent's code")] = None,
    decision_number: Annotated[str | None, Query(max_length=60, description="Any respondent's decision")] = None,
    respondent_state: Annotated[RespondentState | None, Query(description="Cases with a respondent in it")] = None,
    filed_from: DateQuery = None,
    filed_to: DateQuery = None,
    decided_from: Annotated[IsoDate | None, Query(description="A respondent decided on or after this day")] = None,
    decided_to: DateQuery = None,
    due_from: Annotated[IsoDate | None, Query(description="An open deadline due on or after this day")] = None,
    due_to: DateQuery = None,
    overdue: Annotated[
        bool | None, Query(description="Cases with (true) or without (false) an overdue deadline")
    ] = None,
    due_before: Annotated[IsoDate | None, Query(description="Cases with an open deadline due before this day")] = None,
    remedy_status: Annotated[
        str | None, Query(max_length=40, description="A respondent's remedy, e.g. reconsideration_pending")
    ] = None,
    enforcement_status: Annotated[
        Literal["none", "reminded", "applied", "granted", "refused"] | None,
        Query(description="A respondent's court enforcement"),
    ] = None,
    unpaid: Annotated[
        bool | None, Query(description="Cases with (true) or without (false) a fine served and not yet paid")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    reason: Reason = None,
) -> dict[str, Any]:
    wanted = readmodel.LedgerFilter(
        status=status,
        agency_code=agency_code,
        region_code=region_code,
        party_code=party_code,
        decision_number=decision_number,
        respondent_state=respondent_state,
        filed_from=filed_from,
        filed_to=filed_to,
        decided_from=decided_from,
        decided_to=decided_to,
        due_from=due_from,
        due_to=due_to,
        due_before=due_before,
        overdue=overdue,
        remedy_status=remedy_status,
        enforcement_status=enforcement_status,
        unpaid=unpaid,
    )
    page = await readmodel.ledger_page(db, cipher, caller, wanted, limit=limit, cursor=cursor)
    for entry in page["items"]:  # each person shown in full is a full read of their case
        for code in _people_shown_in_full(caller, entry):
            await _record(
                reads, caller, "personal-data", UUID(entry["case_id"]), _person(entry), cipher.digest(code), reason
            )
    return page


@router.get(
    "/v1/cases/{case_id}/history",
    response_model=list[HistoryEvent],
    tags=["audit"],
    summary="Every stored event of a case, as CloudEvents, oldest first (for auditors)",
)
async def case_history(
    case_id: UUID, caller: HistoryReader, cases: Cases, reads: ReadLog, reason: Reason = None
) -> Response:
    history = await asyncio.to_thread(cases.history, caller, case_id)
    await _record_full_read(reads, cases, caller, await asyncio.to_thread(cases.get_case, case_id), "history", reason)
    return Response(json.dumps(history, ensure_ascii=False), media_type="application/json")


@router.get(
    "/v1/cases/{case_id}/timeline",
    response_model=TimelinePage,
    tags=["audit"],
    summary="One history of the case across services (case, referral, disclosure events), in causal order",
)
async def case_timeline(
    case_id: UUID,
    caller: HistoryReader,
    db: ReadModels,
    cipher: Cipher,
    reads: ReadLog,
    limit: Limit = 50,
    cursor: Cursor = None,
    reason: Reason = None,
) -> dict[str, Any]:
    row, page = await readmodel.timeline_page(db, cipher, caller, case_id, limit, cursor)
    await _record(reads, caller, "history", case_id, dict(row._mapping), row.party_code, reason)
    return page


@router.get(
    "/v1/cases/{case_id}/export",
    tags=["audit"],
    summary="The case file (案卷): every event with its inclusion proof in a signed head, offline-verifiable",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export_case_file(
    case_id: UUID, request: Request, caller: HistoryReader, cases: Cases, reads: ReadLog, reason: Reason = None
) -> Response:
    runtime = request.app.state.runtime
    archive = await asyncio.to_thread(cases.case_file, caller, case_id, runtime.logs["events"], runtime.signer)
    await _record_full_read(reads, cases, caller, await asyncio.to_thread(cases.get_case, case_id), "export", reason)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="case-file-{case_id}.zip"'},
    )


@router.get(
    "/v1/audit/reads",
    response_model=ReadPage,
    tags=["audit"],
    summary="The audit of reads: full reads of personal data, history reads, exports, oldest first",
)
async def list_reads(
    caller: ReadAuditor,
    reads: ReadLog,
    cipher: Cipher,
    case_id: Annotated[UUID | None, Query()] = None,
    subject: Annotated[
        str | None, Query(max_length=18, description="an enterprise's code or a person's ID number")
    ] = None,
    since: Annotated[IsoInstant | None, Query(description="RFC 3339 with offset, inclusive")] = None,
    until: Annotated[IsoInstant | None, Query(description="RFC 3339 with offset, exclusive")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(
                f"/{name}", "rfc3339-offset", "give the moment with its offset (Z or +08:00)", where="query"
            )
    after = position_after(cursor)
    # A person is found by the keyed digest of their ID number, an enterprise by its code.
    wanted = {subject.strip().upper(), cipher.digest(subject.strip().upper())} if subject else None
    items, next_position = await asyncio.to_thread(
        reads.query,
        lambda agency: sees_agency(caller, agency["code"], agency["region_code"]),
        case_id=case_id,
        subjects=wanted,
        since=since,
        until=until,
        limit=limit,
        after=after,
    )
    return {"items": items, "next_cursor": str(next_position) if next_position else None}


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


add_tamper_evidence_routes(router)
