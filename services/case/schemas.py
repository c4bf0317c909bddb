"""The case service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.case.domain import (
    Agency,
    Approver,
    ArrangementKind,
    Case,
    CaseStatus,
    CourtRuling,
    DeadlineChange,
    DisclosureFacts,
    Discretion,
    DocumentRef,
    EvidenceKind,
    InquiryKind,
    Instalment,
    MeasureKind,
    Name,
    NoPenaltyGround,
    Party,
    Penalty,
    RemedyKind,
    RemedyOutcome,
    Reviewer,
    ReviewOutcome,
    ServiceMethod,
    Sha256,
    ShortName,
    ShortText,
    StatementKind,
    Track,
    WithheldBecause,
)
from services.common.deadlines import RecordedDeadline
from services.common.officers import Officer
from services.infra.clock import today_in_china
from services.infra.formats import Instant, IsoDate

# Two officers with distinct certificates act (行政处罚法 Art. 42): fewer, or two sharing a
# certificate_no, are refused (422 two-officers).
TWO_OFFICERS = "At least two officers with distinct certificate_no (行政处罚法 Art. 42), else 422 two-officers"
# The decision number's form as the domain checks it (DECISION_NUMBER), digits in ASCII.
DECISION_NUMBER_PATTERN = r"^[(（][^()（）]{1,20}[)）]应急罚〔[0-9]{4}〕[0-9]{1,6}号$"
DecisionNumber = Annotated[
    str,
    Field(
        pattern=DECISION_NUMBER_PATTERN,
        description="行政处罚决定书文号, assigned by the system: (机关代字)应急罚〔the decision's year〕serial号",
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class CommandRequest(BaseModel):
    """A command's body. Its fields are the domain command's arguments; a business date
    left out (``*_on``) is today, China time."""

    model_config = ConfigDict(extra="forbid")

    def arguments(self, today: date) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: today if value is None and name.endswith("_on") else value for name, value in values.items()}


BusinessDate = Annotated[IsoDate | None, Field(description="Business date of the step (default: today, China time)")]
Officers = Annotated[list[Officer], Field(min_length=2, max_length=20, description=TWO_OFFICERS)]


class FileCaseRequest(CommandRequest):
    """立案: the agency, the respondents (one ``party``, or ``respondents`` for 一案双罚),
    what was violated, and the officers acting."""

    agency: Agency
    party: Party | None = Field(None, description="The one respondent (or give respondents)")
    respondents: Annotated[list[Party], Field(min_length=1, max_length=10)] | None = Field(
        None, description="Every respondent, numbered from 1 in this order (一案双罚: the unit, then its principal)"
    )
    violation_summary: Text
    violation_date: IsoDate
    harm_caused: bool = Field(False, description="Life, health or property harmed: 5-year limitation period")
    complex_case: bool = Field(False, description="A complex case: legal review and collective discussion required")
    legal_basis: Text
    officers: Officers
    filed_on: BusinessDate = None

    @model_validator(mode="after")
    def _one_way_of_naming_respondents(self) -> FileCaseRequest:
        if (self.party is None) == (self.respondents is None):
            raise ValueError("give either party or respondents")
        return self

    def arguments(self, today: date) -> dict[str, Any]:
        arguments = super().arguments(today)
        party = arguments.pop("party")
        arguments["respondents"] = [party] if party else self.respondents
        return arguments


class EvidenceRequest(CommandRequest):
    """证据 by reference and content hash, collected by two officers or more."""

    kind: EvidenceKind
    document: DocumentRef
    officers: Officers
    collected_on: BusinessDate = None


class InquiryRequest(CommandRequest):
    """现场检查 or 询问 by two officers or more, with its record by hash."""

    kind: InquiryKind
    officers: Officers
    record: DocumentRef
    held_on: BusinessDate = None


class MeasureRequest(CommandRequest):
    """先行登记保存, 查封 or 扣押, approved by the agency head."""

    kind: MeasureKind
    items: ShortText
    officers: Officers
    approver: Approver
    document: DocumentRef
    taken_on: BusinessDate = None


class MeasureExtensionRequest(CommandRequest):
    """查封/扣押 extended once, approved by the agency head."""

    reason: Text
    approver: Approver
    extended_on: BusinessDate = None


class MeasureConclusionRequest(CommandRequest):
    """The measure's decision (处理决定) or release."""

    outcome: ShortText
    document: DocumentRef
    concluded_on: BusinessDate = None


