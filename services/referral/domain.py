"""Criminal referral (行刑衔接): an enforcement agency refers a case with a suspected crime
to the public security organ (公安机关) or the procuratorate (人民检察院).

shared/DOMAIN.md §4: at least two officers prepare the referral; the police decide whether
to file within 3 days of receipt. This version records the referral (移送); the police's
answer, reconsideration and hand-over of seized items extend it later.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any, Literal

from typing_extensions import TypedDict

from services.common import event_types
from services.common import officers as common_officers
from services.common.identifiers import is_valid_uscc
from services.common.officers import require_two_officers
from services.infra.errors import IllegalInCurrentState, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

ReceivingOrgan = Literal["public_security", "procuratorate"]
POLICE_FILING_DECISION_DAYS = 3  # 公安机关 decide to file or not within 3 days of receipt.
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


class Referral(TracedAggregate, RemembersCommands):
    """移送: one referral of one case to one receiving organ."""

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
        command_key: str
        command_fingerprint: str

    def __init__(
        self,
        case_id: str,
        agency_code: str,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        referred_on: str,
        filing_decision_due: str,
        command_fingerprint: str,
        command_key: str = "",  # referrals recorded before keys were honoured have none
    ) -> None:
        self.case_id = case_id
        self.agency_code = agency_code
        self.receiving_organ = receiving_organ
        self.organ_name = organ_name
        self.referred_on = referred_on
        self.filing_decision_due = filing_decision_due
        self.status = "referred"
        self.command_fingerprint = command_fingerprint
        self.remember(command_key, command_fingerprint)

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
        command_key: str,
        command_fingerprint: str,
    ) -> Referral:
        require_two_officers(officers, "prepare a referral")
        validate_addressee(addressee)
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
            filing_decision_due=(referred_on + timedelta(days=POLICE_FILING_DECISION_DAYS)).isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return referral
