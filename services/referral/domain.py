"""Criminal referral (行刑衔接): an enforcement agency refers a case with a suspected crime
to the public security organ (公安机关) or the procuratorate (人民检察院).

shared/DOMAIN.md §4: at least two officers prepare the referral; the police decide whether
to file within 3 days of receipt. This version records the referral (移送); the police's
answer, reconsideration and hand-over of seized items extend it later.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, ClassVar, Literal

from typing_extensions import TypedDict

from services.common import event_types
from services.common import officers as common_officers
from services.common.deadlines import (
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
    open_deadline,
    recorded_deadline,
)
from services.common.identifiers import is_valid_uscc
from services.common.officers import require_two_officers
from services.common.rules import Catalogue
from services.infra.errors import IllegalInCurrentState, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

ReceivingOrgan = Literal["public_security", "procuratorate"]
# 公安机关 decide to file or not within 3 days of receipt of the referral: the value, its
# counting (from the day after, a last day on a rest day moved to the next working day) and
# its source are the catalogue's rule (rules/referral.yaml), chosen by the referral date.
# The referral date stands for the receipt, as it always has here. The head's approval
# (referral.head_decision) and the 24-hour dispatch (referral.dispatch) come before the
# referral is recorded, so no deadline of a recorded referral starts from them.
POLICE_FILING_DECISION_RULE = "referral.police_filing_decision"
FILING_DECISION_DEADLINE = "police_filing_decision"  # its name among a referral's deadlines
REFERRAL_ID_NAMESPACE = uuid.UUID("a1c7e2f0-5b9d-5c3e-8f41-7d2b6e9a0c33")


class Officer(common_officers.Officer):
    """执法人员 preparing the referral, with the enforcement certificate number."""


class KnownCase(TypedDict):
    """What the referral service knows of a case, learnt from the case-events topic. The
    party is as the case service recorded it (a natural person's identifiers sealed)."""

    case_id: str
    agency_code: str
    agency_name: str
    region_code: str
    party: dict[str, Any]


class Addressee(TypedDict):
    """The organ a referral goes to (its unified social credit code), and the
    procuratorate that receives a copy and supervises (抄送, optional)."""

    organ_code: str
    copy_to_code: str | None


class UnknownCase(RuleViolation):
    """A case the referral service has not learnt of, or that the caller may not see."""

    kind = "unknown-case"
    title = "Unknown case"

    def __init__(self, case_id: Any) -> None:
        super().__init__(
            "/case_id",
            "known-case",
            f"case {case_id} is not known to the referral service; it learns cases from the case "
            "service's events, so a case filed moments ago may need a second",
        )


class AlreadyReferred(IllegalInCurrentState):
    """A different referral of a case to an organ it was referred to already."""

    kind = "already-referred"
    title = "Already referred"

    def __init__(self, referral_id: uuid.UUID) -> None:
        self.referral_id = referral_id
        super().__init__(
            f"the case was already referred to this organ (referral {referral_id})", referral_id=str(referral_id)
        )


def referral_id_for(case_id: str, receiving_organ: str) -> uuid.UUID:
    """One referral per case and receiving organ, so a retried referral cannot duplicate."""
    return uuid.uuid5(REFERRAL_ID_NAMESPACE, f"{case_id}:{receiving_organ}")


def validate_addressee(addressee: Addressee) -> None:
    for field, code in (("organ_code", addressee["organ_code"]), ("copy_to_code", addressee["copy_to_code"])):
        if code is not None and not is_valid_uscc(code):
            raise RuleViolation(f"/{field}", "uscc", "not a valid unified social credit code (check character)")


class Referral(TracedAggregate, RemembersCommands, KeepsDeadlines):
    """移送: one referral of one case to one receiving organ."""

    deadline_service = "referral"

    class Referred(TracedAggregate.Created):
        cloud_type = event_types.REFERRAL_REFERRED
        case_id: str
        agency_code: str
        agency_name: str
        region_code: str
        receiving_organ: ReceivingOrgan
        organ_name: str
        organ_code: str
        copy_to_code: str | None
        # The part of the case the referral shares with the receiving organ.
        party: dict[str, Any]
        suspected_offence: str
        reason: str
        officers: list[Officer]
        materials: list[str]
        referred_on: str
        filing_decision_due: str
        # Since class version 2: the deadlines starting from the referral, each with the
        # rule that set it (older events: upcast).
        deadlines: list[RecordedDeadline]
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A referral recorded before the catalogue: its filing decision date was 3
            calendar days after the referral, unrolled, under the only version of the rule."""
            state["deadlines"] = [
                RecordedDeadline(
                    name=FILING_DECISION_DEADLINE,
                    rule_id=POLICE_FILING_DECISION_RULE,
                    rule_version=1,
                    due_on=state["filing_decision_due"],
                    provisional=False,
                    region_override=None,
                )
            ]

    class DeadlineApproaching(DeadlineApproachingEvent):
        """A referral's deadline (the police's filing decision, ...) is within the lead
        (recorded once per due date)."""

        cloud_type = event_types.REFERRAL_DEADLINE_APPROACHING
        case_id: str

    class DeadlineMissed(DeadlineMissedEvent):
        """A referral's deadline passed with its step not taken (recorded once per due date)."""

        cloud_type = event_types.REFERRAL_DEADLINE_MISSED
        case_id: str

    def __init__(
        self,
        case_id: str,
        region_code: str,
        agency_code: str,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        referred_on: str,
        filing_decision_due: str,
        command_fingerprint: str,
        deadlines: list[RecordedDeadline],
        command_key: str = "",  # referrals recorded before keys were honoured have none
    ) -> None:
        self.case_id = case_id
        self.agency_code = agency_code
        self.region_code = region_code
        self.receiving_organ = receiving_organ
        self.organ_name = organ_name
        self.referred_on = referred_on
        self.filing_decision_due = filing_decision_due
        self.deadlines = {deadline["name"]: open_deadline(deadline) for deadline in deadlines}
        self.status = "referred"
        self.command_fingerprint = command_fingerprint
        self.remember(command_key, command_fingerprint)

    def deadline_owner(self) -> tuple[str, str]:
        return self.agency_code, self.region_code

    def deadline_event_data(self) -> dict[str, Any]:
        return {"case_id": self.case_id}

    def answer_retry(self, fingerprint: str) -> None:
        """The same referral again (same request, with or without a key) is answered by
        this one; a different referral of the case to the same organ is refused."""
        if fingerprint != self.command_fingerprint:
            raise AlreadyReferred(self.id)

    @classmethod
    def refer(
        cls,
        *,
        case: KnownCase,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        addressee: Addressee,
        suspected_offence: str,
        reason: str,
        officers: list[Officer],
        materials: list[str],
        referred_on: date,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> Referral:
        require_two_officers(officers, "prepare a referral")
        validate_addressee(addressee)
        filing_decision = recorded_deadline(
            FILING_DECISION_DEADLINE,
            catalogue.procedural_deadline(POLICE_FILING_DECISION_RULE, referred_on, region=case["region_code"]),
        )
        referral: Referral = cls._create(
            cls.Referred,
            id=referral_id_for(case["case_id"], receiving_organ),
            case_id=case["case_id"],
            agency_code=case["agency_code"],
            agency_name=case["agency_name"],
            region_code=case["region_code"],
            receiving_organ=receiving_organ,
            organ_name=organ_name,
            organ_code=addressee["organ_code"],
            copy_to_code=addressee["copy_to_code"],
            party=case["party"],
            suspected_offence=suspected_offence,
            reason=reason,
            officers=officers,
            materials=materials,
            referred_on=referred_on.isoformat(),
            filing_decision_due=filing_decision["due_on"],
            deadlines=[filing_decision],
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return referral