class LegalReviewRequest(CommandRequest):
    """法制审核 outcome: passed, or returned with the reviewer's opinion."""

    outcome: ReviewOutcome
    reviewer: Reviewer
    opinion: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""
    reviewed_on: BusinessDate = None


class CollectiveDiscussionRequest(CommandRequest):
    """负责人集体讨论, after a passed legal review."""

    participants: Annotated[list[Name], Field(min_length=1, max_length=30)]
    conclusion: Text
    minutes: DocumentRef
    discussed_on: BusinessDate = None


class PriorNoticeRequest(CommandRequest):
    """事先告知 to one respondent: facts, basis, the intended penalty (the rights and their
    periods follow from the catalogue)."""

    facts: Text
    legal_basis: Text
    intended_penalties: Annotated[list[Penalty], Field(min_length=1, max_length=10)]
    document: DocumentRef | None = None
    notified_on: BusinessDate = None


class StatementRequest(CommandRequest):
    """陈述、申辩, or their waiver (which waives the hearing too)."""

    kind: StatementKind
    summary: Text
    document: DocumentRef | None = None
    received_on: BusinessDate = None


class HearingRequest(CommandRequest):
    """听证申请 by the respondent."""

    requested_on: BusinessDate = None


class HearingScheduleRequest(CommandRequest):
    """听证通知: when and where, and who chairs."""

    hearing_on: IsoDate = Field(description="The day of the hearing")
    place: ShortText
    chair: Reviewer
    notified_on: BusinessDate = None


class HearingRecordRequest(CommandRequest):
    """听证笔录 of the hearing held."""

    chair: Reviewer
    record: DocumentRef
    held_on: BusinessDate = None


class PenaltyDecisionRequest(CommandRequest):
    """行政处罚决定 for one respondent; the number is assigned by the system."""

    penalties: Annotated[list[Penalty], Field(min_length=1, max_length=10)]
    discretion: Discretion
    performance_how: ShortText = Field(description="How to perform, e.g. where to pay the fine (bank)")
    reconsideration_organ: ShortText = Field(description="Where to apply for reconsideration (行政复议机关)")
    court: ShortText = Field(description="Where to sue (人民法院)")
    hearing_record_sha256: Sha256 | None = Field(None, description="The hearing record the decision rests on")
    agency_short_name: ShortName | None = Field(
        None, description="The agency's 机关代字, for a case filed without one (its decision numbers' prefix)"
    )
    disclosure: DisclosureFacts | None = Field(
        None,
        description="For its publication (双公示): violation type, penalty validity, a serious finding (严重失信), "
        "a ground not to publish (state secrets, trade secrets, privacy)",
    )
    decided_on: BusinessDate = None


class NoPenaltyRequest(CommandRequest):
    """不予处罚决定: the ground (首违不罚 names the item on the catalogue's list) and why."""

    ground: NoPenaltyGround
    list_item: Annotated[str, StringConstraints(max_length=40)] | None = None
    reason: Text
    withheld_because: WithheldBecause | None = Field(
        None, description="A ground not to publish it (其他行政执法决定公开): state secrets, trade secrets, privacy"
    )
    decided_on: BusinessDate = None


class DismissalRequest(CommandRequest):
    """撤销立案."""

    reason: Text
    dismissed_on: BusinessDate = None


class OnTheSpotRequest(CommandRequest):
    """当场处罚 (简易程序): a warning or a small fine, decided where the officers found it."""

    agency: Agency
    party: Party
    violation_summary: Text
    violation_date: IsoDate
    legal_basis: Text
    officers: Officers
    penalties: Annotated[list[Penalty], Field(min_length=1, max_length=2)]
    performance_how: ShortText
    reconsideration_organ: ShortText
    court: ShortText
    decided_on: BusinessDate = None


class ReportRequest(CommandRequest):
    """备案 of an on-the-spot decision with the agency."""

    reported_on: BusinessDate = None


class DeadlineExtensionRequest(CommandRequest):
    """延期 or 中止 of a deadline, approved by the agency head: the new due date and why."""

    change: DeadlineChange
    due_on: IsoDate = Field(description="The new due date (after the current one)")
    reason: Text
    approver: Approver


# -- after the decision (issue 12) -------------------------------------------------------
Fen = Annotated[int, Field(gt=0, le=10_000_000_000_00, description="An amount in fen (分: 1 yuan = 100 fen)")]


class ServiceConsentRequest(CommandRequest):
    """The party's consent to electronic service (同意电子送达) and the address it gave."""

    address: ShortText
    document: DocumentRef
    consented_on: BusinessDate = None


