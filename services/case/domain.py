"""The enforcement case (行政处罚案件) and the rules it keeps (shared/DOMAIN.md §3).

A case is filed (立案) against one or more respondents (当事人: 一案双罚 fines a unit and its
principal responsible person, each with their own decision). The case as a whole is
investigated (调查取证: evidence by content hash, inspections and interviews, 先行登记保存,
查封扣押), legally reviewed (法制审核) and discussed (负责人集体讨论); from the prior notice
(事先告知) on each respondent has a track of its own:

    investigating → notified → (hearing_requested → hearing_scheduled → heard) → decided
                             ↘ not_penalised (不予处罚)

The case's status follows its tracks: filed (no notice yet) → notified (a notice served,
some track still open) → decided (every track concluded, one at least with a penalty) or
not_penalised; and the other exits, dismissed (撤销立案) and suspended (中止: referred as a
suspected crime). The simplified procedure (简易程序) files and decides in one step.

Every date a command gives is a business date (the day the officer acted): never after
today (China time, with a small clock tolerance), never before the step it follows, never
before the Administrative Penalty Law took effect (BUSINESS_DATE_FLOOR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, ClassVar, Literal, NotRequired

from pydantic import AfterValidator, Field, StringConstraints
from typing_extensions import TypedDict

from services.case.personal_data import seal_party
from services.common import event_types
from services.common.deadlines import (
    DEFAULT_LEAD_WORKING_DAYS,
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
    open_deadline,
    recorded_deadline,
)
from services.common.identifiers import (
    USCC,
    USCC_PATTERN,
    is_minor_on,
    is_valid_resident_id,
    is_valid_uscc,
    refuse_personal_identifiers,
    without_personal_identifier,
)
from services.common.officers import Officer, require_two_officers
from services.common.personal_data import SealedText
from services.common.rules import AppliedRule, Catalogue, Codes, DailySurcharge, RuleNotConfigured, Yuan
from services.infra.crypto import FieldCipher, is_sealed
from services.infra.errors import IllegalInCurrentState, NotFound, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

CaseStatus = Literal[
    "filed", "notified", "decided", "not_penalised", "referred", "dismissed", "suspended", "closed", "archived"
]
RespondentState = Literal[
    "investigating",
    "notified",
    "hearing_requested",
    "hearing_scheduled",
    "heard",
    "decided",
    "not_penalised",
    # after the decision (issue 12)
    "served",
    "reminded",
    "enforcement_applied",
    "paid",
    "performed",
    "enforced",
    "enforcement_refused",
    "revoked",
    "referred",
]
Procedure = Literal["ordinary", "simplified"]  # 普通程序, 简易程序
PartyKind = Literal["enterprise", "natural_person"]
# 一案双罚: the unit (单位) and its principal responsible person (主要负责人), or another person.
RespondentRole = Literal["unit", "principal_responsible_person", "other_person"]
PenaltyKind = Literal[
    "warning",  # 警告
    "fine",  # 罚款
    "confiscation_of_illegal_gains",  # 没收违法所得
    "suspension_of_production",  # 责令停产停业
    "licence_suspension",  # 暂扣许可证
    "licence_revocation",  # 吊销许可证
]
ReviewOutcome = Literal["passed", "returned"]
EvidenceKind = Literal["document", "photo", "audio_video", "electronic_data", "expert_opinion", "other"]
InquiryKind = Literal["inspection", "interview"]  # 现场检查（勘验）, 询问
MeasureKind = Literal["preservation", "sealing", "seizure"]  # 先行登记保存, 查封, 扣押
StatementKind = Literal["statement", "defence", "waiver"]  # 陈述, 申辩, 放弃陈述申辩（和听证）
# 裁量基准: the discretion level applied.
DiscretionLevel = Literal["exempted", "mitigated", "lighter", "general", "heavier"]
# 不予处罚: not established (违法事实不能成立), minor and corrected in time (轻微并及时改正),
# first offence with slight harm corrected (首违不罚, on the catalogue's list), no fault proved.
NoPenaltyGround = Literal["not_established", "minor_corrected", "first_offence", "no_fault"]
# 送达方式: 直接送达 on the spot (当场交付), to an absent party within its period (留置、
# 邮寄、委托送达), electronic (电子送达, only with the party's recorded consent), public
# notice (公告送达, counted as served when its period has passed).
ServiceMethod = Literal["on_the_spot", "absent_party", "electronic", "public_notice"]
ArrangementKind = Literal["deferral", "instalments"]  # 暂缓缴纳, 分期缴纳
RemedyKind = Literal["reconsideration", "suit"]  # 行政复议, 行政诉讼
# 维持 (upheld, or the claim dismissed), 撤销 (revoked), 变更 (changed), 确认无效 (void),
# 确认违法 (confirmed illegal, the decision left standing).
RemedyOutcome = Literal["upheld", "revoked", "changed", "void", "confirmed_illegal"]
CourtRuling = Literal["granted", "refused"]  # 准予执行, 不予执行

# Names and titles are recorded in clear: no personal identifier in them (422).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(without_personal_identifier),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}|[0-9]{6})?$")]
# A USCC or a resident ID number: both 18 characters of the USCC alphabet.
PartyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=USCC_PATTERN)]
Phone = Annotated[str, StringConstraints(pattern=r"^[0-9+\-() ]{5,20}$")]
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-f]{64}$")]
# 机关代字, the agency's short name in its document numbers: 湘株醴 in (湘株醴)应急罚〔2023〕125号.
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^()（）〔〕\s]{1,20}$")]

# 行政处罚法 Art. 60: decide within 90 days of filing; the value, its counting (from the day
# after filing, a last day on a rest day moved to the next working day) and its source are
# the catalogue's rule DECISION_DUE_RULE (rules/procedure.yaml), chosen by the filing date.
DECISION_DUE_RULE = "case.decision_due"
DECISION_DEADLINE = "decision"  # the name of the decision deadline among a case's deadlines
STATEMENT_WINDOW_RULE = "prior_notice.statement_window"
HEARING_REQUEST_RULE = "hearing.request_within"
HEARING_NOTICE_RULE = "hearing.notice_before"
PRESERVATION_RULE = "investigation.preservation_decision"
SEIZURE_RULE = "investigation.seizure"
SEIZURE_EXTENSION_RULE = "investigation.seizure.extension"
PAYMENT_RULE = "payment.due"
RECONSIDERATION_RULE = "remedy.reconsideration"
SUIT_RULE = "remedy.suit"
SUIT_AFTER_RECONSIDERATION_RULE = "remedy.suit_after_reconsideration"
SURCHARGE_RULE = "payment.surcharge"
ABSENT_SERVICE_RULE = "service.absent_party"
PUBLIC_NOTICE_RULE = "service.public_notice"
COURT_APPLICATION_RULE = "enforcement.court_application"
REMINDER_WAIT_RULE = "enforcement.reminder_wait"
FIRST_OFFENCE_LIST_RULE = "no_penalty.first_offence_list"
# The threshold of a major decision (法制审核, 集体讨论, 听证) by the respondent's kind.
MAJOR_FINE_RULES: dict[str, str] = {
    "natural_person": "legal_review.threshold.individual",
    "enterprise": "legal_review.threshold.unit",
}
SIMPLIFIED_FINE_RULES: dict[str, str] = {
    "natural_person": "simplified.fine_max.person",
    "enterprise": "simplified.fine_max.organisation",
}
# Penalties that make a decision major whatever the amount (DOMAIN.md §3).
MAJOR_PENALTIES = frozenset({"suspension_of_production", "licence_revocation"})
__all__ = ["DEFAULT_LEAD_WORKING_DAYS"]  # re-exported: the lead's default is every service's
DeadlineChange = Literal["extension", "suspension"]
LIMITATION_YEARS = 2  # Art. 36: not discovered within 2 years: no penalty ...
LIMITATION_YEARS_WITH_HARM = 5  # ... 5 years where life, health or property was harmed.
# A hearing is held within this many days of its notice: a sanity bound on a planned date,
# not a statutory period (the statute sets only the notice's 7 days ahead).
HEARING_WITHIN_DAYS = 366
# No business date before the Administrative Penalty Law took effect (1996-10-01): a date
# before it is a typing error, not a case this law can decide.
BUSINESS_DATE_FLOOR = date(1996, 10, 1)
DECISION_NUMBER = re.compile(r"^[(（]([^()（）]{1,20})[)）]应急罚〔(\d{4})〕(\d{1,6})号$")


def decision_number(short_name: str, year: int, serial: int) -> str:
    """行政处罚决定书文号: (机关代字)应急罚〔year〕serial号."""
    return f"({short_name})应急罚〔{year}〕{serial}号"


class Agency(TypedDict):
    """执法机关: identified by its unified social credit code and region code; its short
    name (机关代字) prefixes its decision numbers."""

    code: USCC
    name: Name
    region_code: RegionCode
    short_name: NotRequired[ShortName]


class Party(TypedDict):
    """当事人: an enterprise (USCC) or a natural person (resident ID number)."""

    kind: PartyKind
    name: Name
    code: PartyCode
    legal_representative: NotRequired[Name]
    address: NotRequired[ShortText]
    phone: NotRequired[Phone]
    role: NotRequired[RespondentRole]


class RecordedParty(TypedDict):
    """当事人 as events record it: a natural person's ID number, phone and address sealed
    (personal_data.py), an enterprise's fields as given."""

    kind: PartyKind
    name: str
    code: str | SealedText
    legal_representative: NotRequired[str]
    address: NotRequired[str | SealedText]
    phone: NotRequired[str | SealedText]
    role: NotRequired[str]


class Penalty(TypedDict):
    kind: PenaltyKind
    amount_yuan: NotRequired[Annotated[int, Field(ge=0, le=10_000_000_000)]]
    description: NotRequired[ShortText]


class Reviewer(TypedDict):
    name: Name
    certificate_no: NotRequired[Annotated[str, StringConstraints(min_length=4, max_length=40)]]


class Approver(TypedDict):
    """Who approved an extension or suspension (负责人批准)."""

    name: Name
    title: NotRequired[Name]


class DocumentRef(TypedDict):
    """执法全过程记录: a document or audio/video record by reference and content hash (the
    bytes stay in the agency's records system)."""

    title: Name
    uri: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    sha256: Sha256


class Discretion(TypedDict):
    """裁量基准 applied: the level and the benchmark's item."""

    level: DiscretionLevel
    benchmark: ShortText


class DisclosureFacts(TypedDict):
    """What the decision says for its publication (双公示, DOMAIN.md §5): the violation
    type (违法行为类型), the penalty's validity (处罚有效期; none: long-term), whether the
    agency found the conduct seriously dishonest (严重失信: the serious tier), and a ground
    not to publish it (the case involves state secrets, trade secrets or privacy)."""

    violation_type: NotRequired[ShortText]
    penalty_validity: NotRequired[Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]]
    serious: NotRequired[bool]
    withheld_because: NotRequired[Literal["state_secret", "trade_secret", "privacy"]]


class Performance(TypedDict):
    """How and by when the penalty is performed (履行方式和期限)."""

    how: ShortText
    within: str  # e.g. "15 days from service (payment.due v1)"
    rule_id: str
    rule_version: int


class SurchargeTerms(TypedDict):
    """The surcharge rule applied (chosen by the first day of late payment), its values as text."""

    rule_id: str
    rule_version: int
    percent_per_day: str
    capped_at_percent: str


class Instalment(TypedDict):
    due_on: str
    amount_fen: int


class Remedies(TypedDict):
    """How and by when to seek remedies (救济途径和期限), from the catalogue's rules."""

    reconsideration_organ: str
    reconsideration_within: str
    court: str
    suit_within: str


# Which command is allowed in which state: the single source for 409 answers (the case's
# own commands by its status, a respondent's by its track's state).
CASE_ACTIONS: dict[str, tuple[str, ...]] = {
    "filed": (
        "record_evidence",
        "record_inquiry",
        "take_measure",
        "record_legal_review",
        "record_collective_discussion",
        "dismiss",
    ),
    "decided": ("conclude_measure",),
    "not_penalised": ("conclude_measure",),
    "dismissed": ("conclude_measure",),
    "suspended": ("conclude_measure",),
}
CASE_ACTIONS["notified"] = tuple(a for a in CASE_ACTIONS["filed"] if a != "dismiss")
# After the decision (issue 12): a case whose every track concluded closes once every track
# ended (and no referral is open); a closed case is archived; after that only annotations.
CASE_ACTIONS["referred"] = ("conclude_measure",)
for _status in ("decided", "not_penalised", "referred", "dismissed"):
    CASE_ACTIONS[_status] = (*CASE_ACTIONS[_status], "close_case")
