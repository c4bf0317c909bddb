"""The case's vocabulary: its states, the shapes of what it records, and the catalogue rules it
applies (shared/DOMAIN.md §3)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal, NotRequired

from pydantic import AfterValidator, Field, StringConstraints
from typing_extensions import TypedDict

from services.common.deadlines import (
    DEFAULT_LEAD_WORKING_DAYS,
)
from services.common.identifiers import (
    USCC,
    USCC_PATTERN,
    without_personal_identifier,
)
from services.common.personal_data import SealedText
from services.infra.formats import IsoDateText

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


# A ground not to publish a decision (DOMAIN.md §5): the case involves state secrets, trade
# secrets or personal privacy.
WithheldBecause = Literal["state_secret", "trade_secret", "privacy"]


class DisclosureFacts(TypedDict):
    """What the decision says for its publication (双公示, DOMAIN.md §5): the violation
    type (违法行为类型), the penalty's validity (处罚有效期; none: long-term), whether the
    agency found the conduct seriously dishonest (严重失信: the serious tier), and a ground
    not to publish it (the case involves state secrets, trade secrets or privacy)."""

    violation_type: NotRequired[ShortText]
    penalty_validity: NotRequired[IsoDateText]
    serious: NotRequired[bool]
    withheld_because: NotRequired[WithheldBecause]


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