class ServiceRequest(CommandRequest):
    """送达 of the decision: on the spot (the decision's day), to an absent party (within
    its period), electronically (with the recorded consent), or by public notice (give
    ``published_on``; recorded once it counts as served, that day being the service)."""

    method: ServiceMethod
    document: DocumentRef
    published_on: IsoDate | None = Field(None, description="A public notice's publication date (公告之日)")
    served_on: BusinessDate = None

    def arguments(self, today: date) -> dict[str, Any]:
        values = super().arguments(today)
        if self.method == "public_notice":
            values["served_on"] = self.served_on  # counted from the notice, not today
        values["published_on"] = self.published_on
        return values


class PaymentArrangementRequest(CommandRequest):
    """暂缓 (a new day) or 分期 (instalments covering the unpaid fine), approved by the head."""

    kind: ArrangementKind
    applied_on: IsoDate = Field(description="The day the party applied (within the payment period)")
    approver: Approver
    reason: Text
    due_on: IsoDate | None = Field(None, description="A deferral's new last day of payment")
    instalments: Annotated[list[Instalment], Field(max_length=36)] = []
    approved_on: BusinessDate = None

    def arguments(self, today: date) -> dict[str, Any]:
        return {**super().arguments(today), "due_on": self.due_on}


class PaymentRequest(CommandRequest):
    """罚款缴纳 at a bank (never to the agency), by the bank's receipt reference."""

    amount_fen: Fen
    bank: ShortText
    receipt_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    paid_on: BusinessDate = None


class RemedyRequest(CommandRequest):
    """行政复议 applied for or 行政诉讼 filed (neither suspends the penalty)."""

    kind: RemedyKind
    organ: ShortText = Field(description="The reconsideration organ or the court")
    filed_on: BusinessDate = None


class RemedyDecisionRequest(CommandRequest):
    """The pending remedy's decision; a changed decision gives its new penalties."""

    outcome: RemedyOutcome
    document: DocumentRef
    penalties: Annotated[list[Penalty], Field(min_length=1, max_length=10)] | None = None
    decided_on: BusinessDate = None


class ReminderRequest(CommandRequest):
    """催告书 served on a party who neither paid nor sought a remedy."""

    document: DocumentRef
    served_on: BusinessDate = None


class CourtApplicationRequest(CommandRequest):
    """申请人民法院强制执行."""

    court: ShortText
    document: DocumentRef
    applied_on: BusinessDate = None


class CourtRulingRequest(CommandRequest):
    """The court's ruling and what its enforcement recovered (fen)."""

    ruling: CourtRuling
    recovered_fen: Annotated[int, Field(ge=0, le=10_000_000_000_00)] = 0
    document: DocumentRef
    ruled_on: BusinessDate = None


class ClosureRequest(CommandRequest):
    """结案, once every respondent's track ended and no referral is open."""

    summary: Text
    closed_on: BusinessDate = None


class ArchiveRequest(CommandRequest):
    """归档 of a closed case."""

    archive_reference: ShortText
    archived_on: BusinessDate = None


class AnnotationRequest(CommandRequest):
    """备注 on a closed or archived case."""

    text: Text
    annotated_on: BusinessDate = None


class ShownParty(BaseModel):
    """当事人 as shown to the caller: a natural person's ID number, phone and address in
    full for roles that need them, masked (430281********1234) for the rest."""

    kind: str
    name: str
    code: str
    legal_representative: str | None = None
    address: str | None = None
    phone: str | None = None
    role: str | None = None


