"""The publication (公示) of one penalty decision to Credit China (信用中国) and the
agency's site, under 双公示 (shared/DOMAIN.md §5).

A publication is prepared from the case service's decision event with the 双公示 data
items already masked, and is published once Credit China has accepted it. Masking happens
here, before anything is stored: no event of this service ever holds a natural person's
ID number, address or phone number.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal

from typing_extensions import TypedDict

from services.common import event_types
from services.common.deadlines import (
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
    open_deadline,
    recorded_deadline,
)
from services.common.identifiers import MOBILE_LIKE, RESIDENT_ID_LIKE, is_valid_resident_id
from services.common.personal_data import mask_person_name
from services.common.rules import Catalogue
from services.infra.eventstore import TracedAggregate

PartyCategory = Literal["legal_person", "other_organisation", "individual_business", "natural_person"]
Tier = Literal["minor", "general", "serious"]

# 三项制度 / 双公示: penalty decisions are published within 7 working days of the decision:
# the value, its counting (working days on the official calendar, from the day after the
# decision) and its source are the catalogue's rule (rules/publication.yaml), chosen by the
# decision date.
PUBLISH_WITHIN_RULE = "publication.penalty_publish_within"
PUBLISH_DEADLINE = "publication"  # the name of the publication deadline
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


class AlreadyPublished(Exception):
    """A publication is published once; a second acceptance is a bug upstream."""


# -- rules ------------------------------------------------------------------------------


def publication_id_for(case_id: str, decision_number: str) -> uuid.UUID:
    """One publication per decision: a duplicate delivery finds the same id."""
    return uuid.uuid5(PUBLICATION_ID_NAMESPACE, f"{case_id}:{decision_number}")


def add_months(start: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def to_wan_yuan(yuan: int) -> str:
    """Yuan (kept internally) to 万元 with 6 decimals, as 双公示 exports amounts."""
    return str((Decimal(yuan) / Decimal(10_000)).quantize(Decimal("0.000001")))


def party_category(party: dict[str, Any]) -> PartyCategory:
    """行政相对人类别. For units the USCC's second character is the organisation type;
    registration authority 9 (market regulation) with type 2 is an individual business."""
    if party["kind"] == "natural_person":
        return "natural_person"
    code = party["code"]
    return "individual_business" if code[:2] == "92" else "legal_person"


def withheld_reason(decision: dict[str, Any]) -> str | None:
    """Why a decision must not be published at all, or None (DOMAIN.md §5). The case
    service says whether the party was a minor on the decision date (``party_is_minor``),
    since the ID number reaches this service only sealed."""
    if decision["party"]["kind"] == "natural_person" and decision.get("party_is_minor"):
        return "the penalised party is a minor"
    return None


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


def disclosed_penalty(decision: dict[str, Any], publication_end: date) -> DisclosedPenalty:
    """The masked 双公示 items of a decision (the data of case.penalty_decided.v1)."""
    party, agency, penalties = decision["party"], decision["agency"], decision["penalties"]
    person = party["kind"] == "natural_person"
    scrub = _scrubber(party)
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
    return DisclosedPenalty(
        party_name=mask_person_name(party["name"]) if person else party["name"],
        party_category=party_category(party),
        party_code="" if person else str(party["code"]),
        legal_representative="" if person else party.get("legal_representative", ""),
        decision_number=decision["decision_number"],
        # The case service records no separate violation type yet: its summary is the best fit.
        violation_type=scrub(decision["violation_summary"]),
        violation_facts=scrub(decision["violation_summary"]),
        legal_basis=decision["legal_basis"],
        penalty_category="；".join(dict.fromkeys(PENALTY_LABELS[p["kind"]] for p in penalties)),
        penalty_content="；".join(contents),
        fine_amount_wan_yuan=to_wan_yuan(decision["fine_total_yuan"]),
        confiscated_amount_wan_yuan=to_wan_yuan(confiscated),
        licence=licence,
        decision_date=decision["decided_on"],
        penalty_validity=LONG_TERM_VALIDITY,
        publication_end_date=publication_end.isoformat(),
        deciding_agency=agency["name"],
        deciding_agency_code=agency["code"],
        data_source=agency["name"],
        data_source_code=agency["code"],
        remarks="",
    )


# -- the aggregate ----------------------------------------------------------------------


class Publication(TracedAggregate, KeepsDeadlines):
    """公示 of one penalty decision. Created when the decision is known (prepared),
    published when Credit China has accepted it, which closes its publication deadline."""

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

        class_version: ClassVar[int] = 2

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

    class Published(TracedAggregate.Event):
        """Accepted by Credit China; carries the item so the public feed needs only this."""

        cloud_type = event_types.DISCLOSURE_PUBLISHED
        case_id: str
        publication_id: str
        published_on: str
        receipt_id: str
        item: DisclosedPenalty

        def apply(self, publication: Publication) -> None:
            publication.published_on = self.published_on
            publication.receipt_id = self.receipt_id
            publication.close_deadline(PUBLISH_DEADLINE)  # the step is taken

    class DeadlineApproaching(DeadlineApproachingEvent):
        """The publication deadline (publish_by, 7 working days from the decision) is within
        the lead (recorded once per due date)."""

        cloud_type = event_types.DISCLOSURE_DEADLINE_APPROACHING
        case_id: str

    class DeadlineMissed(DeadlineMissedEvent):
        """The publication deadline passed unpublished (recorded once per due date)."""

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
        self.published_on: str | None = None
        self.receipt_id: str | None = None

    def deadline_owner(self) -> tuple[str, str]:
        return self.agency_code, self.region_code

    def deadline_event_data(self) -> dict[str, Any]:
        return {"case_id": self.case_id}

    @property
    def published(self) -> bool:
        return self.published_on is not None

    @classmethod
    def prepare(
        cls,
        *,
        case_id: str,
        decision: dict[str, Any],
        publication_months: int,
        catalogue: Catalogue,
        actor: dict[str, Any],
    ) -> Publication:
        """Prepare the publication of a penalty decision: general tier, due 7 working days
        after the decision (the catalogue's rule), ending ``publication_months`` after it."""
        decided_on = date.fromisoformat(decision["decided_on"])
        publish_deadline = recorded_deadline(
            PUBLISH_DEADLINE,
            catalogue.procedural_deadline(PUBLISH_WITHIN_RULE, decided_on, region=actor["region_code"]),
        )
        publication_id = publication_id_for(case_id, decision["decision_number"])
        publication_end = add_months(decided_on, publication_months)
        publication: Publication = cls._create(
            cls.Prepared,
            id=publication_id,
            case_id=case_id,
            publication_id=str(publication_id),
            decision_number=decision["decision_number"],
            item=disclosed_penalty(decision, publication_end),
            tier="general",
            publish_by=publish_deadline["due_on"],
            publish_deadline=publish_deadline,
            publication_end=publication_end.isoformat(),
            actor=actor,
        )
        return publication

    def publish(self, *, published_on: date, receipt_id: str, actor: dict[str, Any]) -> None:
        if self.published:
            raise AlreadyPublished(f"publication {self.id} was published on {self.published_on}")
        self.trigger_event(
            self.Published,
            case_id=self.case_id,
            publication_id=self.publication_id,
            published_on=published_on.isoformat(),
            receipt_id=receipt_id,
            item=self.item,
            actor=actor,
        )
