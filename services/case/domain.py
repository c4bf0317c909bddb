"""The enforcement case (行政处罚案件) and the rules it keeps.

States (a case handler's view, shared/DOMAIN.md §3): filed (立案, investigation under way)
→ legal review (法制审核) passed or returned → decided (行政处罚决定). Later procedure
(prior notice, hearing, service, payment, closure) will extend this machine.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Literal, NotRequired

from pydantic import Field, StringConstraints
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
    personal_identifier_in,
)
from services.common.officers import Officer, require_two_officers
from services.common.personal_data import SealedText
from services.common.rules import Catalogue
from services.infra.crypto import FieldCipher, is_sealed
from services.infra.errors import IllegalInCurrentState, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

CaseStatus = Literal["filed", "review_returned", "review_passed", "decided"]
PartyKind = Literal["enterprise", "natural_person"]
PenaltyKind = Literal[
    "warning",  # 警告
    "fine",  # 罚款
    "confiscation_of_illegal_gains",  # 没收违法所得
    "suspension_of_production",  # 责令停产停业
    "licence_suspension",  # 暂扣许可证
    "licence_revocation",  # 吊销许可证
]
ReviewOutcome = Literal["passed", "returned"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}|[0-9]{6})?$")]
# A USCC or a resident ID number: both 18 characters of the USCC alphabet.
PartyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=USCC_PATTERN)]
Phone = Annotated[str, StringConstraints(pattern=r"^[0-9+\-() ]{5,20}$")]

# Which command is allowed in which state: the single source for 409 answers.
ALLOWED_ACTIONS: dict[str, tuple[str, ...]] = {
    "filed": ("record_legal_review",),
    "review_returned": ("record_legal_review",),
    "review_passed": ("decide_penalty",),
    "decided": (),
}

# 行政处罚法 Art. 60: decide within 90 days of filing; the value, its counting (from the day
# after filing, a last day on a rest day moved to the next working day) and its source are
# the catalogue's rule DECISION_DUE_RULE (rules/procedure.yaml), chosen by the filing date.
DECISION_DUE_RULE = "case.decision_due"
DECISION_DEADLINE = "decision"  # the name of the decision deadline among a case's deadlines
__all__ = ["DEFAULT_LEAD_WORKING_DAYS"]  # re-exported: the lead's default is every service's
DeadlineChange = Literal["extension", "suspension"]
LIMITATION_YEARS = 2  # Art. 36: not discovered within 2 years: no penalty ...
LIMITATION_YEARS_WITH_HARM = 5  # ... 5 years where life, health or property was harmed.
DECISION_NUMBER = re.compile(r"^[(（][^()（）]{1,20}[)）]应急罚〔(\d{4})〕(\d{1,6})号$")


class Agency(TypedDict):
    """执法机关: identified by its unified social credit code and region code."""

    code: USCC
    name: Name
    region_code: RegionCode


class Party(TypedDict):
    """当事人: an enterprise (USCC) or a natural person (resident ID number)."""

    kind: PartyKind
    name: Name
    code: PartyCode
    legal_representative: NotRequired[Name]
    address: NotRequired[ShortText]
    phone: NotRequired[Phone]


class RecordedParty(TypedDict):
    """当事人 as events record it: a natural person's ID number, phone and address sealed
    (personal_data.py), an enterprise's fields as given."""

    kind: PartyKind
    name: str
    code: str | SealedText
    legal_representative: NotRequired[str]
    address: NotRequired[str | SealedText]
    phone: NotRequired[str | SealedText]


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


class DeadlineNotOpen(IllegalInCurrentState):
    """An extension of a deadline the case does not have open."""

    def __init__(self, name: str, open_names: list[str]) -> None:
        super().__init__(f"the case has no open deadline '{name}'", open_deadlines=open_names)


class IllegalTransition(IllegalInCurrentState):
    """A command the case's current state does not allow (answered 409 with the state and
    the actions allowed from it)."""

    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        self.allowed = ALLOWED_ACTIONS[status]
        super().__init__(
            f"'{action}' is not allowed while the case is '{status}'",
            current_state=status,
            allowed_actions=list(self.allowed),
        )


# -- rules -------------------------------------------------------------------------------


def validate_party(party: Party, pointer: str = "/party") -> None:
    if party["kind"] == "enterprise" and not is_valid_uscc(party["code"]):
        raise RuleViolation(f"{pointer}/code", "uscc", "not a valid unified social credit code (check character)")
    if party["kind"] == "natural_person" and not is_valid_resident_id(party["code"]):
        raise RuleViolation(f"{pointer}/code", "resident-id", "not a valid resident ID number (check character)")


def refuse_personal_data_in_text(pointer: str, text: str, party: Party | None = None) -> None:
    """Narrative text is not sealed, so it must not carry personal identifiers: they go in
    the party's fields. Refused with 422 rather than silently kept in clear."""
    found = personal_identifier_in(text)
    if party is not None and party["kind"] == "natural_person" and party.get("address") and party["address"] in text:
        found = "the party's address"
    if found:
        raise RuleViolation(
            pointer, "no-personal-data-in-text", f"the text contains {found}; give it only in the party's fields"
        )


# -- the aggregate ----------------------------------------------------------------------