class RespondentView(BaseModel):
    """One respondent's track as the case's event store knows it."""

    number: int
    party: ShownParty
    state: str
    allowed_actions: list[str]
    intended_penalties: list[dict[str, Any]] | None
    intended_fine_yuan: int | None
    notified_on: str | None
    statement_until: str | None
    hearing_right: bool
    hearing_request_until: str | None
    hearing_on: str | None
    hearing_record: DocumentRef | None
    decision_number: DecisionNumber | None
    decided_on: str | None
    penalties: list[dict[str, Any]] | None
    fine_total_yuan: int | None
    no_penalty_ground: str | None
    # After the decision (issue 12); amounts in fen, the surcharge accrued to today (China).
    service_method: str | None = None
    served_on: str | None = None
    payment_due: str | None = None
    paid_fen: int = 0
    surcharge_accrued_fen: int = 0
    outstanding_fen: int = 0
    remedies: list[dict[str, Any]] = []
    reminder_served_on: str | None = None
    court_application_until: str | None = None
    court_ruling: str | None = None
    recovered_fen: int = 0

    @classmethod
    def of(cls, track: Track, allowed: tuple[str, ...], party: dict[str, Any]) -> RespondentView:
        intended = track.intended
        today = today_in_china()
        unpaid = track.state in ("served", "reminded", "enforcement_applied")
        return cls(
            number=track.number,
            party=ShownParty(**party),
            state=track.state,
            allowed_actions=list(allowed),
            intended_penalties=[dict(p) for p in intended] if intended is not None else None,
            intended_fine_yuan=sum(p.get("amount_yuan", 0) for p in intended if p["kind"] == "fine")
            if intended is not None
            else None,
            notified_on=track.notified_on,
            statement_until=track.statement_until,
            hearing_right=track.hearing_right,
            hearing_request_until=track.hearing_request_until,
            hearing_on=track.hearing_on,
            hearing_record=track.hearing_record,
            decision_number=track.decision_number,
            decided_on=track.decided_on,
            penalties=[dict(p) for p in track.penalties] if track.penalties is not None else None,
            fine_total_yuan=track.fine_total_yuan,
            no_penalty_ground=track.no_penalty_ground,
            service_method=track.service_method,
            served_on=track.served_on,
            payment_due=track.payment_due,
            paid_fen=track.paid_fen,
            surcharge_accrued_fen=track.surcharge_fen(today) if unpaid else 0,
            outstanding_fen=track.outstanding_fen(today) if unpaid else 0,
            remedies=list(track.remedies),
            reminder_served_on=track.reminder_served_on,
            court_application_until=track.court_application_until,
            court_ruling=track.court_ruling,
            recovered_fen=track.recovered_fen,
        )


class CaseState(BaseModel):
    """The case as its event store knows it right after the command."""

    closed_on: date | None = None
    archived_on: date | None = None

    id: UUID
    version: int
    status: CaseStatus
    procedure: str
    allowed_actions: list[str]
    agency: Agency
    party: ShownParty = Field(description="The first respondent")
    respondents: list[RespondentView]
    filed_on: date
    decision_due: date
    decision_number: DecisionNumber | None = Field(description="The first respondent's decision number")
    deadlines: list[RecordedDeadline] = Field(description="The case's open deadlines and the rules that set them")

    @classmethod
    def of(cls, case: Case, parties: list[dict[str, Any]]) -> CaseState:
        """``parties`` are the case's respondents as the caller may see them."""
        return cls(
            id=case.id,
            version=case.version,
            status=case.status,
            procedure=case.procedure,
            allowed_actions=list(case.allowed_actions),
            agency=case.agency,
            party=ShownParty(**parties[0]),
            respondents=[
                RespondentView.of(track, case.respondent_actions(track), party)
                for track, party in zip(case.tracks, parties, strict=True)
            ],
            filed_on=date.fromisoformat(case.filed_on),
            decision_due=date.fromisoformat(case.decision_due),
            decision_number=case.decision_number,
            closed_on=date.fromisoformat(case.closed_on) if case.closed_on else None,
            archived_on=date.fromisoformat(case.archived_on) if case.archived_on else None,
            deadlines=case.open_deadlines(),
        )


class OpenDeadline(BaseModel):
    """An open deadline of a case as the ledger shows it."""

    name: str
    due_on: str
    rule_id: str
    rule_version: int
    provisional: bool
    overdue: bool = Field(description="The due date has passed (China time) with the step not taken")
    approaching_recorded: bool
    missed_recorded: bool
    extended: bool