CASE_ACTIONS["closed"] = ("archive_case", "annotate")
CASE_ACTIONS["archived"] = ("annotate",)
MEASURE_ACTIONS = ("extend_measure", "conclude_measure")
# What a served track with an unpaid fine may do (remedies neither suspend the penalty).
_UNPAID = ("record_payment", "arrange_payment", "file_remedy", "decide_remedy")
RESPONDENT_ACTIONS: dict[str, tuple[str, ...]] = {
    "investigating": ("serve_prior_notice", "not_penalise"),
    "notified": (
        "serve_prior_notice",
        "record_statement",
        "request_hearing",
        "decide_penalty",
        "not_penalise",
    ),
    "hearing_requested": ("record_statement", "schedule_hearing"),
    "hearing_scheduled": ("record_statement", "record_hearing"),
    "heard": ("record_statement", "decide_penalty", "not_penalise"),
    "decided": ("record_service_consent", "serve_decision"),
    "not_penalised": (),
    "served": (*_UNPAID, "serve_reminder"),
    "reminded": (*_UNPAID, "apply_to_court"),
    "enforcement_applied": ("record_payment", "record_court_ruling"),
    # Ended tracks (a remedy still pending may change or revoke a paid or enforced decision).
    "paid": ("file_remedy", "decide_remedy"),
    "performed": ("file_remedy", "decide_remedy"),
    "enforced": (),
    "enforcement_refused": (),
    "revoked": (),
    "referred": (),
}
# A track has ended (履行完毕、强制执行、不予处罚、撤销): the case may close.
ENDED_TRACKS = frozenset(
    {"not_penalised", "paid", "performed", "enforced", "enforcement_refused", "revoked", "referred"}
)
# A track from its decision on: it moves while the case is decided (or still open for others).
AFTER_DECISION = frozenset(
    {
        "decided",
        "served",
        "reminded",
        "enforcement_applied",
        "paid",
        "performed",
        "enforced",
        "enforcement_refused",
        "revoked",
    }
)
# While the case is suspended, dismissed or closed no respondent's track moves.
OPEN_CASE = frozenset({"filed", "notified"})


class DeadlineNotOpen(IllegalInCurrentState):
    """An extension of a deadline the case does not have open."""

    def __init__(self, name: str, open_names: list[str]) -> None:
        super().__init__(f"the case has no open deadline '{name}'", open_deadlines=open_names)


class IllegalTransition(IllegalInCurrentState):
    """A command the case's (or the respondent's) current state does not allow (answered
    409 with the state and the actions allowed from it)."""

    def __init__(self, action: str, status: str, allowed: tuple[str, ...], *, why: str = "") -> None:
        self.action = action
        self.status = status
        self.allowed = allowed
        super().__init__(
            why or f"'{action}' is not allowed while the case is '{status}'",
            current_state=status,
            allowed_actions=list(allowed),
        )


# -- a respondent's track ---------------------------------------------------------------


@dataclass
class Track:
    """One respondent's part of the case from the prior notice on (当事人的程序)."""

    number: int
    party: RecordedParty
    state: str = "investigating"
    intended: list[Penalty] | None = None  # as notified (拟作出的行政处罚)
    notified_on: str | None = None
    statement_until: str | None = None
    hearing_right: bool = False
    hearing_request_until: str | None = None
    defended: bool = False  # a statement or defence recorded (Art. 45)
    waived: bool = False  # the respondent waived statement, defence and hearing
    last_statement_on: str | None = None
    hearing_requested_on: str | None = None
    hearing_notified_on: str | None = None
    hearing_on: str | None = None
    hearing_place: str | None = None
    hearing_chair: str | None = None
    hearing_record: DocumentRef | None = None
    heard_at: int | None = None  # the case version of the hearing record
    decision_number: str | None = None
    decided_on: str | None = None
    penalties: list[Penalty] | None = None
    fine_total_yuan: int | None = None
    no_penalty_ground: str | None = None
    # after the decision (issue 12)
    electronic_consent: str | None = None  # the address the party consented to (电子送达地址)
    service_method: str | None = None
    served_on: str | None = None  # 送达日 (for a public notice, the day it counts as served)
    payment_due: str | None = None  # 缴款期限 (moved by an approved deferral or instalments)
    surcharge: SurchargeTerms | None = None
    arrangement: str | None = None  # deferral / instalments approved
    payments: list[dict[str, Any]] = field(default_factory=list)  # {paid_on, amount_fen, receipt}
    reconsideration_until: str | None = None
    suit_until: str | None = None
    remedies: list[dict[str, Any]] = field(default_factory=list)  # {kind, filed_on, decided_on, outcome}
    reminder_served_on: str | None = None
    reminder_wait_until: str | None = None
    court_application_until: str | None = None
    court_applied_on: str | None = None
    court_ruling: str | None = None
    recovered_fen: int = 0
    corrections: int = 0

    @property
    def allowed(self) -> tuple[str, ...]:
        return RESPONDENT_ACTIONS[self.state]

    # -- amounts (分, so that 3% of a fine in yuan is exact) ------------------------------
    @property
    def fine_fen(self) -> int:
        return (self.fine_total_yuan or 0) * 100

    @property
    def paid_fen(self) -> int:
        return sum(p["amount_fen"] for p in self.payments)

    def fine_paid_off_on(self) -> date | None:
        """The day the payments (applied to the fine first) covered the fine: the surcharge stops there."""
        total = 0
        for payment in sorted(self.payments, key=lambda p: p["paid_on"]):
            total += payment["amount_fen"]
            if total >= self.fine_fen:
                return date.fromisoformat(payment["paid_on"])
        return None

    def surcharge_fen(self, as_of: date) -> int:
        """加处罚款 accrued to ``as_of`` (see :func:`accrued_surcharge_fen`)."""
        return accrued_surcharge_fen(self.fine_fen, self.payment_due, self.surcharge, self.fine_paid_off_on(), as_of)

    def outstanding_fen(self, as_of: date) -> int:
        """The fine and the surcharge accrued to ``as_of``, less what was paid (and recovered)."""
        return max(0, self.fine_fen + self.surcharge_fen(as_of) - self.paid_fen - self.recovered_fen)

    @property
    def remedy_pending(self) -> dict[str, Any] | None:
        return next((r for r in self.remedies if r.get("decided_on") is None), None)

    @property
    def kind(self) -> str:
        return self.party["kind"]

    def last_step_on(self) -> tuple[str, str] | None:
        """The latest dated step of the track: what a decision may not precede."""
        steps = [
            ("notified_on", self.notified_on),
            ("received_on", self.last_statement_on),
            ("requested_on", self.hearing_requested_on),
            ("held_on", self.hearing_on if self.state == "heard" else None),
        ]
        dated = [(name, day) for name, day in steps if day]
        return max(dated, key=lambda step: step[1]) if dated else None


