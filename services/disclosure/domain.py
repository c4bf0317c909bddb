"""The publication (公示) of one penalty decision to Credit China (信用中国) and the
agency's site, under 双公示 (shared/DOMAIN.md §5), through its lifecycle.

A publication is prepared from the case service's decision event with the 双公示 data
items already masked, its tier and period chosen by the rules in force on the decision
date, and is published once Credit China has accepted it. It then ends one of three ways,
each pushed to Credit China: withdrawn when the decision is revoked, changed, declared
illegal or void (Art. 48: within 3 days, with the reason; a changed decision is published
again as changed); ended by itself on the last day of its period; or ended at once by a
granted credit repair (信用修复). A decision that must not be published (a minor, state or
trade secrets, privacy, the minor tier where the rule withholds it) is recorded as
withheld with the reason, and nothing of its content is kept.

Masking happens here, before anything is stored: no event of this service ever holds a
natural person's ID number, address or phone number.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal, NotRequired

from typing_extensions import TypedDict

from services.common import event_types
from services.common.calendar import OfficialCalendar
from services.common.deadlines import (
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
    open_deadline,
    recorded_deadline,
)
from services.common.identifiers import (
    MOBILE_LIKE,
    RESIDENT_ID_LIKE,
    is_valid_resident_id,
    refuse_personal_identifiers,
)
from services.common.personal_data import mask_person_name
from services.common.rules import Catalogue, Months, TierTable
from services.infra.errors import IllegalInCurrentState, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

PartyCategory = Literal["legal_person", "other_organisation", "individual_business", "natural_person"]
# none: an other enforcement decision (其他行政执法决定), which is not dishonesty information.
Tier = Literal["minor", "general", "serious", "none"]
# penalty: 行政处罚决定 (双公示, pushed to Credit China); other: 其他行政执法决定 (so far the
# no-penalty decision, 不予行政处罚决定), published on the agency's site only.
DecisionKind = Literal["penalty", "other"]
# pending: prepared, not yet accepted by Credit China; published: shown now; withdrawn: the
# decision was corrected (撤回); ended: its period is over (公示期满); repaired: 信用修复.
PublicationState = Literal["pending", "published", "withdrawn", "ended", "repaired"]
# Why a decision is not published at all (DOMAIN.md §5).
WithholdingGround = Literal["party_is_minor", "minor_tier", "state_secret", "trade_secret", "privacy"]
Correction = Literal["revoked", "changed", "void", "confirmed_illegal"]
RemedyKind = Literal["reconsideration", "suit"]
# What is pushed to Credit China after the publication itself.
Notice = Literal["withdrawal", "end", "repair"]
# What Credit China accepted: the record itself (when it is recorded as a notification: it
# was accepted after the publication was withdrawn or ended here), or a notice.
Acknowledged = Literal["publication", "withdrawal", "end", "repair"]

# 三项制度 / 双公示: penalty decisions are published within 7 working days of the decision:
# the value, its counting (working days on the official calendar, from the day after the
# decision) and its source are the catalogue's rule (rules/publication.yaml), chosen by the
# decision date.
PUBLISH_WITHIN_RULE = "publication.penalty_publish_within"
PUBLISH_DEADLINE = "publication"  # the name of the publication deadline
TIERS_RULE = "publication.tiers"
# A local rule may raise the minimum period of work-safety penalties (*to confirm*): every
# penalty of an emergency-management agency is one.
REGIONAL_MINIMUM_RULE = "publication.work_safety_min_months"
# Other enforcement decisions: published within 20 working days, for the catalogue's period
# (*to confirm*), on the agency's site only (双公示 to Credit China covers 行政处罚 information:
# *to confirm*, see the rule's notes).
OTHER_PUBLISH_WITHIN_RULE = "publication.other_decision_publish_within"
OTHER_PERIOD_RULE = "publication.other_decision_period"
# What the publisher records as the receipt of a publication on the agency's own site.
AGENCY_SITE_RECEIPT = "agency-site"
NO_PENALTY_GROUNDS = {  # the case service's no-penalty grounds (行政处罚法第三十三条、第四十条)
    "not_established": "违法事实不能成立",
    "minor_corrected": "违法行为轻微并及时改正，没有造成危害后果",
    "first_offence": "初次违法且危害后果轻微并及时改正（首违不罚）",
    "no_fault": "当事人有证据足以证明没有主观过错",
}
WITHDRAWAL_RULE = "publication.withdrawal_within"
WITHDRAWAL_DEADLINE = "withdrawal"  # Art. 48: withdrawn (and pushed) within 3 days
# 双公示 data standard: a penalty validity (处罚有效期) of 2099-12-31 means "long-term".
LONG_TERM_VALIDITY = "2099-12-31"
PUBLICATION_ID_NAMESPACE = uuid.UUID("b1f4c9de-2a57-5d3e-8f60-4e1d7a9c0b52")

PENALTY_LABELS = {
    "warning": "警告",
    "fine": "罚款",
    "confiscation_of_illegal_gains": "没收违法所得",
    "suspension_of_production": "责令停产停业",
    "licence_suspension": "暂扣许可证",
    "licence_revocation": "吊销许可证",
}
LICENCE_PENALTIES = ("licence_suspension", "licence_revocation")
REDACTED = "***"
CORRECTION_LABELS = {"revoked": "撤销", "changed": "变更", "void": "确认无效", "confirmed_illegal": "确认违法"}
REMEDY_LABELS = {"reconsideration": "行政复议", "suit": "行政诉讼"}
WITHHOLDING_REASONS: dict[WithholdingGround, str] = {
    "party_is_minor": "the penalised party is a minor",
    "minor_tier": "minor tier (轻微): not published under the rule in force on the decision date",
    "state_secret": "the case involves state secrets (国家秘密)",
    "trade_secret": "the case involves trade secrets (商业秘密)",
    "privacy": "the case involves personal privacy (个人隐私)",
}
# USCC organisation types (GB 32100, characters 1-2) of legal persons: 机关, 事业单位, 群团,
# 社会团体, 民办非企业单位, 基金会, 企业, 农民专业合作社. 92 is an individual business
# (个体工商户); every other registered unit is an other organisation (非法人组织).
LEGAL_PERSON_TYPES = frozenset({"11", "12", "13", "51", "52", "53", "91", "93"})


class DisclosedPenalty(TypedDict):
    """The 双公示 data items of one penalty decision (行政处罚信息), already masked."""

    party_name: str  # 行政相对人名称 (natural persons: 黄某某)
    party_category: PartyCategory  # 行政相对人类别
    party_code: str  # 统一社会信用代码 of a unit; "" for a natural person
    legal_representative: str  # 法定代表人 of a unit; "" for a natural person
    decision_number: str  # 行政处罚决定书文号
    violation_type: str  # 违法行为类型
    violation_facts: str  # 违法事实
    legal_basis: str  # 处罚依据
    penalty_category: str  # 处罚类别
    penalty_content: str  # 处罚内容
    fine_amount_wan_yuan: str  # 罚款金额（万元）
    confiscated_amount_wan_yuan: str  # 没收违法所得、没收非法财物的金额（万元）
    licence: str  # 暂扣或吊销证照名称及编号
    decision_date: str  # 处罚决定日期
    penalty_validity: str  # 处罚有效期
    publication_end_date: str  # 公示截止期
    deciding_agency: str  # 处罚机关
    deciding_agency_code: str  # 处罚机关统一社会信用代码
    data_source: str  # 数据来源单位
    data_source_code: str  # 数据来源单位统一社会信用代码
    remarks: str  # 备注
    # Only on an other enforcement decision (never sent to Credit China): "other".
    decision_kind: NotRequired[DecisionKind]


class PublicationPeriod(TypedDict):
    """The tier and period of a publication, from the rules in force on the decision date."""

    tier: Tier
    rule_id: str
    rule_version: int  # 0: prepared before the catalogue had the tiers (the general tier, 12 months)
    repair_from: str  # the minimum period's end: from this day the party may apply for credit repair
    ends_on: str  # the maximum period's end: the last day it is published
    regional_minimum_from: str | None  # the region whose local rule raised the minimum, if one did


class CommitmentRef(TypedDict):
    """The credit commitment (信用承诺书) and proof of performance, by reference and hash
    (the documents stay in the agency's records system)."""

    title: str
    uri: str
    sha256: str


class AlreadyPublished(Exception):
    """A publication is published once; a second acceptance is a bug upstream."""


class NeverPublished(IllegalInCurrentState):
    """A withdrawal of a publication that never went out (withheld): nothing to withdraw."""


# -- rules ------------------------------------------------------------------------------


def publication_id_for(case_id: str, decision_number: str) -> uuid.UUID:
    """One publication per decision: a duplicate delivery finds the same id."""
    return uuid.uuid5(PUBLICATION_ID_NAMESPACE, f"{case_id}:{decision_number}")


def other_decision_publication_id(case_id: str, respondent: int) -> uuid.UUID:
    """A no-penalty decision has no number: one publication per (case, respondent)."""
    return uuid.uuid5(PUBLICATION_ID_NAMESPACE, f"{case_id}:not_penalised:{respondent}")


def add_months(start: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def to_wan_yuan(yuan: int) -> str:
    """Yuan (kept internally) to 万元 with 6 decimals, as 双公示 exports amounts."""
    return str((Decimal(yuan) / Decimal(10_000)).quantize(Decimal("0.000001")))


def party_category(party: dict[str, Any]) -> PartyCategory:
    """行政相对人类别. For units the USCC's first two characters are the registration
    authority and the organisation type: 92 is an individual business, the legal-person
    types above are legal persons, every other unit an other organisation."""
    if party["kind"] == "natural_person":
        return "natural_person"
    kind = str(party["code"])[:2]
    if kind == "92":
        return "individual_business"
    return "legal_person" if kind in LEGAL_PERSON_TYPES else "other_organisation"


def shown_unit_code(code: str, masked_digits: int) -> str:
    """A unit's USCC as the agency's site shows it: its last ``masked_digits`` characters
    hidden where the agency's rule says so (Credit China gets it whole)."""
    if not code or masked_digits <= 0:
        return code
    masked_digits = min(masked_digits, len(code))
    return code[: len(code) - masked_digits] + "*" * masked_digits


def disclosure_facts(decision: dict[str, Any]) -> dict[str, Any]:
    """What the decision says for its publication (since case.penalty_decided v3): the
    violation type, the penalty validity, a serious finding, a ground to withhold it."""
    facts: dict[str, Any] = decision.get("disclosure") or {}
    return facts


def tier_of(decision: dict[str, Any], table: TierTable) -> Tier:
    """The decision's tier under a tier table: serious where the agency found the conduct
    seriously dishonest (严重失信); minor, where the table has that tier (from 2026-04-01),
    for a simplified-procedure penalty or a warning alone; general otherwise."""
    if disclosure_facts(decision).get("serious"):
        return "serious"
    kinds = {p["kind"] for p in decision["penalties"]}
    if "minor" in table.tiers and (decision.get("procedure") == "simplified" or kinds == {"warning"}):
        return "minor"
    return "general"


def publication_period(decision: dict[str, Any], catalogue: Catalogue, region: str) -> tuple[PublicationPeriod, bool]:
    """The tier and its period under the rules in force on the decision date (the tier
    table's version, then a regional minimum where one is configured), and whether the
    tier is published by default."""
    decided_on = date.fromisoformat(decision["decided_on"])
    applied = catalogue.procedural(TIERS_RULE, decided_on, region)
    assert isinstance(applied.value, TierTable)
    tier = tier_of(decision, applied.value)
    dates = catalogue.tier_deadlines(applied, tier, decided_on)
    repair_from, ends_on = dates.repair_from.due_on, dates.ends_on.due_on
    regional = catalogue.procedural(REGIONAL_MINIMUM_RULE, decided_on, region)
    raised_by = None
    if isinstance(regional.value, Months) and dates.published_by_default:
        local_minimum = catalogue.deadline(regional, decided_on)
        if local_minimum.due_on > repair_from:
            repair_from, raised_by = local_minimum.due_on, local_minimum.region_override
            # A minimum above the tier's maximum holds it published that long.
            ends_on = max(ends_on, repair_from)
    period = PublicationPeriod(
        tier=tier,
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
        repair_from=repair_from.isoformat(),
        ends_on=ends_on.isoformat(),
        regional_minimum_from=raised_by,
    )
    return period, dates.published_by_default


def withholding(decision: dict[str, Any], published_by_default: bool) -> WithholdingGround | None:
    """Why a decision must not be published at all, or None (DOMAIN.md §5). The case
    service says whether the party was a minor on the decision date (``party_is_minor``),
    since the ID number reaches this service only sealed, and whether the case involves
    state secrets, trade secrets or privacy."""
    if decision["party"]["kind"] == "natural_person" and decision.get("party_is_minor"):
        return "party_is_minor"
    ground: WithholdingGround | None = disclosure_facts(decision).get("withheld_because")
    if ground:
        return ground
    return None if published_by_default else "minor_tier"


def withheld_reason(decision: dict[str, Any]) -> str | None:
    """The reason a decision is withheld whatever its tier, or None."""
    ground = withholding(decision, published_by_default=True)
    return WITHHOLDING_REASONS[ground] if ground else None


def correction_reason(correction: str, by: str, corrected_on: str) -> str:
    """Why a publication is withdrawn (公开说明理由, Art. 48)."""
    return (
        f"该行政处罚决定已于{corrected_on}经{REMEDY_LABELS.get(by, by)}被{CORRECTION_LABELS[correction]}，"
        "依照《中华人民共和国行政处罚法》第四十八条撤回公示"
    )


def _scrubber(party: dict[str, Any]) -> Callable[[str], str]:
    """Removes the party's personal identifiers from free text before it is published."""
    person = party["kind"] == "natural_person"
    own_unit_code = "" if person else party["code"]
    # Sealed personal data (dicts) cannot appear in text as such; clear values are removed.
    candidates = [party.get("address", ""), party.get("phone", "")] + ([party["code"]] if person else [])
    secrets = [value for value in candidates if isinstance(value, str)]

    def scrub(text: str) -> str:
        for secret in filter(None, secrets):
            text = text.replace(secret, REDACTED)
        if person:
            text = text.replace(party["name"], mask_person_name(party["name"]))
        # Personal identifiers that free text (facts, penalty descriptions) may carry by mistake.
        text = RESIDENT_ID_LIKE.sub(
            lambda m: m.group() if m.group() == own_unit_code or not is_valid_resident_id(m.group()) else REDACTED, text
        )
        return MOBILE_LIKE.sub(REDACTED, text)

    return scrub


def penalty_items(penalties: list[dict[str, Any]], fine_total_yuan: int, scrub: Callable[[str], str]) -> dict[str, str]:
    """The items that say what the penalty is (category, content, amounts, licence)."""
    contents = []
    for penalty in penalties:
        text = PENALTY_LABELS[penalty["kind"]]
        if penalty.get("amount_yuan"):
            text += f"人民币{penalty['amount_yuan']}元"
        if penalty.get("description"):
            text += f"：{scrub(penalty['description'])}"
        contents.append(text)
    licence = next((scrub(p.get("description", "")) for p in penalties if p["kind"] in LICENCE_PENALTIES), "")
    confiscated = sum(p.get("amount_yuan", 0) for p in penalties if p["kind"] == "confiscation_of_illegal_gains")
    return {
        "penalty_category": "；".join(dict.fromkeys(PENALTY_LABELS[p["kind"]] for p in penalties)),
        "penalty_content": "；".join(contents),
        "fine_amount_wan_yuan": to_wan_yuan(fine_total_yuan),
        "confiscated_amount_wan_yuan": to_wan_yuan(confiscated),
        "licence": licence,
    }


def disclosed_penalty(decision: dict[str, Any], period: PublicationPeriod) -> DisclosedPenalty:
    """The masked 双公示 items of a decision (the data of case.penalty_decided.v1)."""
    party, agency = decision["party"], decision["agency"]
    person = party["kind"] == "natural_person"
    scrub = _scrubber(party)
    facts = disclosure_facts(decision)
    penalty = penalty_items(decision["penalties"], decision["fine_total_yuan"], scrub)
    return DisclosedPenalty(
        party_name=mask_person_name(party["name"]) if person else party["name"],
        party_category=party_category(party),
        party_code="" if person else str(party["code"]),
        legal_representative="" if person else party.get("legal_representative", ""),
        decision_number=decision["decision_number"],
        # The decision's violation type; a decision recorded before it had one: its summary.
        violation_type=scrub(facts.get("violation_type") or decision["violation_summary"]),
        violation_facts=scrub(decision["violation_summary"]),
        legal_basis=decision["legal_basis"],
        penalty_category=penalty["penalty_category"],
        penalty_content=penalty["penalty_content"],
        fine_amount_wan_yuan=penalty["fine_amount_wan_yuan"],
        confiscated_amount_wan_yuan=penalty["confiscated_amount_wan_yuan"],
        licence=penalty["licence"],
        decision_date=decision["decided_on"],
        penalty_validity=facts.get("penalty_validity") or LONG_TERM_VALIDITY,
        publication_end_date=period["ends_on"],
        deciding_agency=agency["name"],
        deciding_agency_code=agency["code"],
        data_source=agency["name"],
        data_source_code=agency["code"],
        remarks="",
    )


def no_penalty_decision(decision: dict[str, Any]) -> dict[str, Any]:
    """``case.not_penalised.v1`` (since v2) as a decision the penalty's item and withholding
    rules read: no number, no penalty, its ground for withholding as disclosure facts."""
    withheld = decision.get("withheld_because")
    return {
        **decision,
        "decision_number": "",
        "penalties": [],
        "fine_total_yuan": 0,
        "disclosure": {"withheld_because": withheld} if withheld else None,
    }


def other_decision_period(decision: dict[str, Any], catalogue: Catalogue, region: str) -> PublicationPeriod:
    """An other decision has no tier and no credit repair: published for the catalogue's
    period from the decision date."""
    decided_on = date.fromisoformat(decision["decided_on"])
    applied = catalogue.procedural(OTHER_PERIOD_RULE, decided_on, region)
    ends_on = catalogue.deadline(applied, decided_on).due_on.isoformat()
    return PublicationPeriod(
        tier="none",
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
        repair_from=ends_on,
        ends_on=ends_on,
        regional_minimum_from=None,
    )


def other_decision_item(decision: dict[str, Any], period: PublicationPeriod) -> DisclosedPenalty:
    """The published items of a no-penalty decision (不予行政处罚决定), masked as a
    penalty's are: the same party, facts and basis, the ground and reason as its content."""
    item = disclosed_penalty(decision, period)
    ground = NO_PENALTY_GROUNDS.get(decision["ground"], decision["ground"])
    item["penalty_category"] = "不予行政处罚"
    item["penalty_content"] = f"不予行政处罚（{ground}）：{_scrubber(decision['party'])(decision['reason'])}"
    item["penalty_validity"] = ""
    item["decision_kind"] = "other"
    return item


def changed_item(item: DisclosedPenalty, correction: dict[str, Any]) -> DisclosedPenalty:
    """The item of a decision changed on a remedy (变更): the new penalties, the same
    party, facts and period, and a remark saying it was changed, when and how."""
    scrub = _scrubber(correction["party"])
    penalty = penalty_items(correction["penalties"], correction["fine_total_yuan"], scrub)
    remark = (
        f"该行政处罚决定已于{correction['corrected_on']}经{REMEDY_LABELS.get(correction['by'], correction['by'])}"
        f"变更，原处罚内容：{item['penalty_content']}"
    )
    return DisclosedPenalty(
        **{
            **item,
            "penalty_category": penalty["penalty_category"],
            "penalty_content": penalty["penalty_content"],
            "fine_amount_wan_yuan": penalty["fine_amount_wan_yuan"],
            "confiscated_amount_wan_yuan": penalty["confiscated_amount_wan_yuan"],
            "licence": penalty["licence"],
            "remarks": remark[:4000],
        }
    )


# -- the aggregates ---------------------------------------------------------------------


class Publication(TracedAggregate, KeepsDeadlines, RemembersCommands):
    """公示 of one penalty decision (or of a decision changed on a remedy). Prepared when
    the decision is known (pending), published when Credit China has accepted it, which
    closes its publication deadline; then withdrawn, ended or repaired, each pushed."""

    deadline_service = "disclosure"

    class Prepared(TracedAggregate.Created):
        cloud_type = event_types.DISCLOSURE_PUBLICATION_PREPARED
        case_id: str
        publication_id: str
        decision_number: str
        item: DisclosedPenalty
        tier: Tier
        publish_by: str
        # Since class version 2: the rule that set publish_by (older events: upcast).
        publish_deadline: RecordedDeadline
        publication_end: str
        # Since class version 3: the tier's rule and period, the party code as the agency's
        # site shows it, the respondent, and the publication this one replaces (a decision
        # changed on a remedy is published again as changed).
        period: PublicationPeriod
        shown_party_code: str
        respondent: int
        replaces: str | None

        class_version: ClassVar[int] = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A publication prepared before the catalogue: its date was 7 working days
            after the decision, under the only version of the rule."""
            state["publish_deadline"] = RecordedDeadline(
                name=PUBLISH_DEADLINE,
                rule_id=PUBLISH_WITHIN_RULE,
                rule_version=1,
                due_on=state["publish_by"],
                provisional=False,
                region_override=None,
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """A publication prepared before the tiers: general, ending on its recorded
            end (the PUBLICATION_PERIOD_MONTHS setting), repairable after 3 months."""
            decided_on = date.fromisoformat(state["item"]["decision_date"])
            state.update(
                period=PublicationPeriod(
                    tier="general",
                    rule_id=TIERS_RULE,
                    rule_version=0,
                    repair_from=add_months(decided_on, 3).isoformat(),
                    ends_on=state["publication_end"],
                    regional_minimum_from=None,
                ),
                shown_party_code=state["item"]["party_code"],
                respondent=1,
                replaces=None,
            )

    class Published(TracedAggregate.Event):
        """Accepted by Credit China; carries the item so the public feed needs only this."""

        cloud_type = event_types.DISCLOSURE_PUBLISHED
        case_id: str
        publication_id: str
        published_on: str
        receipt_id: str
        item: DisclosedPenalty
        # Since class version 2: the party code as the agency's site shows it.
        shown_party_code: str

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["shown_party_code"] = state["item"]["party_code"]

        def apply(self, publication: Publication) -> None:
            publication.state = "published"
            publication.published_on = self.published_on
            publication.receipt_id = self.receipt_id
            publication.close_deadline(PUBLISH_DEADLINE)  # the step is taken

    class Withdrawn(TracedAggregate.Event):
        """撤回 (Art. 48): the decision was revoked, changed, declared illegal or void; the
        reason is published. A publication that had gone out is withdrawn from Credit China
        within the withdrawal deadline; one still pending simply never goes out."""

        cloud_type = event_types.DISCLOSURE_WITHDRAWN
        case_id: str
        publication_id: str
        decision_number: str
        correction: Correction
        by: RemedyKind
        corrected_on: str
        withdrawn_on: str
        reason: str
        was_published: bool
        withdrawal_deadline: RecordedDeadline | None
        # The publication of the changed decision, for a change.
        republished_as: str | None

        def apply(self, publication: Publication) -> None:
            publication.state = "withdrawn"
            publication.withdrawn_on = self.withdrawn_on
            publication.close_deadline(PUBLISH_DEADLINE)
            publication.withdrawal_reason = self.reason
            publication.republished_as = self.republished_as
            if self.withdrawal_deadline is not None:
                publication.add_deadline(self.withdrawal_deadline)

    class Ended(TracedAggregate.Event):
        """公示期满: the period's maximum passed; recorded once, by the scheduler (or at
        preparation, for a decision whose period was over before it could go out)."""

        cloud_type = event_types.DISCLOSURE_ENDED
        case_id: str
        publication_id: str
        decision_number: str
        # The legal end: the day after the period's last day, whenever it was noticed.
        ended_on: str
        reason: str
        # Since class version 2: the day the end was recorded (later than ended_on when the
        # scheduler noticed late), and whether the publication had gone out at all (one
        # whose period was over before it went out is never pushed, nor is its end).
        recorded_on: str
        was_published: bool

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Ends recorded before: dated the day they were recorded, of published ones."""
            state["recorded_on"] = state["ended_on"]
            state["was_published"] = True

        def apply(self, publication: Publication) -> None:
            publication.state = "ended"
            publication.ended_on = self.ended_on
            publication.close_deadline(PUBLISH_DEADLINE)

    class RepairApplied(TracedAggregate.Event):
        """信用修复申请: the party applied (through the agency) after the minimum period,
        its obligations performed, with a credit commitment."""

        cloud_type = event_types.DISCLOSURE_REPAIR_APPLIED
        case_id: str
        publication_id: str
        applied_on: str
        obligations_performed: bool
        commitment: CommitmentRef
        command_key: str
        command_fingerprint: str

        def apply(self, publication: Publication) -> None:
            publication.repair = {"status": "applied", "applied_on": self.applied_on, "reason": None}
            publication.remember(self.command_key, self.command_fingerprint)

    class RepairGranted(TracedAggregate.Event):
        """信用修复 granted: publication ends at once."""

        cloud_type = event_types.DISCLOSURE_REPAIR_GRANTED
        case_id: str
        publication_id: str
        decision_number: str
        decided_on: str
        reason: str
        command_key: str
        command_fingerprint: str

        def apply(self, publication: Publication) -> None:
            publication.state = "repaired"
            publication.repair = {**publication.repair, "status": "granted", "reason": self.reason}
            publication.ended_on = self.decided_on
            publication.remember(self.command_key, self.command_fingerprint)

    class RepairRefused(TracedAggregate.Event):
        """信用修复 refused, with the reason: publication goes on; the party may apply again."""

        cloud_type = event_types.DISCLOSURE_REPAIR_REFUSED
        case_id: str
        publication_id: str
        decided_on: str
        reason: str
        command_key: str
        command_fingerprint: str

        def apply(self, publication: Publication) -> None:
            publication.repair = {**publication.repair, "status": "refused", "reason": self.reason}
            publication.remember(self.command_key, self.command_fingerprint)

    class CreditChinaNotified(TracedAggregate.Event):
        """Credit China accepted a withdrawal, an end or a repair of the publication, or
        (``publication``) the record itself after it was withdrawn or ended here: a push
        in flight at the time went through, so it is published there and must be told."""

        cloud_type = event_types.DISCLOSURE_CREDIT_CHINA_NOTIFIED
        case_id: str
        publication_id: str
        notice: Acknowledged
        receipt_id: str
        notified_on: str
        # Since class version 2: for a record accepted after its withdrawal, the withdrawal
        # deadline, from the day of the acceptance.
        withdrawal_deadline: RecordedDeadline | None

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["withdrawal_deadline"] = None

        def apply(self, publication: Publication) -> None:
            publication.notified[self.notice] = self.receipt_id
            if self.notice == "publication":
                publication.published_on = self.notified_on
                publication.receipt_id = self.receipt_id
            if self.withdrawal_deadline is not None:
                publication.add_deadline(self.withdrawal_deadline)
            if self.notice == "withdrawal":
                publication.close_deadline(WITHDRAWAL_DEADLINE)

    class DeadlineApproaching(DeadlineApproachingEvent):
        """The publication deadline (publish_by, 7 working days from the decision) or the
        withdrawal deadline is within the lead (recorded once per due date)."""

        cloud_type = event_types.DISCLOSURE_DEADLINE_APPROACHING
        case_id: str

    class DeadlineMissed(DeadlineMissedEvent):
        """The publication (or withdrawal) deadline passed with its step not taken
        (recorded once per due date)."""

        cloud_type = event_types.DISCLOSURE_DEADLINE_MISSED
        case_id: str

    def __init__(
        self,
        case_id: str,
        publication_id: str,
        decision_number: str,
        item: DisclosedPenalty,
        tier: Tier,
        publish_by: str,
        publish_deadline: RecordedDeadline,
        publication_end: str,
        period: PublicationPeriod,
        shown_party_code: str,
        respondent: int,
        replaces: str | None,
        actor: dict[str, Any],
    ) -> None:
        self.case_id = case_id
        # The agency the publication is made for (the deciding agency), from its actor.
        self.agency_code: str = actor["agency_code"]
        self.region_code: str = actor["region_code"]
        self.publication_id = publication_id
        self.decision_number = decision_number
        self.item = item
        self.tier = tier
        self.publish_by = publish_by
        self.publish_deadline = publish_deadline
        self.deadlines = {PUBLISH_DEADLINE: open_deadline(publish_deadline)}
        self.publication_end = publication_end
        self.period = period
        self.shown_party_code = shown_party_code
        self.respondent = respondent
        self.replaces = replaces
        self.state: PublicationState = "pending"
        self.published_on: str | None = None
        self.receipt_id: str | None = None
        self.withdrawal_reason: str | None = None
        self.withdrawn_on: str | None = None
        self.republished_as: str | None = None
        self.ended_on: str | None = None
        self.repair: dict[str, Any] = {"status": "none", "applied_on": None, "reason": None}
        self.notified: dict[str, str] = {}  # notice -> Credit China's receipt

    def deadline_owner(self) -> tuple[str, str]:
        return self.agency_code, self.region_code

    def deadline_event_data(self) -> dict[str, Any]:
        return {"case_id": self.case_id}

    @property
    def decision_kind(self) -> DecisionKind:
        return self.item.get("decision_kind", "penalty")

    @property
    def pushed_to_credit_china(self) -> bool:
        """双公示 to Credit China covers penalty decisions only (*to confirm*): an other
        decision is published on the agency's site, and nothing of it is pushed."""
        return self.decision_kind == "penalty"

    @property
    def published(self) -> bool:
        return self.published_on is not None

    def _common(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "publication_id": self.publication_id}

    @classmethod
    def prepare(
        cls,
        *,
        case_id: str,
        decision: dict[str, Any],
        catalogue: Catalogue,
        actor: dict[str, Any],
        period: PublicationPeriod | None = None,
        code_masked_digits: int = 0,
    ) -> Publication:
        """Prepare the publication of a penalty decision in its tier and period (by
        default those of the rules in force on the decision date), due 7 working days
        after the decision (the catalogue's rule)."""
        if period is None:
            period, _ = publication_period(decision, catalogue, actor["region_code"])
        item = disclosed_penalty(decision, period)
        return cls._prepared(
            publication_id=publication_id_for(case_id, decision["decision_number"]),
            case_id=case_id,
            item=item,
            period=period,
            publish_within=(PUBLISH_WITHIN_RULE, date.fromisoformat(decision["decided_on"])),
            catalogue=catalogue,
            shown_party_code=shown_unit_code(item["party_code"], code_masked_digits),
            respondent=decision.get("respondent", 1),
            replaces=None,
            actor=actor,
        )

    @classmethod
    def prepare_other(
        cls,
        *,
        case_id: str,
        decision: dict[str, Any],
        catalogue: Catalogue,
        actor: dict[str, Any],
        code_masked_digits: int = 0,
    ) -> Publication:
        """Prepare the publication of an other enforcement decision (其他行政执法决定: a
        no-penalty decision, ``no_penalty_decision``) on the agency's site, due 20 working
        days after the decision (the catalogue's rule), for the catalogue's period."""
        period = other_decision_period(decision, catalogue, actor["region_code"])
        item = other_decision_item(decision, period)
        return cls._prepared(
            publication_id=other_decision_publication_id(case_id, decision["respondent"]),
            case_id=case_id,
            item=item,
            period=period,
            publish_within=(OTHER_PUBLISH_WITHIN_RULE, date.fromisoformat(decision["decided_on"])),
            catalogue=catalogue,
            shown_party_code=shown_unit_code(item["party_code"], code_masked_digits),
            respondent=decision["respondent"],
            replaces=None,
            actor=actor,
        )

    @classmethod
    def _prepared(
        cls,
        *,
        publication_id: uuid.UUID,
        case_id: str,
        item: DisclosedPenalty,
        period: PublicationPeriod,
        publish_within: tuple[str, date],
        catalogue: Catalogue,
        shown_party_code: str,
        respondent: int,
        replaces: str | None,
        actor: dict[str, Any],
        region: str | None = None,
    ) -> Publication:
        """A pending publication, its publish-by date the rule ``publish_within`` names
        counted from its date (the decision's, or a change's), in the actor's region."""
        rule_id, counted_from = publish_within
        publish_deadline = recorded_deadline(
            PUBLISH_DEADLINE,
            catalogue.procedural_deadline(rule_id, counted_from, region=region or actor["region_code"]),
        )
        publication: Publication = cls._create(
            cls.Prepared,
            id=publication_id,
            case_id=case_id,
            publication_id=str(publication_id),
            decision_number=item["decision_number"],
            item=item,
            tier=period["tier"],
            publish_by=publish_deadline["due_on"],
            publish_deadline=publish_deadline,
            publication_end=period["ends_on"],
            period=period,
            shown_party_code=shown_party_code,
            respondent=respondent,
            replaces=replaces,
            actor=actor,
        )
        return publication

    def publish(self, *, published_on: date, receipt_id: str, actor: dict[str, Any]) -> None:
        if self.published:
            raise AlreadyPublished(f"publication {self.id} was published on {self.published_on}")
        if self.state != "pending":
            raise IllegalInCurrentState(
                f"publication {self.id} is {self.state}: record Credit China's acceptance instead", state=self.state
            )
        self.trigger_event(
            self.Published,
            **self._common(),
            published_on=published_on.isoformat(),
            receipt_id=receipt_id,
            item=self.item,
            shown_party_code=self.shown_party_code,
            actor=actor,
        )

    def record_acceptance(
        self, *, accepted_on: date, receipt_id: str, catalogue: Catalogue, actor: dict[str, Any]
    ) -> None:
        """Credit China accepted the record: published, or, if it was withdrawn or ended
        here while the push was in flight, the acceptance is recorded all the same so that
        the withdrawal (due within the withdrawal rule's period from today) or the end is
        pushed next: Credit China must not keep showing it."""
        if self.published:
            raise AlreadyPublished(f"publication {self.id} was published on {self.published_on}")
        if self.state == "pending":
            self.publish(published_on=accepted_on, receipt_id=receipt_id, actor=actor)
            return
        deadline = None
        if self.state == "withdrawn":
            deadline = recorded_deadline(
                WITHDRAWAL_DEADLINE,
                catalogue.procedural_deadline(WITHDRAWAL_RULE, accepted_on, region=self.region_code),
            )
        self.trigger_event(
            self.CreditChinaNotified,
            **self._common(),
            notice="publication",
            receipt_id=receipt_id,
            notified_on=accepted_on.isoformat(),
            withdrawal_deadline=deadline,
            actor=actor,
        )

    # -- withdrawal (撤回) --------------------------------------------------------------

    def withdraw(
        self,
        correction: dict[str, Any],
        *,
        today: date,
        catalogue: Catalogue,
        actor: dict[str, Any],
        republished_as: str | None = None,
    ) -> None:
        """Withdraw on a correction of the decision (``case.decision_corrected.v1``), with
        the reason: pushed to Credit China within the withdrawal rule's period from the
        correction if it had gone out; a pending one is stopped before it goes out."""
        if self.state not in ("pending", "published"):
            raise IllegalInCurrentState(
                f"publication {self.id} is {self.state}: there is nothing published to withdraw", state=self.state
            )
        corrected_on = date.fromisoformat(correction["corrected_on"])
        deadline = None
        if self.published and self.pushed_to_credit_china:
            deadline = recorded_deadline(
                WITHDRAWAL_DEADLINE,
                catalogue.procedural_deadline(WITHDRAWAL_RULE, corrected_on, region=self.region_code),
            )
        self.trigger_event(
            self.Withdrawn,
            **self._common(),
            decision_number=self.decision_number,
            correction=correction["correction"],
            by=correction["by"],
            corrected_on=correction["corrected_on"],
            withdrawn_on=today.isoformat(),
            reason=correction_reason(correction["correction"], correction["by"], correction["corrected_on"]),
            was_published=self.published,
            withdrawal_deadline=deadline,
            republished_as=republished_as,
            actor=actor,
        )

    def republish_changed(
        self, correction: dict[str, Any], *, catalogue: Catalogue, actor: dict[str, Any]
    ) -> Publication:
        """The publication of the decision as changed on a remedy: a new publication in
        the same tier and period, its penalties the changed ones, due within the
        publication rule's period from the change."""
        publication_id = uuid.uuid5(PUBLICATION_ID_NAMESPACE, f"{self.publication_id}:changed")
        return type(self)._prepared(
            publication_id=publication_id,
            case_id=self.case_id,
            item=changed_item(self.item, correction),
            period=self.period,
            publish_within=(PUBLISH_WITHIN_RULE, date.fromisoformat(correction["corrected_on"])),
            catalogue=catalogue,
            shown_party_code=self.shown_party_code,
            respondent=self.respondent,
            replaces=self.publication_id,
            region=self.region_code,
            actor=actor,
        )

    # -- the end of its period (公示期满) ----------------------------------------------

    def record_deadline_events(self, today: date, calendar: OfficialCalendar, lead_working_days: int) -> None:
        """The deadlines (publication, withdrawal), then the period: a published
        publication ends by itself the day after its last day, recorded once."""
        super().record_deadline_events(today, calendar, lead_working_days)
        self.end_if_over(today)

    def period_over(self, today: date) -> bool:
        return today > date.fromisoformat(self.publication_end)

    def end_if_over(self, today: date) -> None:
        """Past its last day, a publication ends (once): dated the legal end, the day after
        its last day, with the day it was recorded. One still pending never goes out."""
        if self.state in ("pending", "published") and self.period_over(today):
            legal_end = date.fromisoformat(self.publication_end) + timedelta(days=1)
            reason = f"公示期满（{self.period['tier']}，至{self.publication_end}）"
            self.trigger_event(
                self.Ended,
                **self._common(),
                decision_number=self.decision_number,
                ended_on=legal_end.isoformat(),
                reason=reason if self.published else f"{reason}，未曾公示",
                recorded_on=today.isoformat(),
                was_published=self.published,
                actor=self._scheduler_actor("publication period"),
            )

    def next_deadline_check(self, calendar: OfficialCalendar, lead_working_days: int) -> date | None:
        days = [d for d in (super().next_deadline_check(calendar, lead_working_days),) if d is not None]
        if self.state in ("pending", "published"):
            days.append(date.fromisoformat(self.publication_end) + timedelta(days=1))
        return min(days, default=None)

    # -- credit repair (信用修复) ---------------------------------------------------------

    def apply_for_repair(
        self,
        *,
        applied_on: date,
        obligations_performed: bool,
        commitment: CommitmentRef,
        today: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The party's application, recorded by the agency: refused while the publication
        is not published, before the tier's minimum period has run, or without the
        obligations of the decision performed."""
        self._require_published("apply for credit repair")
        if self.decision_kind != "penalty":
            raise IllegalInCurrentState(
                "credit repair is for penalty information: an other enforcement decision is not dishonesty"
                " information (失信信息)",
                state=self.state,
            )
        # Kept in clear in events, views and webhooks: no personal identifier in it.
        refuse_personal_identifiers(
            [("/commitment/title", commitment["title"]), ("/commitment/uri", commitment["uri"])]
        )
        if self.repair["status"] == "applied":
            raise IllegalInCurrentState(
                f"an application of {self.repair['applied_on']} is awaiting the agency's decision", state=self.state
            )
        if applied_on > today:
            raise RuleViolation("/applied_on", "not-in-future", f"{applied_on} is after today ({today})")
        period = self.period
        if applied_on < date.fromisoformat(period["repair_from"]):
            raise RuleViolation(
                "/applied_on",
                "repair-before-minimum-period",
                f"credit repair may be applied for from {period['repair_from']}, the end of the {period['tier']}"
                f" tier's minimum period ({period['rule_id']} v{period['rule_version']})",
            )
        if not obligations_performed:
            raise RuleViolation(
                "/obligations_performed",
                "obligations-not-performed",
                "credit repair requires the obligations of the decision performed (已履行行政处罚决定)",
            )
        self.trigger_event(
            self.RepairApplied,
            **self._common(),
            applied_on=applied_on.isoformat(),
            obligations_performed=obligations_performed,
            commitment=commitment,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_repair(
        self,
        *,
        granted: bool,
        reason: str,
        decided_on: date,
        today: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The agency grants (publication ends at once) or refuses, with the reason."""
        self._require_published("decide a credit repair")
        # Published with the repair notice on Credit China: no personal identifier in it.
        refuse_personal_identifiers([("/reason", reason)])
        if self.repair["status"] != "applied":
            raise IllegalInCurrentState("no credit repair application is awaiting a decision", state=self.state)
        if decided_on > today:
            raise RuleViolation("/decided_on", "not-in-future", f"{decided_on} is after today ({today})")
        if decided_on < date.fromisoformat(self.repair["applied_on"]):
            raise RuleViolation(
                "/decided_on", "before-application", f"the application was made on {self.repair['applied_on']}"
            )
        self.trigger_event(
            self.RepairGranted if granted else self.RepairRefused,
            **self._common(),
            **({"decision_number": self.decision_number} if granted else {}),
            decided_on=decided_on.isoformat(),
            reason=reason,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def _require_published(self, what: str) -> None:
        if self.state != "published":
            raise IllegalInCurrentState(f"cannot {what}: the publication is {self.state}", state=self.state)

    # -- pushed to Credit China ----------------------------------------------------------

    def pending_notice(self) -> Notice | None:
        """What Credit China has yet to be told of this publication's end, if anything."""
        wanted: Notice | None = None
        if not self.pushed_to_credit_china:
            return None
        if self.state == "withdrawn" and self.published:
            wanted = "withdrawal"
        elif self.state == "ended" and self.published:
            wanted = "end"
        elif self.state == "repaired":
            wanted = "repair"
        return None if wanted is None or wanted in self.notified else wanted

    def notice_body(self, notice: Notice) -> dict[str, Any]:
        """The Credit China message (contracts/credit_china/notice.schema.json)."""
        on = self.withdrawn_on if notice == "withdrawal" else self.ended_on
        assert on is not None
        reasons = {
            "withdrawal": self.withdrawal_reason or "",
            "end": f"公示期满（至{self.publication_end}）",
            "repair": f"信用修复：{self.repair.get('reason') or ''}".rstrip("："),
        }
        return {
            "publication_id": self.publication_id,
            "notice": notice,
            "decision_number": self.decision_number,
            "effective_on": on,
            "reason": reasons[notice],
        }

    def notify(self, *, notice: Notice, receipt_id: str, notified_on: date, actor: dict[str, Any]) -> None:
        self.trigger_event(
            self.CreditChinaNotified,
            **self._common(),
            notice=notice,
            receipt_id=receipt_id,
            notified_on=notified_on.isoformat(),
            withdrawal_deadline=None,
            actor=actor,
        )


class WithheldDecision(TracedAggregate):
    """A penalty decision that is not published (不予公示), with the ground: nothing of its
    content is kept, only what the agency's view lists."""

    class Withheld(TracedAggregate.Created):
        cloud_type = event_types.DISCLOSURE_PUBLICATION_WITHHELD
        case_id: str
        publication_id: str
        decision_number: str
        decided_on: str
        respondent: int
        tier: Tier
        ground: WithholdingGround
        reason: str

    def __init__(
        self,
        case_id: str,
        publication_id: str,
        decision_number: str,
        decided_on: str,
        respondent: int,
        tier: Tier,
        ground: WithholdingGround,
        reason: str,
        actor: dict[str, Any],
    ) -> None:
        self.case_id = case_id
        self.agency_code: str = actor["agency_code"]
        self.publication_id = publication_id
        self.decision_number = decision_number
        self.decided_on = decided_on
        self.respondent = respondent
        self.tier = tier
        self.ground = ground
        self.reason = reason

    @classmethod
    def record(
        cls,
        *,
        case_id: str,
        decision: dict[str, Any],
        tier: Tier,
        ground: WithholdingGround,
        actor: dict[str, Any],
        publication_id: uuid.UUID | None = None,
    ) -> WithheldDecision:
        publication_id = publication_id or publication_id_for(case_id, decision["decision_number"])
        withheld: WithheldDecision = cls._create(
            cls.Withheld,
            id=publication_id,
            case_id=case_id,
            publication_id=str(publication_id),
            decision_number=decision["decision_number"],
            decided_on=decision["decided_on"],
            respondent=decision.get("respondent", 1),
            tier=tier,
            ground=ground,
            reason=WITHHOLDING_REASONS[ground],
            actor=actor,
        )
        return withheld

    def withdraw(self, correction: dict[str, Any], **_: Any) -> None:
        """Refused: a decision that was never published has no publication to withdraw."""
        raise NeverPublished(
            f"the decision {self.decision_number} was never published ({self.reason}): nothing to withdraw",
            state="withheld",
        )