class LedgerRespondent(BaseModel):
    """A respondent's track as the ledger shows it."""

    number: int
    party_kind: str
    party_name: str
    party_code: str
    party: ShownParty
    state: str
    allowed_actions: list[str]
    intended_penalties: list[dict[str, Any]] | None
    intended_fine_yuan: int | None
    notified_on: str | None
    statement_until: str | None
    hearing_request_until: str | None
    hearing_on: str | None
    decision_number: DecisionNumber | None
    decided_on: str | None
    penalties: list[dict[str, Any]] | None
    fine_total_yuan: int | None
    no_penalty_ground: str | None
    publication_status: str
    published_on: str | None
    # After the decision (issue 12); amounts in fen, the surcharge accrued to today (China).
    service_method: str | None = None
    served_on: str | None = None
    payment_due: str | None = None
    surcharge_rule: dict[str, Any] | None = None
    paid_fen: int = 0
    recovered_fen: int = 0
    surcharge_accrued_fen: int = 0
    outstanding_fen: int = 0
    remedy_status: str | None = Field(None, description="none, or <reconsideration|suit>_<pending|outcome>")
    enforcement_status: str | None = Field(None, description="none, reminded, applied, granted, refused")
    correction: str | None = Field(None, description="The last correction by a remedy: revoked, changed, ...")


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
    procedure: str
    ended_as: str | None
    allowed_actions: list[str]
    respondents: list[LedgerRespondent]
    version: int
    filed_on: str
    decision_due: str
    deadlines: list[OpenDeadline]
    review_outcome: str | None
    decision_number: DecisionNumber | None
    decided_on: str | None
    penalties: list[dict[str, Any]] | None
    fine_total_yuan: int | None
    referral_status: str
    referral_organ: str | None
    publication_status: str
    published_on: str | None
    closed_on: str | None = None
    archived_on: str | None = None
    last_event_type: str
    last_event_id: str
    trace_id: str | None
    recorded_at: Instant
    updated_at: Instant


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    next_cursor: str | None


class RuleVersionView(BaseModel):
    """One version of a rule: its source, its value, how it counts, when it is in force."""

    version: int
    statute: str
    article: str | None
    value: dict[str, Any] | None = Field(description="e.g. {days: 90}; null: no national value (to_confirm)")
    counting: str | None
    effective_from: date | None = Field(description="inclusive; null: open")
    effective_to: date | None = Field(description="exclusive (the successor's effective_from); null: open")
    to_confirm: bool
    notes: str | None
    override: dict[str, str] | None = Field(description="the caller's region's override in force (with ?on=)")


class RuleView(BaseModel):
    """A rule of the catalogue (rules/*.yaml), with every version, or with ?on= the one in force."""

    id: str
    name: str
    kind: str
    trigger: str | None
    direction: str
    lighter: str | None
    file: str
    versions: list[RuleVersionView]


class RulePage(BaseModel):
    items: list[RuleView]
    next_cursor: str | None


class HistoryEvent(BaseModel):
    """One stored event of the case as a CloudEvent 1.0 (structured mode), as it is on the
    topic; ``data`` is the event type's schema in contracts/events/, the party shown as the
    caller may see it."""

    model_config = ConfigDict(extra="allow")
    specversion: Literal["1.0"]
    id: str = Field(description="Derived from (aggregate id, version): a re-published event keeps it")
    source: str
    type: str = Field(description="e.g. cn.caseledger.case.filed.v1")
    subject: str = Field(description="The case id")
    time: Instant = Field(description="Record time (RFC 3339)")
    datacontenttype: Literal["application/json"]
    dataschema: str
    partitionkey: str
    sequence: str = Field(pattern="^[0-9]+$", description="The case's version after this event")
    aggregateid: str
    traceparent: str | None = None
    data: dict[str, Any] = Field(description="The event's data, with actor (who acted, for which agency, why)")


class CaseAsOf(BaseModel):
    """The case as recorded at a moment (``?as_of=``) or a version (``?version=``): its
    business dates are in ``case``, its record time is when the last event it rests on
    was stored."""

    as_of: str | None
    version: int
    recorded_at: str = Field(description="Record time of the case's last event at that moment (RFC 3339)")
    case: CaseState


class ReadRecordView(BaseModel):
    """One recorded read: who, for which agency, what, when, why."""

    position: int
    recorded_at: str
    what: str = Field(description="personal-data (a person's data shown in full), history, export")
    case_id: str
    case_agency: dict[str, str]
    subject: str | None = Field(description="an enterprise's code, or the keyed digest of a person's ID number")
    reader: dict[str, Any]
    reason: str | None = Field(description="the X-Reason the reader gave")
    full_personal_data: bool
    trace_id: str | None


class ReadPage(BaseModel):
    items: list[ReadRecordView]
    next_cursor: str | None


class TimelineEvent(BaseModel):
    """One event of the case's history, from whichever service recorded it."""

    position: int = Field(description="Its place in the case's history (the order the topic delivered it)")
    id: str
    type: str
    source: str = Field(description="/caseledger/case, /caseledger/referral, /caseledger/disclosure")
    time: str = Field(description="Record time (RFC 3339)")
    aggregate_id: str
    version: int
    actor: dict[str, Any]
    reason: str | None
    trace_id: str | None
    data: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineEvent]
    next_cursor: str | None