class Case(TracedAggregate, RemembersCommands, KeepsDeadlines):
    """行政处罚案件. Created by filing (立案). Remembers each command's Idempotency-Key, so
    a retry is answered from its events."""

    class Filed(TracedAggregate.Created):
        cloud_type = event_types.CASE_FILED
        agency: Agency
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
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 2

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

    class LegalReviewRecorded(TracedAggregate.Event):
        cloud_type = event_types.CASE_LEGAL_REVIEW_RECORDED
        outcome: ReviewOutcome
        reviewer: Reviewer
        opinion: str
        reviewed_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.status = "review_passed" if self.outcome == "passed" else "review_returned"
            case.remember(self.command_key, self.command_fingerprint)

    class PenaltyDecided(TracedAggregate.Event):
        """The decision document's content (行政处罚决定书), self-contained so that the
        disclosure service can publish it without reading the case service."""

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
        command_key: str
        command_fingerprint: str

        def apply(self, case: Case) -> None:
            case.status = "decided"
            case.decision_number = self.decision_number
            case.close_deadline(DECISION_DEADLINE)  # the step is taken
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
        self.deadlines = {DECISION_DEADLINE: open_deadline(decision_deadline)}
        self.status: str = "filed"
        self.decision_number: str | None = None
        self.remember(command_key, command_fingerprint)

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        return ALLOWED_ACTIONS[self.status]

    def _require(self, action: str) -> None:
        if action not in self.allowed_actions:
            raise IllegalTransition(action, self.status)

    # -- commands ----------------------------------------------------------------------
    @classmethod
    def file(
        cls,
        *,
        case_id: Any,
        agency: Agency,
        party: Party,
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
    ) -> Case:
        """立案. At least two officers with distinct certificates (行政处罚法 Art. 42);
        within the limitation period (Art. 36). A natural person's ID number, phone and
        address are sealed before the event records them."""
        if not is_valid_uscc(agency["code"]):
            raise RuleViolation("/agency/code", "uscc", "not a valid unified social credit code (check character)")
        validate_party(party)
        refuse_personal_data_in_text("/violation_summary", violation_summary, party)
        refuse_personal_data_in_text("/legal_basis", legal_basis, party)
        require_two_officers(officers, "act")
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
        case: Case = cls._create(
            cls.Filed,
            id=case_id,
            agency=agency,
            party=seal_party(dict(party), cipher),
            violation_summary=violation_summary,
            violation_date=violation_date.isoformat(),
            harm_caused=harm_caused,
            legal_basis=legal_basis,
            officers=officers,
            filed_on=filed_on.isoformat(),
            decision_due=decision_deadline["due_on"],
            decision_deadline=decision_deadline,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return case

    def record_legal_review(
        self,
        *,
        outcome: ReviewOutcome,
        reviewer: Reviewer,
        opinion: str,
        reviewed_on: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """法制审核: passed, or returned with an opinion."""
        self._require("record_legal_review")
        if outcome == "returned" and not opinion.strip():
            raise RuleViolation("/opinion", "opinion-required", "a returned review must give the reviewer's opinion")
        refuse_personal_data_in_text("/opinion", opinion)
        if reviewer.get("name", "").strip() in {o["name"].strip() for o in self.officers}:
            raise RuleViolation(
                "/reviewer/name", "independent-reviewer", "the legal reviewer cannot be an investigating officer"
            )
        self.trigger_event(
            self.LegalReviewRecorded,
            outcome=outcome,
            reviewer=reviewer,
            opinion=opinion,
            reviewed_on=reviewed_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_penalty(
        self,
        *,
        decision_number: str,
        decided_on: date,
        penalties: list[Penalty],
        command_key: str,
        command_fingerprint: str,
        cipher: FieldCipher,
    ) -> None:
        """行政处罚决定, only after a passed legal review."""
        self._require("decide_penalty")
        match = DECISION_NUMBER.match(decision_number)
        if not match:
            raise RuleViolation(
                "/decision_number", "decision-number-format", "expected e.g. (湘株醴)应急罚〔2023〕125号"
            )
        if int(match.group(1)) != decided_on.year:
            raise RuleViolation(
                "/decision_number", "decision-number-year", "the number's year must be the decision's year"
            )
        if decided_on < date.fromisoformat(self.filed_on):
            raise RuleViolation("/decided_on", "not-before-filing", "a decision cannot precede the filing")
        fines = [p for p in penalties if p["kind"] == "fine"]
        if len(fines) > 1:
            raise RuleViolation("/penalties", "one-fine", "one violation, one fine (行政处罚法 Art. 29)")
        for index, penalty in enumerate(penalties):
            amount = penalty.get("amount_yuan")
            if penalty["kind"] in ("fine", "confiscation_of_illegal_gains") and not amount:
                raise RuleViolation(
                    f"/penalties/{index}/amount_yuan", "amount-required", "a positive amount is required"
                )
            if penalty["kind"] not in ("fine", "confiscation_of_illegal_gains") and amount:
                raise RuleViolation(
                    f"/penalties/{index}/amount_yuan", "no-amount", f"'{penalty['kind']}' takes no amount"
                )
            refuse_personal_data_in_text(f"/penalties/{index}/description", penalty.get("description", ""))
        self.trigger_event(
            self.PenaltyDecided,
            decision_number=decision_number,
            decided_on=decided_on.isoformat(),
            penalties=penalties,
            fine_total_yuan=sum(p.get("amount_yuan", 0) for p in fines),
            agency=self.agency,
            party=self.party,
            party_is_minor=_party_is_minor(self.party, decided_on, cipher),
            violation_summary=self.violation_summary,
            legal_basis=self.legal_basis,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

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