def accrued_surcharge_fen(
    fine_fen: int, payment_due: str | None, terms: SurchargeTerms | None, paid_off_on: date | None, as_of: date
) -> int:
    """加处罚款 accrued to ``as_of`` (inclusive), in fen: the catalogue's percent of the
    fine (罚款数额, not what is left of it) a day from the day after the payment period,
    until the day the fine was paid, capped at the catalogue's percent of the fine
    (行政处罚法 Art. 72). The ledger computes it with the same function."""
    if terms is None or payment_due is None or fine_fen == 0:
        return 0
    until = min(as_of, paid_off_on) if paid_off_on else as_of
    days = (until - date.fromisoformat(payment_due)).days
    if days <= 0:
        return 0
    per_day = Decimal(fine_fen) * Decimal(terms["percent_per_day"]) / 100
    cap = Decimal(fine_fen) * Decimal(terms["capped_at_percent"]) / 100
    return int(min(per_day * days, cap).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# A track before its decision (what the decision deadline waits for).
BEFORE_DECISION = frozenset({"investigating", "notified", "hearing_requested", "hearing_scheduled", "heard"})


def case_status(states: list[str], ended_as: str | None) -> str:
    """A case's status from its respondents' states: every track concluded is decided
    (one penalty at least, whatever happened after the decision) or not_penalised; a
    notice served, notified; else filed. A dismissal, suspension, closure or archive
    (``ended_as``) is the status whatever the tracks."""
    concluded = [state for state in states if state not in BEFORE_DECISION]
    if ended_as:
        return ended_as
    if len(concluded) == len(states):
        if all(state in ("not_penalised", "referred") for state in concluded):
            return "referred" if "referred" in concluded else "not_penalised"
        return "decided"
    if any(state != "investigating" for state in states):
        return "notified"
    return "filed"


def track_actions(status: str, state: str) -> tuple[str, ...]:
    """What a respondent in ``state`` may do while the case is ``status``: before the
    decision only in an open case; from the decision on also once the case is decided."""
    if status in OPEN_CASE or (status == "decided" and state in AFTER_DECISION):
        return RESPONDENT_ACTIONS[state]
    return ()


def allowed_actions(status: str, state: str | None = None) -> list[str]:
    """What the case (``state`` None) or a respondent in ``state`` may do next, as the
    ledger shows it."""
    if state is None:
        return list(CASE_ACTIONS[status])
    return list(track_actions(status, state))


# -- rules -------------------------------------------------------------------------------


def validate_party(party: Party, pointer: str = "/party") -> None:
    if party["kind"] == "enterprise" and not is_valid_uscc(party["code"]):
        raise RuleViolation(f"{pointer}/code", "uscc", "not a valid unified social credit code (check character)")
    if party["kind"] == "natural_person" and not is_valid_resident_id(party["code"]):
        raise RuleViolation(f"{pointer}/code", "resident-id", "not a valid resident ID number (check character)")


def refuse_personal_data_in_text(pointer: str, text: str, party: Party | None = None) -> None:
    """Narrative text is not sealed, so it must not carry personal identifiers: they go in
    the party's fields. Refused with 422 rather than silently kept in clear."""
    refuse_personal_identifiers([(pointer, text)])
    if party is not None and party["kind"] == "natural_person" and party.get("address") and party["address"] in text:
        raise RuleViolation(
            pointer, "no-personal-data-in-text", "the text contains the party's address; give it only in its field"
        )


def check_business_date(
    pointer: str, day: date, latest: date, *, not_before: tuple[str, date | str | None] | None = None
) -> None:
    """A step's business date: not after ``latest`` (today in China with the clock
    tolerance), not before BUSINESS_DATE_FLOOR, not before the step it follows."""
    if day > latest:
        raise RuleViolation(pointer, "not-in-future", f"{day} is in the future (today is {latest} at the latest)")
    if day < BUSINESS_DATE_FLOOR:
        raise RuleViolation(
            pointer, "date-floor", f"{day} is before the Administrative Penalty Law took effect ({BUSINESS_DATE_FLOOR})"
        )
    if not_before is not None and not_before[1] is not None:
        name, earlier = not_before
        earlier_day = date.fromisoformat(earlier) if isinstance(earlier, str) else earlier
        if earlier_day is not None and day < earlier_day:
            raise RuleViolation(
                pointer, "not-before-previous-step", f"{day} is before the step it follows ({name} {earlier_day})"
            )


def validate_penalties(penalties: list[Penalty], pointer: str = "/penalties") -> None:
    fines = [p for p in penalties if p["kind"] == "fine"]
    if len(fines) > 1:
        raise RuleViolation(pointer, "one-fine", "one violation, one fine (行政处罚法 Art. 29)")
    for index, penalty in enumerate(penalties):
        amount = penalty.get("amount_yuan")
        if penalty["kind"] in ("fine", "confiscation_of_illegal_gains") and not amount:
            raise RuleViolation(f"{pointer}/{index}/amount_yuan", "amount-required", "a positive amount is required")
        if penalty["kind"] not in ("fine", "confiscation_of_illegal_gains") and amount:
            raise RuleViolation(f"{pointer}/{index}/amount_yuan", "no-amount", f"'{penalty['kind']}' takes no amount")
        refuse_personal_data_in_text(f"{pointer}/{index}/description", penalty.get("description", ""))


def fine_total(penalties: list[Penalty]) -> int:
    return sum(p.get("amount_yuan", 0) for p in penalties if p["kind"] == "fine")


def heavier_than(penalties: list[Penalty], notified: list[Penalty]) -> str | None:
    """Why ``penalties`` are heavier than ``notified``, or None: a kind not notified, or a
    higher amount of one that was."""
    notified_amounts = {p["kind"]: p.get("amount_yuan", 0) for p in notified}
    for penalty in penalties:
        if penalty["kind"] not in notified_amounts:
            return f"'{penalty['kind']}' was not in the prior notice"
        if penalty.get("amount_yuan", 0) > notified_amounts[penalty["kind"]]:
            notified_amount = notified_amounts[penalty["kind"]]
            return f"'{penalty['kind']}' of {penalty.get('amount_yuan')} exceeds the {notified_amount} notified"
    return None


def major_because(
    party_kind: str, penalties: list[Penalty], catalogue: Catalogue, day: date, region: str
) -> str | None:
    """Why a decision is major (重大执法决定: legal review, collective discussion and the
    hearing right), or None: a fine at or above the catalogue's threshold for the party's
    kind (inclusive), suspension of production, revocation of a licence."""
    applied = catalogue.procedural(MAJOR_FINE_RULES[party_kind], day, region)
    threshold = applied.value.yuan if isinstance(applied.value, Yuan) else None
    fine = fine_total(penalties)
    if threshold is not None and fine >= threshold:
        return f"a fine of {fine} yuan reaches {applied.rule_id} v{applied.rule_version} ({threshold} yuan)"
    heavy = sorted({p["kind"] for p in penalties} & MAJOR_PENALTIES)
    if heavy:
        return f"{', '.join(heavy)} is a major decision"
    return None


# -- the aggregate ----------------------------------------------------------------------


class Case(TracedAggregate, RemembersCommands, KeepsDeadlines):
    """行政处罚案件. Created by filing (立案). Remembers each command's Idempotency-Key, so
    a retry is answered from its events."""

    class Filed(TracedAggregate.Created):
        cloud_type = event_types.CASE_FILED
        agency: Agency
        # The first respondent (since class version 3 also the first of ``respondents``).
        party: RecordedParty
        violation_summary: str
        violation_date: str
        harm_caused: bool
        legal_basis: str
        officers: list[Officer]
        filed_on: str
        decision_due: str
        # Since class version 2: the rule that set decision_due (older events: upcast).
        decision_deadline: RecordedDeadline
        # Since class version 3: every respondent (一案双罚), numbered from 1 in this order;
        # whether the case is complex (a major decision whatever its amount); the procedure.
        respondents: list[RecordedParty]
        complex_case: bool
        procedure: Procedure
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A case filed before the catalogue: its date was 90 calendar days, unrolled,
            under the only version of case.decision_due."""
            state["decision_deadline"] = RecordedDeadline(
                name=DECISION_DEADLINE,
                rule_id=DECISION_DUE_RULE,
                rule_version=1,
                due_on=state["decision_due"],
                provisional=False,
                region_override=None,
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """A case filed before respondents: its one party is respondent 1, in the
            ordinary procedure, not marked complex."""
            state["respondents"] = [state["party"]]
            state["complex_case"] = False
            state["procedure"] = "ordinary"

    class DeadlineApproaching(DeadlineApproachingEvent):
        cloud_type = event_types.CASE_DEADLINE_APPROACHING

    class DeadlineMissed(DeadlineMissedEvent):
        cloud_type = event_types.CASE_DEADLINE_MISSED

    class DeadlineExtended(TracedAggregate.Event):
        """An approved extension or suspension moves a deadline's due date (the earlier
        events stay as they were)."""

        cloud_type = event_types.CASE_DEADLINE_EXTENDED
        deadline: RecordedDeadline
        previous_due_on: str
        change: DeadlineChange
        reason: str
        approver: Approver
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.deadlines[self.deadline["name"]]["deadline"] = self.deadline
            if self.deadline["name"] == DECISION_DEADLINE:
                case.decision_due = self.deadline["due_on"]
            case.remember(self.command_key, self.command_fingerprint)

    class EvidenceRecorded(TracedAggregate.Event):
        """证据 (全过程记录): a document or record by reference and content hash."""

        cloud_type = event_types.CASE_EVIDENCE_RECORDED
        evidence_no: int
        kind: EvidenceKind
        document: DocumentRef
        collected_on: str
        officers: list[Officer]
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.evidence_count = self.evidence_no
            case.investigators.extend(self.officers)
            case.remember(self.command_key, self.command_fingerprint)

    class InquiryRecorded(TracedAggregate.Event):
        """现场检查 or 询问 by two officers or more, with its record (笔录) by hash."""

        cloud_type = event_types.CASE_INQUIRY_RECORDED
        kind: InquiryKind
        held_on: str
        officers: list[Officer]
        record: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.investigators.extend(self.officers)
            case.remember(self.command_key, self.command_fingerprint)

    class MeasureTaken(TracedAggregate.Event):
        """先行登记保存 (a decision due in 7 working days) or 查封/扣押 (at most 30 days)."""

        cloud_type = event_types.CASE_MEASURE_TAKEN
        measure_no: int
        kind: MeasureKind
        taken_on: str
        items: str
        officers: list[Officer]
        approver: Approver
        document: DocumentRef
        deadline: RecordedDeadline
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.measures[self.measure_no] = {"kind": self.kind, "taken_on": self.taken_on, "extended": False}
            case.investigators.extend(self.officers)
            case.add_deadline(self.deadline)
            case.remember(self.command_key, self.command_fingerprint)

    class MeasureExtended(TracedAggregate.Event):
        """查封/扣押 extended once, approved by the agency head (行政强制法 Art. 25)."""

        cloud_type = event_types.CASE_MEASURE_EXTENDED
        measure_no: int
        extended_on: str
        reason: str
        approver: Approver
        deadline: RecordedDeadline
        previous_due_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.measures[self.measure_no]["extended"] = True
            case.deadlines[self.deadline["name"]]["deadline"] = self.deadline
            case.remember(self.command_key, self.command_fingerprint)

    class MeasureConcluded(TracedAggregate.Event):
        """The measure's decision (处理决定: returned, released, confiscated, ...) closes its deadline."""

        cloud_type = event_types.CASE_MEASURE_CONCLUDED
        measure_no: int
        concluded_on: str
        outcome: str
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.measures[self.measure_no]["concluded_on"] = self.concluded_on
            case.close_deadline(_measure_deadline(self.measure_no))
            case.remember(self.command_key, self.command_fingerprint)

    class LegalReviewRecorded(TracedAggregate.Event):
        cloud_type = event_types.CASE_LEGAL_REVIEW_RECORDED
        outcome: ReviewOutcome
        reviewer: Reviewer
        opinion: str
        reviewed_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.review = {"outcome": self.outcome, "on": self.reviewed_on, "at": self.originator_version}
            case.remember(self.command_key, self.command_fingerprint)

    class CollectiveDiscussionRecorded(TracedAggregate.Event):
        """负责人集体讨论: who took part, what they concluded, the minutes by hash."""

        cloud_type = event_types.CASE_COLLECTIVE_DISCUSSION_RECORDED
        discussed_on: str
        participants: list[str]
        conclusion: str
        minutes: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.discussion = {"on": self.discussed_on, "at": self.originator_version}
            case.remember(self.command_key, self.command_fingerprint)

    class PriorNoticeServed(TracedAggregate.Event):
        """行政处罚事先告知 to one respondent: facts, basis, the intended penalty and the
        rights to state, defend and (for a major decision) request a hearing, with the
        periods the catalogue gives for them."""

        cloud_type = event_types.CASE_PRIOR_NOTICE_SERVED
        respondent: int
        notified_on: str
        facts: str
        legal_basis: str
        intended_penalties: list[Penalty]
        intended_fine_yuan: int
        statement_deadline: RecordedDeadline
        hearing_right: bool
        hearing_request_deadline: RecordedDeadline | None
        major_because: str | None
        document: DocumentRef | None
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "notified"
            track.intended = self.intended_penalties
            track.notified_on = self.notified_on
            track.statement_until = self.statement_deadline["due_on"]
            track.hearing_right = self.hearing_right
            track.hearing_request_until = (
                self.hearing_request_deadline["due_on"] if self.hearing_request_deadline else None
            )
            track.waived = False
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class StatementRecorded(TracedAggregate.Event):
        """陈述、申辩 received (or waived, with the hearing, in writing)."""

        cloud_type = event_types.CASE_STATEMENT_RECORDED
        respondent: int
        kind: StatementKind
        received_on: str
        summary: str
        document: DocumentRef | None
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.last_statement_on = self.received_on
            if self.kind == "waiver":
                track.waived = True
            else:
                track.defended = True
            case.remember(self.command_key, self.command_fingerprint)

    class HearingRequested(TracedAggregate.Event):
        """听证申请, within the request period after the notice."""

        cloud_type = event_types.CASE_HEARING_REQUESTED
        respondent: int
        requested_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "hearing_requested"
            track.hearing_requested_on = self.requested_on
            case.remember(self.command_key, self.command_fingerprint)

    class HearingScheduled(TracedAggregate.Event):
        """听证通知: time and place, notified at least the catalogue's period ahead; the
        chair did not investigate."""

        cloud_type = event_types.CASE_HEARING_SCHEDULED
        respondent: int
        notified_on: str
        hearing_on: str
        place: str
        chair: Reviewer
        notice_deadline: RecordedDeadline
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "hearing_scheduled"
            track.hearing_notified_on = self.notified_on
            track.hearing_on = self.hearing_on
            track.hearing_place = self.place
            track.hearing_chair = self.chair["name"]
            case.remember(self.command_key, self.command_fingerprint)

    class HearingHeld(TracedAggregate.Event):
        """听证 held; its record (听证笔录), by hash, is what the decision must rest on."""

        cloud_type = event_types.CASE_HEARING_HELD
        respondent: int
        held_on: str
        chair: Reviewer
        record: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "heard"
            track.hearing_on = self.held_on
            track.hearing_record = self.record
            track.heard_at = self.originator_version
            case.remember(self.command_key, self.command_fingerprint)

    class PenaltyDecided(TracedAggregate.Event):
        """The decision document's content (行政处罚决定书) for one respondent,
        self-contained so that the disclosure service can publish it without reading the
        case service: one event, one number, one publication per respondent."""

        cloud_type = event_types.CASE_PENALTY_DECIDED
        decision_number: str
        decided_on: str
        penalties: list[Penalty]
        fine_total_yuan: int
        agency: Agency
        party: RecordedParty
        # Under 18 on the decision date (from the sealed ID number): never published.
        party_is_minor: bool
        violation_summary: str
        legal_basis: str
        # Since class version 2 (older events: upcast): which respondent, the serial of the
        # number in the agency's year, the procedure, the discretion level, how and by when
        # to perform and to seek remedies, the hearing record the decision rests on, and
        # why it was a major decision (reviewed and discussed).
        respondent: int
        serial: int
        procedure: Procedure
        discretion: Discretion | None
        performance: Performance | None
        remedies: Remedies | None
        hearing_record: DocumentRef | None
        major_because: str | None
        # Since class version 3 (older events: upcast to none): what the decision says for
        # its publication.
        disclosure: DisclosureFacts | None
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A decision before respondents: the case's one respondent, in the ordinary
            procedure, its serial read from its number; nothing else was recorded."""
            match = DECISION_NUMBER.match(state["decision_number"])
            state.update(
                respondent=1,
                serial=int(match.group(3)) if match else 0,
                procedure="ordinary",
                discretion=None,
                performance=None,
                remedies=None,
                hearing_record=None,
                major_because=None,
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["disclosure"] = None

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "decided"
            track.decision_number = self.decision_number
            track.decided_on = self.decided_on
            track.penalties = self.penalties
            track.fine_total_yuan = self.fine_total_yuan
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class NotPenalised(TracedAggregate.Event):
        """不予处罚决定 for one respondent: the ground (首违不罚 names its list item)."""

        cloud_type = event_types.CASE_NOT_PENALISED
        respondent: int
        decided_on: str
        ground: NoPenaltyGround
        list_item: str | None
        list_rule: str | None
        reason: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "not_penalised"
            track.decided_on = self.decided_on
            track.no_penalty_ground = self.ground
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class Dismissed(TracedAggregate.Event):
        """撤销立案: the case ends without a decision."""

        cloud_type = event_types.CASE_DISMISSED
        dismissed_on: str
        reason: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.ended_as = "dismissed"
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class SuspendedForReferral(TracedAggregate.Event):
        """中止: a referral of the case as a suspected crime was reported (行刑衔接), learnt
        from ``referral.reported.v1``. An open case takes no further step until the referral
        comes back; a decided one keeps running, but cannot be closed (不得以罚代刑)."""

        cloud_type = event_types.CASE_SUSPENDED_FOR_REFERRAL
        referral_id: str
        suspended_on: str
        suspected_offence: str
        # Whether the procedure stops (the case was open), or only closing waits.
        suspended: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.open_referrals = [*case.open_referrals, self.referral_id]
            if self.suspended:
                case.ended_as = "suspended"
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class ResumedAfterReferral(TracedAggregate.Event):
        """恢复: the referral came back (反向衔接: the head refused it, the police did not
        file, the procuratorate did not prosecute, or the court exempted from punishment),
        learnt from ``referral.returned.v1``; the procedure goes on where it stopped."""

        cloud_type = event_types.CASE_RESUMED_AFTER_REFERRAL
        referral_id: str
        resumed_on: str
        return_reason: str
        penalty_due: bool
        # Whether the procedure goes on (it was suspended and no other referral is open).
        resumed: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.open_referrals = [r for r in case.open_referrals if r != self.referral_id]
            if self.resumed:
                case.ended_as = None
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class ConcludedByReferral(TracedAggregate.Event):
        """The referral ended in a criminal judgment (刑事判决), learnt from
        ``referral.outcome_recorded.v1``: the respondents not yet decided are referred (their
        tracks end: 不再给予行政处罚 for what the court punished), the referral is no longer
        open, and a case it suspended goes on to its closure."""

        cloud_type = event_types.CASE_CONCLUDED_BY_REFERRAL
        referral_id: str
        judged_on: str
        respondents: list[int]  # the tracks it ends
        resumed: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.open_referrals = [r for r in case.open_referrals if r != self.referral_id]
            for number in self.respondents:
                case.tracks[number - 1].state = "referred"
            if self.resumed:
                case.ended_as = None
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class ReportedToAgency(TracedAggregate.Event):
        """简易程序: the on-the-spot decision reported to the agency for filing (备案)."""

        cloud_type = event_types.CASE_REPORTED_TO_AGENCY
        reported_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.reported_on = self.reported_on
            case.remember(self.command_key, self.command_fingerprint)

    # -- after the decision (issue 12) -----------------------------------------------------

    class ServiceConsentRecorded(TracedAggregate.Event):
        """The party's consent to electronic service (同意电子送达), with the address it gave
        and the document it signed (送达地址确认书)."""

        cloud_type = event_types.CASE_SERVICE_CONSENT_RECORDED
        respondent: int
        consented_on: str
        address: str
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.tracks[self.respondent - 1].electronic_consent = self.address
            case.remember(self.command_key, self.command_fingerprint)

    class DecisionServed(TracedAggregate.Event):
        """行政处罚决定书送达: the day it was served (for a public notice, the day it counts
        as served) starts the payment period (a deadline of the case) and the party's
        remedy periods; the surcharge rule is the one in force on the first day late."""

        cloud_type = event_types.CASE_DECISION_SERVED
        respondent: int
        decision_number: str
        method: ServiceMethod
        served_on: str
        published_on: str | None
        address: str | None
        document: DocumentRef
        payment_deadline: RecordedDeadline | None
        surcharge: SurchargeTerms | None
        reconsideration_until: str
        suit_until: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.service_method = self.method
            track.served_on = self.served_on
            track.reconsideration_until = self.reconsideration_until
            track.suit_until = self.suit_until
            track.surcharge = self.surcharge
            if self.payment_deadline is None:
                track.state = "performed"  # no fine: performed by its service
            else:
                track.state = "served"
                track.payment_due = self.payment_deadline["due_on"]
                case.add_deadline(self.payment_deadline)
            case.remember(self.command_key, self.command_fingerprint)

    class PaymentArranged(TracedAggregate.Event):
        """暂缓或者分期缴纳 approved on the party's application (行政处罚法 Art. 66): the
        payment deadline moves (for instalments to the last one's day)."""

        cloud_type = event_types.CASE_PAYMENT_ARRANGED
        respondent: int
        kind: ArrangementKind
        applied_on: str
        approved_on: str
        approver: Approver
        reason: str
        instalments: list[Instalment]
        payment_deadline: RecordedDeadline
        previous_due_on: str
        surcharge: SurchargeTerms
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.arrangement = self.kind
            track.payment_due = self.payment_deadline["due_on"]
            track.surcharge = self.surcharge
            case.deadlines[self.payment_deadline["name"]]["deadline"] = self.payment_deadline
            case.remember(self.command_key, self.command_fingerprint)

    class PaymentRecorded(TracedAggregate.Event):
        """罚款缴纳 at the bank (never to the agency), by the bank's receipt reference; a
        part of what is due, or all of it (the fine, then the surcharge accrued)."""

        cloud_type = event_types.CASE_PAYMENT_RECORDED
        respondent: int
        paid_on: str
        amount_fen: int
        bank: str
        receipt_reference: str
        surcharge_accrued_fen: int
        outstanding_fen: int
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.payments = [
                *track.payments,
                {"paid_on": self.paid_on, "amount_fen": self.amount_fen, "receipt": self.receipt_reference},
            ]
            if self.outstanding_fen == 0:
                track.state = "paid"
                case.close_deadline(_payment_deadline(self.respondent))
                case.close_deadline(_court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class RemedyFiled(TracedAggregate.Event):
        """行政复议 applied for or 行政诉讼 filed, within its period (neither suspends the penalty)."""

        cloud_type = event_types.CASE_REMEDY_FILED
        respondent: int
        kind: RemedyKind
        filed_on: str
        organ: str
        within: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.remedies = [*track.remedies, {"kind": self.kind, "filed_on": self.filed_on, "organ": self.organ}]
            case.remember(self.command_key, self.command_fingerprint)

    class RemedyDecided(TracedAggregate.Event):
        """复议决定 or 判决: upheld, or the decision revoked, changed, declared void or
        illegal (the correction follows as its own event)."""

        cloud_type = event_types.CASE_REMEDY_DECIDED
        respondent: int
        kind: RemedyKind
        decided_on: str
        outcome: RemedyOutcome
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            pending = track.remedy_pending
            assert pending is not None
            track.remedies = [
                {**r, "decided_on": self.decided_on, "outcome": self.outcome} if r is pending else r
                for r in track.remedies
            ]
            case.remember(self.command_key, self.command_fingerprint)

    class DecisionCorrected(TracedAggregate.Event):
        """The correction a remedy's outcome makes to a decision (纠错): revoked, changed
        (its new penalties), void or confirmed illegal. Self-contained like the decision,
        so the disclosure service and Credit China can follow it without reading the case;
        the decision's own event stays as it was."""

        cloud_type = event_types.CASE_DECISION_CORRECTED
        respondent: int
        decision_number: str
        correction: Literal["revoked", "changed", "void", "confirmed_illegal"]
        by: RemedyKind
        corrected_on: str
        agency: Agency
        party: RecordedParty
        previous_penalties: list[Penalty]
        penalties: list[Penalty]
        fine_total_yuan: int
        # Whether the publication of the decision must be withdrawn (revoked or void).
        withdraw_publication: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.corrections += 1
            track.penalties = self.penalties
            track.fine_total_yuan = self.fine_total_yuan
            if self.correction in ("revoked", "void"):
                track.state = "revoked"
                case.close_deadline(_payment_deadline(self.respondent))
                case.close_deadline(_court_deadline(self.respondent))
            elif (
                track.state in ("served", "reminded", "enforcement_applied")
                and track.outstanding_fen(date.fromisoformat(self.corrected_on)) == 0
            ):
                track.state = "paid"  # changed to what was paid already
                case.close_deadline(_payment_deadline(self.respondent))
                case.close_deadline(_court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class ReminderServed(TracedAggregate.Event):
        """催告书 served (行政强制法 Art. 54): the party neither paid nor sought remedies;
        the court application may follow after the reminder's period, within the window
        from the end of the remedy periods (a deadline of the case)."""

        cloud_type = event_types.CASE_REMINDER_SERVED
        respondent: int
        served_on: str
        document: DocumentRef
        outstanding_fen: int
        wait_deadline: RecordedDeadline
        court_application_deadline: RecordedDeadline
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "reminded"
            track.reminder_served_on = self.served_on
            track.reminder_wait_until = self.wait_deadline["due_on"]
            track.court_application_until = self.court_application_deadline["due_on"]
            case.close_deadline(_payment_deadline(self.respondent))  # its step is now the court's
            case.add_deadline(self.court_application_deadline)
            case.remember(self.command_key, self.command_fingerprint)

    class CourtApplied(TracedAggregate.Event):
        """申请人民法院强制执行 (行政强制法 Art. 53, 54), with what was outstanding."""

        cloud_type = event_types.CASE_COURT_APPLIED
        respondent: int
        applied_on: str
        court: str
        outstanding_fen: int
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "enforcement_applied"
            track.court_applied_on = self.applied_on
            case.close_deadline(_court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class CourtRuled(TracedAggregate.Event):
        """The court's ruling (准予执行 / 不予执行裁定) and what its enforcement recovered."""

        cloud_type = event_types.CASE_COURT_RULED
        respondent: int
        ruled_on: str
        ruling: CourtRuling
        recovered_fen: int
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            track = case.tracks[self.respondent - 1]
            track.court_ruling = self.ruling
            track.recovered_fen = self.recovered_fen
            track.state = "enforced" if self.ruling == "granted" else "enforcement_refused"
            case.remember(self.command_key, self.command_fingerprint)

    class Closed(TracedAggregate.Event):
        """结案: every respondent's track ended and no referral is open."""

        cloud_type = event_types.CASE_CLOSED
        closed_on: str
        summary: str
        tracks: dict[str, str]  # respondent number → how its track ended
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.ended_as = "closed"
            case.closed_on = self.closed_on
            for state in case.deadlines.values():
                state["open"] = False
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class Archived(TracedAggregate.Event):
        """归档: the case file is sealed; after this only annotations are added."""

        cloud_type = event_types.CASE_ARCHIVED
        archived_on: str
        archive_reference: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.ended_as = "archived"
            case.archived_on = self.archived_on
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class Annotated(TracedAggregate.Event):
        """备注 on a closed or archived case: adds to the file, changes nothing in it."""

        cloud_type = event_types.CASE_ANNOTATED
        annotated_on: str
        text: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.annotations += 1
            case.remember(self.command_key, self.command_fingerprint)

    def __init__(
        self,
        agency: Agency,
        party: RecordedParty,
        violation_summary: str,
        violation_date: str,
        legal_basis: str,
        officers: list[Officer],
        filed_on: str,
        decision_due: str,
        decision_deadline: RecordedDeadline,
        respondents: list[RecordedParty],
        complex_case: bool,
        procedure: Procedure,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        self.agency = agency
        self.party = party
        self.violation_summary = violation_summary
        self.violation_date = violation_date
        self.legal_basis = legal_basis
        self.officers = officers
        self.filed_on = filed_on
        self.decision_due = decision_due
        self.complex_case = complex_case
        self.procedure = procedure
        self.tracks = [Track(number=i + 1, party=p) for i, p in enumerate(respondents)]
        self.deadlines = {DECISION_DEADLINE: open_deadline(decision_deadline)}
        # Everyone who investigated (a hearing's chair may not be one of them).
        self.investigators: list[Officer] = list(officers)
        self.evidence_count = 0
        self.measures: dict[int, dict[str, Any]] = {}
        self.review: dict[str, Any] | None = None
        self.discussion: dict[str, Any] | None = None
        self.ended_as: str | None = None
        # Referrals reported and not come back (行刑衔接): the case may not close meanwhile.
        self.open_referrals: list[str] = []
        self.reported_on: str | None = None
        self.closed_on: str | None = None
        self.archived_on: str | None = None
        self.annotations = 0
        self.status: str = "filed"
        self.remember(command_key, command_fingerprint)

    def settle_status(self) -> None:
        """The case's status from its tracks (module docstring)."""
        self.status = case_status([t.state for t in self.tracks], self.ended_as)
        if self.status in ("decided", "not_penalised", "referred", "dismissed"):
            self.close_deadline(DECISION_DEADLINE)  # the step is taken

    @property
    def decision_number(self) -> str | None:
        """The first respondent's decision number (the case's one number when it has one respondent)."""
        return self.tracks[0].decision_number

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        actions = CASE_ACTIONS[self.status]
        if not any("concluded_on" not in m for m in self.measures.values()):
            actions = tuple(a for a in actions if a != "conclude_measure")
        return actions

    def respondent_actions(self, track: Track) -> tuple[str, ...]:
        return track_actions(self.status, track.state)

    def _require(self, action: str) -> None:
        if action not in CASE_ACTIONS[self.status]:
            raise IllegalTransition(action, self.status, self.allowed_actions)

    def _track(self, number: int, action: str) -> Track:
        if not 1 <= number <= len(self.tracks):
            raise NotFound(f"the case has no respondent {number} (it has {len(self.tracks)})")
        track = self.tracks[number - 1]
        allowed = self.respondent_actions(track)
        if action not in allowed:
            state = track.state if allowed or self.status in OPEN_CASE else f"{track.state}, the case {self.status}"
            raise IllegalTransition(
                action, state, allowed, why=f"'{action}' is not allowed while respondent {number} is '{state}'"
            )
        return track

    # -- commands: filing --------------------------------------------------------------
    @classmethod
    def file(
        cls,
        *,
        case_id: Any,
        agency: Agency,
        respondents: list[Party],
        violation_summary: str,
        violation_date: date,
        harm_caused: bool,
        legal_basis: str,
        officers: list[Officer],
        filed_on: date,
        command_key: str,
        command_fingerprint: str,
        cipher: FieldCipher,
        catalogue: Catalogue,
        latest: date,
        complex_case: bool = False,
        procedure: Procedure = "ordinary",
    ) -> Case:
        """立案. At least two officers with distinct certificates (行政处罚法 Art. 42);
        within the limitation period (Art. 36). A natural person's ID number, phone and
        address are sealed before the event records them."""
        if not is_valid_uscc(agency["code"]):
            raise RuleViolation("/agency/code", "uscc", "not a valid unified social credit code (check character)")
        pointers = ["/party"] if len(respondents) == 1 else [f"/respondents/{i}" for i in range(len(respondents))]
        for pointer, party in zip(pointers, respondents, strict=True):
            validate_party(party, pointer)
        codes = [party["code"] for party in respondents]
        if len(set(codes)) != len(codes):
            raise RuleViolation("/respondents", "distinct-respondents", "a respondent is named twice")
        for party in respondents:
            refuse_personal_data_in_text("/violation_summary", violation_summary, party)
            refuse_personal_data_in_text("/legal_basis", legal_basis, party)
        require_two_officers(officers, "act")
        check_business_date("/filed_on", filed_on, latest)
        check_business_date("/violation_date", violation_date, latest)
        if violation_date > filed_on:
            raise RuleViolation("/violation_date", "not-after-filing", "the violation cannot be after the filing date")
        years = LIMITATION_YEARS_WITH_HARM if harm_caused else LIMITATION_YEARS
        if violation_date < _years_before(filed_on, years):
            raise RuleViolation(
                "/violation_date",
                "limitation-period",
                f"violation older than {years} years cannot be penalised (行政处罚法 Art. 36)",
            )
        due = catalogue.procedural_deadline(DECISION_DUE_RULE, filed_on, region=agency["region_code"])
        decision_deadline = recorded_deadline(DECISION_DEADLINE, due)
        recorded = [seal_party(dict(party), cipher) for party in respondents]
        case: Case = cls._create(
            cls.Filed,
            id=case_id,
            agency=agency,
            party=recorded[0],
            violation_summary=violation_summary,
            violation_date=violation_date.isoformat(),
            harm_caused=harm_caused,
            legal_basis=legal_basis,
            officers=officers,
            filed_on=filed_on.isoformat(),
            decision_due=decision_deadline["due_on"],
            decision_deadline=decision_deadline,
            respondents=recorded,
            complex_case=complex_case,
            procedure=procedure,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return case

    # -- commands: investigation (调查取证) ----------------------------------------------
    def record_evidence(
        self,
        *,
        kind: EvidenceKind,
        document: DocumentRef,
        collected_on: date,
        officers: list[Officer],
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """证据, referenced by its content hash (the bytes stay in the agency's records)."""
        self._require("record_evidence")
        require_two_officers(officers, "collect evidence")
        check_business_date("/collected_on", collected_on, latest, not_before=("filed_on", self.filed_on))
        refuse_personal_data_in_text("/document/title", document["title"])
        self.trigger_event(
            self.EvidenceRecorded,
            evidence_no=self.evidence_count + 1,
            kind=kind,
            document=document,
            collected_on=collected_on.isoformat(),
            officers=officers,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_inquiry(
        self,
        *,
        kind: InquiryKind,
        held_on: date,
        officers: list[Officer],
        record: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """现场检查 or 询问: two officers or more (行政处罚法 Art. 42, 55)."""
        self._require("record_inquiry")
        require_two_officers(officers, f"hold an {kind}")
        check_business_date("/held_on", held_on, latest, not_before=("filed_on", self.filed_on))
        refuse_personal_data_in_text("/record/title", record["title"])
        self.trigger_event(
            self.InquiryRecorded,
            kind=kind,
            held_on=held_on.isoformat(),
            officers=officers,
            record=record,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def take_measure(
        self,
        *,
        kind: MeasureKind,
        taken_on: date,
        items: str,
        officers: list[Officer],
        approver: Approver,
        document: DocumentRef,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """先行登记保存 (its decision due in the catalogue's 7 working days) or 查封/扣押
        (at most the catalogue's 30 days), approved by the agency head, by two officers."""
        self._require("take_measure")
        require_two_officers(officers, "take a measure")
        check_business_date("/taken_on", taken_on, latest, not_before=("filed_on", self.filed_on))
        refuse_personal_data_in_text("/items", items)
        number = len(self.measures) + 1
        rule = PRESERVATION_RULE if kind == "preservation" else SEIZURE_RULE
        due = catalogue.procedural_deadline(rule, taken_on, region=self.agency["region_code"])
        self.trigger_event(
            self.MeasureTaken,
            measure_no=number,
            kind=kind,
            taken_on=taken_on.isoformat(),
            items=items,
            officers=officers,
            approver=approver,
            document=document,
            deadline=recorded_deadline(_measure_deadline(number), due),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def _open_measure(self, number: int, action: str) -> dict[str, Any]:
        measure = self.measures.get(number)
        if measure is None:
            raise NotFound(f"the case has no measure {number}")
        if "concluded_on" in measure:
            raise IllegalTransition(
                action, "concluded", (), why=f"measure {number} was concluded on {measure['concluded_on']}"
            )
        return measure

    def extend_measure(
        self,
        *,
        measure_no: int,
        extended_on: date,
        reason: str,
        approver: Approver,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """查封/扣押 extended once, by the catalogue's period from the original end (行政强制法 Art. 25)."""
        measure = self._open_measure(measure_no, "extend_measure")
        if measure["kind"] == "preservation":
            raise RuleViolation("/measure", "no-extension", "evidence preserved in advance takes no extension")
        if measure["extended"]:
            raise IllegalTransition(
                "extend_measure",
                "extended",
                ("conclude_measure",),
                why=f"measure {measure_no} was extended once already",
            )
        current = self.deadlines[_measure_deadline(measure_no)]["deadline"]
        check_business_date("/extended_on", extended_on, latest, not_before=("taken_on", measure["taken_on"]))
        if extended_on > date.fromisoformat(current["due_on"]):
            raise RuleViolation(
                "/extended_on", "extend-before-expiry", f"the measure ended on {current['due_on']}: extend it before"
            )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "an extension must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        due = catalogue.procedural_deadline(
            SEIZURE_EXTENSION_RULE,
            date.fromisoformat(current["due_on"]),
            region=self.agency["region_code"],
            step_date=extended_on,
        )
        self.trigger_event(
            self.MeasureExtended,
            measure_no=measure_no,
            extended_on=extended_on.isoformat(),
            reason=reason,
            approver=approver,
            deadline=recorded_deadline(_measure_deadline(measure_no), due),
            previous_due_on=current["due_on"],
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def conclude_measure(
        self,
        *,
        measure_no: int,
        concluded_on: date,
        outcome: str,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The measure's decision (处理决定) or release (解除): its deadline is met."""
        measure = self._open_measure(measure_no, "conclude_measure")
        check_business_date("/concluded_on", concluded_on, latest, not_before=("taken_on", measure["taken_on"]))
        refuse_personal_data_in_text("/outcome", outcome)
        self.trigger_event(
            self.MeasureConcluded,
            measure_no=measure_no,
            concluded_on=concluded_on.isoformat(),
            outcome=outcome,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    # -- commands: review and discussion ----------------------------------------------
    def record_legal_review(
        self,
        *,
        outcome: ReviewOutcome,
        reviewer: Reviewer,
        opinion: str,
        reviewed_on: date,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """法制审核: passed, or returned with an opinion. A later review replaces an earlier one."""
        self._require("record_legal_review")
        if outcome == "returned" and not opinion.strip():
            raise RuleViolation("/opinion", "opinion-required", "a returned review must give the reviewer's opinion")
        refuse_personal_data_in_text("/opinion", opinion)
        if _is_investigator(reviewer, self.investigators):
            raise RuleViolation(
                "/reviewer/name", "independent-reviewer", "the legal reviewer cannot be an investigating officer"
            )
        check_business_date("/reviewed_on", reviewed_on, latest, not_before=("filed_on", self.filed_on))
        self.trigger_event(
            self.LegalReviewRecorded,
            outcome=outcome,
            reviewer=reviewer,
            opinion=opinion,
            reviewed_on=reviewed_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_collective_discussion(
        self,
        *,
        discussed_on: date,
        participants: list[str],
        conclusion: str,
        minutes: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """负责人集体讨论, only after a passed legal review (the review comes first)."""
        self._require("record_collective_discussion")
        if self.review is None or self.review["outcome"] != "passed":
            raise IllegalTransition(
                "record_collective_discussion",
                self.status,
                ("record_legal_review",),
                why="a collective discussion needs a passed legal review first",
            )
        if len({p.strip() for p in participants}) < 2:
            raise RuleViolation("/participants", "collective", "a collective discussion takes two heads or more")
        refuse_personal_data_in_text("/conclusion", conclusion)
        check_business_date("/discussed_on", discussed_on, latest, not_before=("reviewed_on", self.review["on"]))
        self.trigger_event(
            self.CollectiveDiscussionRecorded,
            discussed_on=discussed_on.isoformat(),
            participants=participants,
            conclusion=conclusion,
            minutes=minutes,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    # -- commands: a respondent's track ------------------------------------------------
    def serve_prior_notice(
        self,
        *,
        respondent: int,
        notified_on: date,
        facts: str,
        legal_basis: str,
        intended_penalties: list[Penalty],
        document: DocumentRef | None,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """事先告知 (行政处罚法 Art. 44, 45, 63, 64): the statement period and, for a major
        decision, the hearing right with its request period, both from the catalogue. A
        new notice replaces the earlier one, but not with a heavier penalty after the
        respondent stated or defended (Art. 45)."""
        track = self._track(respondent, "serve_prior_notice")
        validate_penalties(intended_penalties, "/intended_penalties")
        refuse_personal_data_in_text("/facts", facts)
        refuse_personal_data_in_text("/legal_basis", legal_basis)
        check_business_date(
            "/notified_on",
            notified_on,
            latest,
            not_before=("notified_on", track.notified_on) if track.notified_on else ("filed_on", self.filed_on),
        )
        if track.defended and track.intended is not None:
            heavier = heavier_than(intended_penalties, track.intended)
            if heavier:
                raise RuleViolation(
                    "/intended_penalties",
                    "no-heavier-after-defence",
                    f"the respondent stated or defended: no heavier penalty than notified ({heavier}; Art. 45)",
                )
        region = self.agency["region_code"]
        major = major_because(track.kind, intended_penalties, catalogue, notified_on, region) or (
            "the case is complex" if self.complex_case else None
        )
        statement = catalogue.procedural_deadline(STATEMENT_WINDOW_RULE, notified_on, region=region)
        hearing = catalogue.procedural_deadline(HEARING_REQUEST_RULE, notified_on, region=region) if major else None
        self.trigger_event(
            self.PriorNoticeServed,
            respondent=respondent,
            notified_on=notified_on.isoformat(),
            facts=facts,
            legal_basis=legal_basis,
            intended_penalties=intended_penalties,
            intended_fine_yuan=fine_total(intended_penalties),
            statement_deadline=recorded_deadline(f"statement_{respondent}", statement),
            hearing_right=major is not None,
            hearing_request_deadline=recorded_deadline(f"hearing_request_{respondent}", hearing) if hearing else None,
            major_because=major,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_statement(
        self,
        *,
        respondent: int,
        kind: StatementKind,
        received_on: date,
        summary: str,
        document: DocumentRef | None,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """陈述、申辩 (or their waiver, which waives the hearing too) after the notice."""
        track = self._track(respondent, "record_statement")
        refuse_personal_data_in_text("/summary", summary)
        check_business_date("/received_on", received_on, latest, not_before=("notified_on", track.notified_on))
        if kind == "waiver" and track.state != "notified":
            raise IllegalTransition(
                "record_statement", track.state, track.allowed, why="a hearing was requested: it cannot be waived here"
            )
        self.trigger_event(
            self.StatementRecorded,
            respondent=respondent,
            kind=kind,
            received_on=received_on.isoformat(),
            summary=summary,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def request_hearing(
        self, *, respondent: int, requested_on: date, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """听证申请: only with the hearing right, within the catalogue's request period."""
        track = self._track(respondent, "request_hearing")
        check_business_date("/requested_on", requested_on, latest, not_before=("notified_on", track.notified_on))
        if not track.hearing_right or track.hearing_request_until is None:
            raise RuleViolation(
                "/respondent", "no-hearing-right", "the intended penalty is not a major decision: no hearing right"
            )
        if track.waived:
            raise RuleViolation("/respondent", "hearing-waived", "the respondent waived the hearing")
        if requested_on > date.fromisoformat(track.hearing_request_until):
            raise RuleViolation(
                "/requested_on",
                "hearing-request-late",
                f"the hearing had to be requested by {track.hearing_request_until} ({HEARING_REQUEST_RULE})",
            )
        self.trigger_event(
            self.HearingRequested,
            respondent=respondent,
            requested_on=requested_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def schedule_hearing(
        self,
        *,
        respondent: int,
        notified_on: date,
        hearing_on: date,
        place: str,
        chair: Reviewer,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """听证通知: time and place notified at least the catalogue's period before the
        hearing; chaired by someone who did not investigate the case."""
        track = self._track(respondent, "schedule_hearing")
        check_business_date(
            "/notified_on", notified_on, latest, not_before=("requested_on", track.hearing_requested_on)
        )
        refuse_personal_data_in_text("/place", place)
        if not notified_on < hearing_on <= notified_on + timedelta(days=HEARING_WITHIN_DAYS):
            raise RuleViolation(
                "/hearing_on",
                "hearing-date",
                f"the hearing must be after its notice, within {HEARING_WITHIN_DAYS} days",
            )
        if _is_investigator(chair, self.investigators):
            raise RuleViolation("/chair", "chair-not-investigator", "the hearing's chair investigated the case")
        notice = catalogue.procedural_deadline(
            HEARING_NOTICE_RULE, hearing_on, region=self.agency["region_code"], step_date=notified_on
        )
        if notified_on > notice.due_on:
            raise RuleViolation(
                "/hearing_on",
                "hearing-notice-period",
                f"a hearing on {hearing_on} must be notified by {notice.due_on} ({HEARING_NOTICE_RULE})",
            )
        self.trigger_event(
            self.HearingScheduled,
            respondent=respondent,
            notified_on=notified_on.isoformat(),
            hearing_on=hearing_on.isoformat(),
            place=place,
            chair=chair,
            notice_deadline=recorded_deadline(f"hearing_notice_{respondent}", notice),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_hearing(
        self,
        *,
        respondent: int,
        held_on: date,
        chair: Reviewer,
        record: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """听证笔录: the hearing held on its day (or later), by the chair it was notified with."""
        track = self._track(respondent, "record_hearing")
        check_business_date("/held_on", held_on, latest, not_before=("hearing_on", track.hearing_on))
        if chair["name"].strip() != (track.hearing_chair or "").strip():
            raise RuleViolation("/chair", "same-chair", f"the hearing was notified with {track.hearing_chair} as chair")
        self.trigger_event(
            self.HearingHeld,
            respondent=respondent,
            held_on=held_on.isoformat(),
            chair=chair,
            record=record,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_penalty(
        self,
        *,
        respondent: int,
        decision_number: str,
        serial: int,
        decided_on: date,
        penalties: list[Penalty],
        discretion: Discretion,
        performance_how: str,
        reconsideration_organ: str,
        court: str,
        hearing_record_sha256: str | None,
        catalogue: Catalogue,
        cipher: FieldCipher,
        latest: date,
        command_key: str,
        command_fingerprint: str,
        disclosure: DisclosureFacts | None = None,
    ) -> None:
        """行政处罚决定 for one respondent, under the number the agency's register assigned.

        Refused: before the prior notice, inside its statement (or hearing request)
        period unless waived; after a hearing request until the hearing is held, and then
        not citing its record; heavier than notified (Art. 45 after a statement or
        defence); a major decision (the catalogue's thresholds, a hearing held, a complex
        case) without a passed legal review after the hearing, or without a collective
        discussion after that review."""
        track = self._track(respondent, "decide_penalty")
        validate_penalties(penalties)
        refuse_personal_data_in_text("/discretion/benchmark", discretion["benchmark"])
        refuse_personal_data_in_text("/performance", performance_how)
        _check_disclosure(disclosure, decided_on)
        region = self.agency["region_code"]
        previous = track.last_step_on()
        check_business_date("/decided_on", decided_on, latest, not_before=previous)
        _check_number(decision_number, self.agency, decided_on)
        if track.state == "notified" and not track.waived:
            assert track.statement_until is not None
            if decided_on <= date.fromisoformat(track.statement_until):
                raise RuleViolation(
                    "/decided_on",
                    "statement-period-running",
                    f"respondent {respondent} may state and defend until {track.statement_until}"
                    f" ({STATEMENT_WINDOW_RULE})",
                )
            if track.hearing_request_until and decided_on <= date.fromisoformat(track.hearing_request_until):
                raise RuleViolation(
                    "/decided_on",
                    "hearing-request-period-running",
                    f"respondent {respondent} may request a hearing until {track.hearing_request_until}",
                )
        hearing_record = track.hearing_record if track.state == "heard" else None
        if hearing_record is not None and hearing_record_sha256 != hearing_record["sha256"]:
            raise RuleViolation(
                "/hearing_record_sha256",
                "cite-hearing-record",
                f"the decision must rest on the hearing record {hearing_record['title']}"
                f" (sha256 {hearing_record['sha256']})",
            )
        assert track.intended is not None
        heavier = heavier_than(penalties, track.intended)
        if heavier and track.defended:
            raise RuleViolation(
                "/penalties",
                "no-heavier-after-defence",
                f"no heavier penalty than notified after a statement or defence ({heavier}; 行政处罚法 Art. 45)",
            )
        if heavier:
            raise RuleViolation("/penalties", "heavier-than-notified", f"{heavier}: serve a new prior notice first")
        major = (
            major_because(track.kind, penalties, catalogue, decided_on, region)
            or ("a hearing was held" if hearing_record else None)
            or ("the case is complex" if self.complex_case else None)
        )
        if major:
            self._require_gates(major, track)
        not_before = max(
            d for d in (self.filed_on, (self.review or {}).get("on"), (self.discussion or {}).get("on")) if d
        )
        check_business_date("/decided_on", decided_on, latest, not_before=("the review or discussion", not_before))
        self.trigger_event(
            self.PenaltyDecided,
            decision_number=decision_number,
            decided_on=decided_on.isoformat(),
            penalties=penalties,
            fine_total_yuan=fine_total(penalties),
            agency=self.agency,
            party=track.party,
            party_is_minor=_party_is_minor(track.party, decided_on, cipher),
            violation_summary=self.violation_summary,
            legal_basis=self.legal_basis,
            respondent=respondent,
            serial=serial,
            procedure=self.procedure,
            discretion=discretion,
            performance=_performance(performance_how, catalogue, decided_on, region),
            remedies=_remedies(reconsideration_organ, court, catalogue, decided_on, region),
            hearing_record=hearing_record,
            major_because=major,
            disclosure=disclosure,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def require_decidable(self, respondent: int) -> None:
        """Refuses (409) a decision the respondent's state does not allow, before a number is taken."""
        self._track(respondent, "decide_penalty")

    def _require_gates(self, major: str, track: Track) -> None:
        """A major decision: a passed legal review (after the hearing, if one was held),
        then a collective discussion after that review."""
        review = self.review
        if review is None or review["outcome"] != "passed" or (track.heard_at and review["at"] < track.heard_at):
            after = " after the hearing" if track.heard_at else ""
            raise RuleViolation(
                "/respondent", "legal-review-required", f"{major}: a passed legal review{after} is required first"
            )
        if self.discussion is None or self.discussion["at"] < review["at"]:
            raise RuleViolation(
                "/respondent",
                "collective-discussion-required",
                f"{major}: a collective discussion after the legal review is required first",
            )

    def not_penalise(
        self,
        *,
        respondent: int,
        decided_on: date,
        ground: NoPenaltyGround,
        list_item: str | None,
        reason: str,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """不予处罚决定 (行政处罚法 Art. 33, 40): 首违不罚 only for an item on the
        catalogue's no-penalty list in force (从旧兼从轻 between the violation and the decision)."""
        track = self._track(respondent, "not_penalise")
        check_business_date(
            "/decided_on", decided_on, latest, not_before=track.last_step_on() or ("filed_on", self.filed_on)
        )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "a no-penalty decision must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        list_rule = None
        if ground == "first_offence":
            applied = catalogue.substantive(
                FIRST_OFFENCE_LIST_RULE,
                date.fromisoformat(self.violation_date),
                decided_on,
                region=self.agency["region_code"],
            )
            listed = applied.value.codes if isinstance(applied.value, Codes) else {}
            if list_item not in listed:
                raise RuleViolation(
                    "/list_item",
                    "first-offence-list",
                    f"not on the no-penalty list {applied.rule_id} v{applied.rule_version}"
                    f" ({', '.join(sorted(listed))})",
                )
            list_rule = f"{applied.rule_id} v{applied.rule_version}"
        elif list_item is not None:
            raise RuleViolation(
                "/list_item", "list-item-for-first-offence", "a list item goes with ground 'first_offence'"
            )
        self.trigger_event(
            self.NotPenalised,
            respondent=respondent,
            decided_on=decided_on.isoformat(),
            ground=ground,
            list_item=list_item,
            list_rule=list_rule,
            reason=reason,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def dismiss(
        self, *, dismissed_on: date, reason: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """撤销立案, before any notice is served."""
        self._require("dismiss")
        check_business_date("/dismissed_on", dismissed_on, latest, not_before=("filed_on", self.filed_on))
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "a dismissal must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        self.trigger_event(
            self.Dismissed,
            dismissed_on=dismissed_on.isoformat(),
            reason=reason,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def suspend_for_referral(
        self, *, referral_id: str, suspended_on: date, suspected_offence: str, command_key: str, actor: dict[str, Any]
    ) -> bool:
        """中止 on a referral reported (the referral service's event, not a command of the
        agency's). False when this event was already applied (a redelivery)."""
        if self.remembers(command_key) or referral_id in self.open_referrals:
            return False
        self.trigger_event(
            self.SuspendedForReferral,
            referral_id=referral_id,
            suspended_on=suspended_on.isoformat(),
            suspected_offence=suspected_offence,
            suspended=self.status in OPEN_CASE,
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True

    def resume_after_referral(
        self,
        *,
        referral_id: str,
        resumed_on: date,
        return_reason: str,
        penalty_due: bool,
        command_key: str,
        actor: dict[str, Any],
    ) -> bool:
        """恢复 on a referral returned. False for a redelivery, or a referral the case did
        not suspend for (reported before cases learnt of referrals)."""
        if self.remembers(command_key) or referral_id not in self.open_referrals:
            return False
        self.trigger_event(
            self.ResumedAfterReferral,
            referral_id=referral_id,
            resumed_on=resumed_on.isoformat(),
            return_reason=return_reason,
            penalty_due=penalty_due,
            resumed=self.ended_as == "suspended" and self.open_referrals == [referral_id],
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True

    def conclude_by_referral(
        self, *, referral_id: str, judged_on: date, command_key: str, actor: dict[str, Any]
    ) -> bool:
        """A referral's criminal judgment ends the respondents not yet decided (referred).
        False for a redelivery, or a referral the case did not suspend for."""
        if self.remembers(command_key) or referral_id not in self.open_referrals:
            return False
        self.trigger_event(
            self.ConcludedByReferral,
            referral_id=referral_id,
            judged_on=judged_on.isoformat(),
            respondents=[t.number for t in self.tracks if t.state in BEFORE_DECISION],
            resumed=self.ended_as == "suspended" and self.open_referrals == [referral_id],
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True

    # -- the simplified procedure (简易程序) ----------------------------------------------
    @classmethod
    def decide_on_the_spot(
        cls,
        *,
        case_id: Any,
        agency: Agency,
        party: Party,
        violation_summary: str,
        violation_date: date,
        legal_basis: str,
        officers: list[Officer],
        decided_on: date,
        penalties: list[Penalty],
        decision_number: str,
        serial: int,
        performance_how: str,
        reconsideration_organ: str,
        court: str,
        cipher: FieldCipher,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> Case:
        """当场处罚 (行政处罚法 Art. 51): a warning or a fine within the catalogue's limit
        for the party's kind; no hearing or review; filed and decided in one step and
        reported to the agency afterwards."""
        validate_penalties(penalties)
        other = sorted({p["kind"] for p in penalties} - {"warning", "fine"})
        if other:
            raise RuleViolation(
                "/penalties", "simplified-penalties", f"on the spot only a warning or a fine, not {other}"
            )
        limit_rule = catalogue.procedural(SIMPLIFIED_FINE_RULES[party["kind"]], decided_on, agency["region_code"])
        limit = limit_rule.value.yuan if isinstance(limit_rule.value, Yuan) else 0
        if fine_total(penalties) > limit:
            raise RuleViolation(
                "/penalties",
                "simplified-limit",
                f"a fine above {limit} yuan ({limit_rule.rule_id} v{limit_rule.rule_version})"
                " needs the ordinary procedure",
            )
        case = cls.file(
            case_id=case_id,
            agency=agency,
            respondents=[party],
            violation_summary=violation_summary,
            violation_date=violation_date,
            harm_caused=False,
            legal_basis=legal_basis,
            officers=officers,
            filed_on=decided_on,
            cipher=cipher,
            catalogue=catalogue,
            latest=latest,
            procedure="simplified",
            command_key="",
            command_fingerprint="",
        )
        _check_number(decision_number, agency, decided_on)
        track = case.tracks[0]
        region = agency["region_code"]
        case.trigger_event(
            cls.PenaltyDecided,
            decision_number=decision_number,
            decided_on=decided_on.isoformat(),
            penalties=penalties,
            fine_total_yuan=fine_total(penalties),
            agency=agency,
            party=track.party,
            party_is_minor=_party_is_minor(track.party, decided_on, cipher),
            violation_summary=violation_summary,
            legal_basis=legal_basis,
            respondent=1,
            serial=serial,
            procedure="simplified",
            discretion=None,
            performance=_performance(performance_how, catalogue, decided_on, region),
            remedies=_remedies(reconsideration_organ, court, catalogue, decided_on, region),
            hearing_record=None,
            major_because=None,
            disclosure=None,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return case

    def report_to_agency(self, *, reported_on: date, latest: date, command_key: str, command_fingerprint: str) -> None:
        """备案 of an on-the-spot decision with the agency, once."""
        if self.procedure != "simplified" or self.reported_on is not None:
            why = "only an on-the-spot decision is reported" if self.procedure != "simplified" else "reported already"
            raise IllegalTransition("report_to_agency", self.status, self.allowed_actions, why=why)
        decided_on = self.tracks[0].decided_on
        check_business_date("/reported_on", reported_on, latest, not_before=("decided_on", decided_on))
        self.trigger_event(
            self.ReportedToAgency,
            reported_on=reported_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    # -- commands: after the decision (issue 12) ---------------------------------------
    def record_service_consent(
        self,
        *,
        respondent: int,
        consented_on: date,
        address: str,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """同意电子送达: the party's consent, with the address it gave, before the decision is served."""
        track = self._track(respondent, "record_service_consent")
        check_business_date("/consented_on", consented_on, latest, not_before=("filed_on", self.filed_on))
        if not address.strip():
            raise RuleViolation("/address", "address-required", "electronic service needs the address consented to")
        self.trigger_event(
            self.ServiceConsentRecorded,
            respondent=track.number,
            consented_on=consented_on.isoformat(),
            address=address.strip(),
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def serve_decision(
        self,
        *,
        respondent: int,
        method: ServiceMethod,
        served_on: date | None,
        published_on: date | None,
        document: DocumentRef,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """送达 (行政处罚法 Art. 61): on the spot the day it was decided; to an absent party
        within the catalogue's period from the decision; electronically only to the address
        the party consented to; by public notice counted as served when the catalogue's
        period from its publication has passed (recorded then, the day it counts as served).
        Service opens the payment deadline (when there is a fine) and the remedy periods."""
        track = self._track(respondent, "serve_decision")
        assert track.decided_on is not None and track.decision_number is not None
        region = self.agency["region_code"]
        decided = date.fromisoformat(track.decided_on)
        address = None
        if method == "public_notice":
            if published_on is None:
                raise RuleViolation("/published_on", "published-on-required", "a public notice needs its date")
            check_business_date("/published_on", published_on, latest, not_before=("decided_on", decided))
            deemed = catalogue.procedural_deadline(PUBLIC_NOTICE_RULE, published_on, region=region).due_on
            if served_on is not None and served_on != deemed:
                raise RuleViolation(
                    "/served_on", "public-notice-served-on", f"a notice of {published_on} counts as served on {deemed}"
                )
            if deemed > latest:
                raise RuleViolation(
                    "/published_on",
                    "public-notice-period-running",
                    f"the notice counts as served on {deemed} ({PUBLIC_NOTICE_RULE}): record the service then",
                )
            served = deemed
        else:
            if served_on is None:
                raise RuleViolation("/served_on", "served-on-required", "the day of service is required")
            if published_on is not None:
                raise RuleViolation(
                    "/published_on", "only-public-notice", "only a public notice has a publication date"
                )
            check_business_date("/served_on", served_on, latest, not_before=("decided_on", decided))
            served = served_on
        if method == "on_the_spot" and served != decided:
            raise RuleViolation(
                "/served_on", "on-the-spot-same-day", f"served on the spot means on the decision's day ({decided})"
            )
        if method == "absent_party":
            within = catalogue.procedural_deadline(ABSENT_SERVICE_RULE, decided, region=region)
            if served > within.due_on:
                raise RuleViolation(
                    "/served_on",
                    "absent-party-service-period",
                    f"a decision of {decided} is served on an absent party by {within.due_on} ({ABSENT_SERVICE_RULE})",
                )
        if method == "electronic":
            if track.electronic_consent is None:
                raise RuleViolation(
                    "/method",
                    "electronic-service-consent",
                    f"respondent {respondent} has not consented to electronic service (行政处罚法 Art. 61)",
                )
            address = track.electronic_consent
        payment = None
        surcharge = None
        if track.fine_fen:
            due = catalogue.procedural_deadline(PAYMENT_RULE, served, region=region)
            payment = recorded_deadline(_payment_deadline(respondent), due)
            surcharge = _surcharge_terms(catalogue, due.due_on, region)
        self.trigger_event(
            self.DecisionServed,
            respondent=respondent,
            decision_number=track.decision_number,
            method=method,
            served_on=served.isoformat(),
            published_on=published_on.isoformat() if published_on else None,
            address=address,
            document=document,
            payment_deadline=payment,
            surcharge=surcharge,
            reconsideration_until=catalogue.procedural_deadline(
                RECONSIDERATION_RULE, served, region=region
            ).due_on.isoformat(),
            suit_until=catalogue.procedural_deadline(SUIT_RULE, served, region=region).due_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def arrange_payment(
        self,
        *,
        respondent: int,
        kind: ArrangementKind,
        applied_on: date,
        approved_on: date,
        approver: Approver,
        reason: str,
        due_on: date | None,
        instalments: list[Instalment],
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """暂缓或者分期缴纳 (行政处罚法 Art. 66), applied for within the payment period and
        approved: a deferral to a later day, or instalments covering the unpaid fine; the
        payment deadline (and the first day of surcharge) moves to the new (last) day."""
        track = self._track(respondent, "arrange_payment")
        assert track.payment_due is not None
        check_business_date("/applied_on", applied_on, latest, not_before=("served_on", track.served_on))
        check_business_date("/approved_on", approved_on, latest, not_before=("applied_on", applied_on))
        if applied_on > date.fromisoformat(track.payment_due):
            raise RuleViolation(
                "/applied_on",
                "apply-within-payment-period",
                f"a deferral or instalments must be applied for by {track.payment_due} ({PAYMENT_RULE})",
            )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "a deferral or instalments must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        if kind == "deferral":
            if due_on is None or instalments:
                raise RuleViolation("/due_on", "deferral-due-on", "a deferral gives its new day and no instalments")
            new_due = due_on
        else:
            if due_on is not None or len(instalments) < 2:
                raise RuleViolation("/instalments", "instalments", "instalments are two or more, each with its day")
            days = [i["due_on"] for i in instalments]
            if days != sorted(set(days)) or any(i["amount_fen"] <= 0 for i in instalments):
                raise RuleViolation(
                    "/instalments", "instalments", "instalments on distinct days in order, each positive"
                )
            unpaid = track.fine_fen - track.paid_fen
            if sum(i["amount_fen"] for i in instalments) != unpaid:
                raise RuleViolation("/instalments", "instalments-sum", f"the instalments must add up to {unpaid} fen")
            new_due = date.fromisoformat(days[-1])
        if new_due <= date.fromisoformat(track.payment_due):
            raise RuleViolation("/due_on", "later-due-date", f"the new day must be after {track.payment_due}")
        current = self.deadlines[_payment_deadline(respondent)]["deadline"]
        self.trigger_event(
            self.PaymentArranged,
            respondent=respondent,
            kind=kind,
            applied_on=applied_on.isoformat(),
            approved_on=approved_on.isoformat(),
            approver=approver,
            reason=reason,
            instalments=instalments,
            payment_deadline=RecordedDeadline(**{**current, "due_on": new_due.isoformat()}),
            previous_due_on=current["due_on"],
            surcharge=_surcharge_terms(catalogue, new_due, self.agency["region_code"]),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_payment(
        self,
        *,
        respondent: int,
        paid_on: date,
        amount_fen: int,
        bank: str,
        receipt_reference: str,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """罚款缴纳 at the bank (行政处罚法 Art. 67: never to the agency), by its receipt
        reference; applied to the fine first, then to the surcharge accrued on that day;
        no more than is outstanding. The track ends (paid) when nothing is."""
        track = self._track(respondent, "record_payment")
        last = max((p["paid_on"] for p in track.payments), default=None)
        check_business_date(
            "/paid_on", paid_on, latest, not_before=("paid_on", last) if last else ("served_on", track.served_on)
        )
        if amount_fen <= 0:
            raise RuleViolation("/amount_fen", "positive-amount", "a payment is a positive amount")
        if not receipt_reference.strip() or not bank.strip():
            raise RuleViolation(
                "/receipt_reference",
                "bank-receipt",
                "a fine is paid to a bank: give the bank and its receipt reference",
            )
        if any(p["receipt"] == receipt_reference.strip() for p in track.payments):
            raise RuleViolation("/receipt_reference", "receipt-once", "this receipt was recorded already")
        outstanding = track.outstanding_fen(paid_on)
        if amount_fen > outstanding:
            raise RuleViolation(
                "/amount_fen", "overpayment", f"{amount_fen} fen is more than the {outstanding} fen outstanding"
            )
        self.trigger_event(
            self.PaymentRecorded,
            respondent=respondent,
            paid_on=paid_on.isoformat(),
            amount_fen=amount_fen,
            bank=bank.strip(),
            receipt_reference=receipt_reference.strip(),
            surcharge_accrued_fen=track.surcharge_fen(paid_on),
            outstanding_fen=outstanding - amount_fen,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def file_remedy(
        self,
        *,
        respondent: int,
        kind: RemedyKind,
        filed_on: date,
        organ: str,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """行政复议 within its period of service; 行政诉讼 within its period of service, or
        of the reconsideration decision if there was one; one at a time, no
        reconsideration after a suit. Neither suspends the penalty (the track runs on)."""
        track = self._track(respondent, "file_remedy")
        check_business_date("/filed_on", filed_on, latest, not_before=("served_on", track.served_on))
        if track.remedy_pending is not None:
            raise RuleViolation("/kind", "remedy-pending", f"a {track.remedy_pending['kind']} is pending")
        kinds = [r["kind"] for r in track.remedies]
        if "suit" in kinds or (kind == "reconsideration" and kinds):
            raise RuleViolation("/kind", "remedy-used", f"respondent {respondent} already sought {', '.join(kinds)}")
        refuse_personal_data_in_text("/organ", organ)
        if kind == "reconsideration":
            until, rule = track.reconsideration_until, RECONSIDERATION_RULE
        elif kinds:  # a suit after the reconsideration decision
            decided = date.fromisoformat(track.remedies[-1]["decided_on"])
            region = self.agency["region_code"]
            until = catalogue.procedural_deadline(
                SUIT_AFTER_RECONSIDERATION_RULE, decided, region=region
            ).due_on.isoformat()
            rule = SUIT_AFTER_RECONSIDERATION_RULE
        else:
            until, rule = track.suit_until, SUIT_RULE
        assert until is not None
        if filed_on > date.fromisoformat(until):
            raise RuleViolation("/filed_on", "remedy-period", f"a {kind} had to be filed by {until} ({rule})")
        self.trigger_event(
            self.RemedyFiled,
            respondent=respondent,
            kind=kind,
            filed_on=filed_on.isoformat(),
            organ=organ,
            within=f"by {until} ({rule})",
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_remedy(
        self,
        *,
        respondent: int,
        decided_on: date,
        outcome: RemedyOutcome,
        penalties: list[Penalty] | None,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The pending remedy decided. A decision revoked, changed, declared void or
        illegal is corrected by a DecisionCorrected event (its own history stays); a change
        gives the new penalties, never heavier (复议、诉讼不得加重: 行政复议法 Art. 63)."""
        track = self._track(respondent, "decide_remedy")
        pending = track.remedy_pending
        if pending is None:
            raise IllegalTransition(
                "decide_remedy",
                track.state,
                self.respondent_actions(track),
                why=f"respondent {respondent} has no remedy pending",
            )
        check_business_date("/decided_on", decided_on, latest, not_before=("filed_on", pending["filed_on"]))
        assert track.penalties is not None and track.decision_number is not None
        if outcome == "changed":
            if not penalties:
                raise RuleViolation("/penalties", "changed-penalties", "a changed decision gives its new penalties")
            validate_penalties(penalties)
            heavier = heavier_than(penalties, track.penalties)
            if heavier:
                raise RuleViolation(
                    "/penalties", "no-heavier-on-remedy", f"a remedy may not make it heavier ({heavier})"
                )
        elif penalties:
            raise RuleViolation("/penalties", "penalties-only-when-changed", "only a changed decision gives penalties")
        self.trigger_event(
            self.RemedyDecided,
            respondent=respondent,
            kind=pending["kind"],
            decided_on=decided_on.isoformat(),
            outcome=outcome,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        if outcome == "upheld":
            return
        after = penalties if outcome == "changed" else track.penalties
        if outcome in ("revoked", "void"):
            after = []
        assert after is not None
        self.trigger_event(
            self.DecisionCorrected,
            respondent=respondent,
            decision_number=track.decision_number,
            correction=outcome,
            by=pending["kind"],
            corrected_on=decided_on.isoformat(),
            agency=self.agency,
            party=track.party,
            previous_penalties=track.penalties,
            penalties=after,
            fine_total_yuan=fine_total(after),
            withdraw_publication=outcome in ("revoked", "void"),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def serve_reminder(
        self,
        *,
        respondent: int,
        served_on: date,
        document: DocumentRef,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """催告 (行政强制法 Art. 54) after the payment period, to a party who neither paid
        nor sought a remedy. Opens the court application's window: within the catalogue's
        period from the end of the remedy periods."""
        track = self._track(respondent, "serve_reminder")
        assert track.payment_due is not None and track.suit_until is not None
        check_business_date("/served_on", served_on, latest, not_before=("served_on", track.served_on))
        if served_on <= date.fromisoformat(track.payment_due):
            raise RuleViolation(
                "/served_on", "payment-period-running", f"respondent {respondent} may pay until {track.payment_due}"
            )
        if track.remedies:
            raise RuleViolation("/respondent", "remedy-sought", f"respondent {respondent} sought a remedy: no reminder")
        region = self.agency["region_code"]
        wait = catalogue.procedural_deadline(REMINDER_WAIT_RULE, served_on, region=region)
        remedy_end = max(
            date.fromisoformat(track.suit_until), date.fromisoformat(track.reconsideration_until or track.suit_until)
        )
        window = catalogue.procedural_deadline(COURT_APPLICATION_RULE, remedy_end, region=region, step_date=served_on)
        self.trigger_event(
            self.ReminderServed,
            respondent=respondent,
            served_on=served_on.isoformat(),
            document=document,
            outstanding_fen=track.outstanding_fen(served_on),
            wait_deadline=recorded_deadline(f"reminder_wait_{respondent}", wait),
            court_application_deadline=recorded_deadline(_court_deadline(respondent), window),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def apply_to_court(
        self,
        *,
        respondent: int,
        applied_on: date,
        court: str,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """申请人民法院强制执行 (行政强制法 Art. 53, 54): only after the reminder's period
        has passed and the remedy periods ended unused, within the window after them."""
        track = self._track(respondent, "apply_to_court")
        assert track.reminder_wait_until and track.court_application_until and track.suit_until
        check_business_date("/applied_on", applied_on, latest, not_before=("reminder", track.reminder_served_on))
        if track.remedies:
            raise RuleViolation("/respondent", "remedy-sought", f"respondent {respondent} sought a remedy")
        if applied_on <= date.fromisoformat(track.reminder_wait_until):
            raise RuleViolation(
                "/applied_on",
                "reminder-period-running",
                f"the reminder served on {track.reminder_served_on} runs until {track.reminder_wait_until}"
                f" ({REMINDER_WAIT_RULE}): apply after it",
            )
        remedy_end = max(track.suit_until, track.reconsideration_until or track.suit_until)
        if applied_on <= date.fromisoformat(remedy_end):
            raise RuleViolation(
                "/applied_on", "remedy-period-running", f"the party may seek a remedy until {remedy_end}"
            )
        if applied_on > date.fromisoformat(track.court_application_until):
            raise RuleViolation(
                "/applied_on",
                "court-application-window",
                f"the application had to be made by {track.court_application_until} ({COURT_APPLICATION_RULE})",
            )
        refuse_personal_data_in_text("/court", court)
        self.trigger_event(
            self.CourtApplied,
            respondent=respondent,
            applied_on=applied_on.isoformat(),
            court=court,
            outstanding_fen=track.outstanding_fen(applied_on),
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_court_ruling(
        self,
        *,
        respondent: int,
        ruled_on: date,
        ruling: CourtRuling,
        recovered_fen: int,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The court's ruling and what its enforcement recovered (no more than was
        outstanding): the track ends, enforced or refused."""
        track = self._track(respondent, "record_court_ruling")
        check_business_date("/ruled_on", ruled_on, latest, not_before=("applied_on", track.court_applied_on))
        outstanding = track.outstanding_fen(ruled_on)
        if recovered_fen < 0 or recovered_fen > outstanding or (ruling == "refused" and recovered_fen):
            raise RuleViolation(
                "/recovered_fen", "recovered", f"between 0 and the {outstanding} fen outstanding (0 if refused)"
            )
        self.trigger_event(
            self.CourtRuled,
            respondent=respondent,
            ruled_on=ruled_on.isoformat(),
            ruling=ruling,
            recovered_fen=recovered_fen,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def close_case(
        self, *, closed_on: date, summary: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """结案 when every respondent's track ended (paid, performed, enforced, not
        penalised, revoked) or the case was dismissed, and no referral is open (不得以罚代刑)."""
        self._require("close_case")
        # A dismissed case (撤销立案) ends every track with it.
        running = [t for t in self.tracks if t.state not in ENDED_TRACKS and self.status != "dismissed"]
        if running:
            track = running[0]
            raise IllegalTransition(
                "close_case",
                self.status,
                self.allowed_actions,
                why=f"respondent {track.number} is '{track.state}': every track must end before the case closes",
            )
        if self.open_referrals:
            raise IllegalTransition(
                "close_case",
                self.status,
                self.allowed_actions,
                why=f"referral {self.open_referrals[0]} is open: the case cannot close until it comes back",
            )
        check_business_date("/closed_on", closed_on, latest, not_before=("the last step", self._last_step_on()))
        refuse_personal_data_in_text("/summary", summary)
        self.trigger_event(
            self.Closed,
            closed_on=closed_on.isoformat(),
            summary=summary,
            tracks={str(t.number): t.state for t in self.tracks},
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def archive_case(
        self, *, archived_on: date, archive_reference: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """归档 of a closed case: after it only annotations."""
        self._require("archive_case")
        check_business_date("/archived_on", archived_on, latest, not_before=("closed_on", self.closed_on))
        if not archive_reference.strip():
            raise RuleViolation("/archive_reference", "archive-reference", "the archive's file reference is required")
        self.trigger_event(
            self.Archived,
            archived_on=archived_on.isoformat(),
            archive_reference=archive_reference.strip(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def annotate(
        self, *, annotated_on: date, text: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """备注 on a closed or archived case (adds to its file, changes nothing)."""
        self._require("annotate")
        check_business_date("/annotated_on", annotated_on, latest, not_before=("closed_on", self.closed_on))
        if not text.strip():
            raise RuleViolation("/text", "text-required", "an annotation has text")
        refuse_personal_data_in_text("/text", text)
        self.trigger_event(
            self.Annotated,
            annotated_on=annotated_on.isoformat(),
            text=text,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def _last_step_on(self) -> str:
        days = [self.filed_on]
        for t in self.tracks:
            days += [d for d in (t.decided_on, t.served_on, t.court_applied_on, t.reminder_served_on) if d]
            days += [p["paid_on"] for p in t.payments]
            days += [r["decided_on"] for r in t.remedies if r.get("decided_on")]
        return max(days)

    # -- deadlines -----------------------------------------------------------------------

    def extend_deadline(
        self,
        *,
        name: str,
        change: DeadlineChange,
        due_on: date,
        reason: str,
        approver: Approver,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """延期 or 中止 approved by the agency head: a new due date, with the reason; the
        earlier due date and its events stay in the history."""
        if self.status in ("closed", "archived"):
            raise IllegalTransition("extend_deadline", self.status, self.allowed_actions)
        if name.startswith(("payment_", "court_application_")):
            raise RuleViolation(
                "/name",
                "not-extensible",
                f"'{name}' is the party's payment period (moved only by an approved deferral or instalments)"
                " or the statutory window of the court application (not extensible)",
            )
        state = self.deadlines.get(name)
        if state is None or not state["open"]:
            raise DeadlineNotOpen(name, [d["name"] for d in self.open_deadlines()])
        current = state["deadline"]
        if due_on <= date.fromisoformat(current["due_on"]):
            raise RuleViolation(
                "/due_on", "later-due-date", f"an {change} must move the due date past {current['due_on']}"
            )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", f"an {change} must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        self.trigger_event(
            self.DeadlineExtended,
            deadline=RecordedDeadline(**{**current, "due_on": due_on.isoformat()}),
            previous_due_on=current["due_on"],
            change=change,
            reason=reason,
            approver=approver,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    deadline_service = "case"

    def deadline_owner(self) -> tuple[str, str]:
        return self.agency["code"], self.agency["region_code"]


def _measure_deadline(number: int) -> str:
    return f"measure_{number}"


def _payment_deadline(respondent: int) -> str:
    return f"payment_{respondent}"


def _court_deadline(respondent: int) -> str:
    return f"court_application_{respondent}"


def _is_investigator(person: Reviewer, investigators: list[Officer]) -> bool:
    """Whether ``person`` (by name, or by certificate number) investigated the case."""
    names = {o["name"].strip() for o in investigators}
    certificates = {o["certificate_no"].strip() for o in investigators}
    return person["name"].strip() in names or person.get("certificate_no", "").strip() in certificates


def _check_number(number: str, agency: Agency, decided_on: date) -> None:
    """The number the register assigned is the deciding agency's, of the decision's year."""
    match = DECISION_NUMBER.match(number)
    short_name = agency.get("short_name")
    if not match or (short_name and match.group(1) != short_name) or int(match.group(2)) != decided_on.year:
        detail = f"{number} is not this agency's number of {decided_on.year}"
        raise RuleViolation("/decision_number", "decision-number", detail)


def _performance(how: str, catalogue: Catalogue, decided_on: date, region: str) -> Performance:
    applied = catalogue.procedural(PAYMENT_RULE, decided_on, region)
    return Performance(
        how=how,
        within=_within(applied),
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
    )


def _remedies(organ: str, court: str, catalogue: Catalogue, decided_on: date, region: str) -> Remedies:
    reconsideration = catalogue.procedural(RECONSIDERATION_RULE, decided_on, region)
    suit = catalogue.procedural(SUIT_RULE, decided_on, region)
    return Remedies(
        reconsideration_organ=organ,
        reconsideration_within=_within(reconsideration),
        court=court,
        suit_within=_within(suit),
    )


def _surcharge_terms(catalogue: Catalogue, due_on: date, region: str) -> SurchargeTerms:
    """The surcharge rule in force on the first day late (the day after ``due_on``)."""
    applied = catalogue.procedural(SURCHARGE_RULE, due_on + timedelta(days=1), region)
    value = applied.value
    if not isinstance(value, DailySurcharge):
        raise RuleNotConfigured(f"{applied.rule_id} v{applied.rule_version} has no daily surcharge configured")
    return SurchargeTerms(
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
        percent_per_day=str(value.percent_per_day),
        capped_at_percent=str(value.capped_at_percent),
    )


def _within(applied: AppliedRule) -> str:
    """A period as a decision document states it: "15 days from service (payment.due v1)"."""
    dumped = applied.value.model_dump() if applied.value is not None else {}
    period = ", ".join(f"{amount} {unit.replace('_', ' ')}" for unit, amount in dumped.items()) or "(not configured)"
    return f"{period} from service ({applied.rule_id} v{applied.rule_version})"


def _check_disclosure(disclosure: DisclosureFacts | None, decided_on: date) -> None:
    """The publication facts are published as given: no personal data in the violation
    type, and a validity that does not end before the decision."""
    if not disclosure:
        return
    refuse_personal_data_in_text("/disclosure/violation_type", disclosure.get("violation_type", ""))
    validity = disclosure.get("penalty_validity")
    if validity and date.fromisoformat(validity) < decided_on:
        raise RuleViolation(
            "/disclosure/penalty_validity", "validity-before-decision", f"{validity} is before the decision"
        )


def _party_is_minor(party: RecordedParty, day: date, cipher: FieldCipher) -> bool:
    code = party["code"]
    if party["kind"] != "natural_person" or not is_sealed(code):
        return False
    return is_minor_on(cipher.open(code["sealed"], "party.code"), day)  # type: ignore[index]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
