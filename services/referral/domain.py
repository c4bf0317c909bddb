"""Criminal referral (行刑衔接): an enforcement agency refers a case with a suspected crime
to the public security organ (公安机关) or the procuratorate (人民检察院).

shared/DOMAIN.md §4: at least two officers prepare the referral; the police decide whether
to file within 3 days of receipt. This version records the referral (移送); the police's
answer, reconsideration and hand-over of seized items extend it later.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import StringConstraints
from typing_extensions import TypedDict

from services.infra.eventstore import TracedAggregate

ReceivingOrgan = Literal["public_security", "procuratorate"]
POLICE_FILING_DECISION_DAYS = 3  # 公安机关 decide to file or not within 3 days of receipt.
REFERRAL_ID_NAMESPACE = uuid.UUID("a1c7e2f0-5b9d-5c3e-8f41-7d2b6e9a0c33")


class Officer(TypedDict):
    """执法人员 preparing the referral, with the enforcement certificate number."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    certificate_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40)]


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


class ReferralError(Exception):
    pass


class AlreadyReferred(ReferralError):
    def __init__(self, referral_id: uuid.UUID) -> None:
        self.referral_id = referral_id
        super().__init__(f"the case was already referred to this organ (referral {referral_id})")


class ReferralRuleViolation(ReferralError):
    def __init__(self, pointer: str, rule: str, detail: str) -> None:
        self.pointer = pointer
        self.rule = rule
        super().__init__(detail)


def referral_id_for(case_id: str, receiving_organ: str) -> uuid.UUID:
    """One referral per case and receiving organ, so a retried referral cannot duplicate."""
    return uuid.uuid5(REFERRAL_ID_NAMESPACE, f"{case_id}:{receiving_organ}")


class Referral(TracedAggregate):
    """移送: one referral of one case to one receiving organ."""

    class Referred(TracedAggregate.Created):
        cloud_type = "referral.referred.v1"
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
        command_fingerprint: str

    def __init__(
        self,
        case_id: str,
        agency_code: str,
        agency_name: str,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        suspected_offence: str,
        reason: str,
        officers: list[Officer],
        materials: list[str],
        referred_on: str,
        filing_decision_due: str,
        command_fingerprint: str,
    ) -> None:
        self.case_id = case_id
        self.agency_code = agency_code
        self.receiving_organ = receiving_organ
        self.organ_name = organ_name
        self.referred_on = referred_on
        self.filing_decision_due = filing_decision_due
        self.status = "referred"
        self.command_fingerprint = command_fingerprint

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
        command_fingerprint: str,
    ) -> Referral:
        if len({o["certificate_no"].strip() for o in officers}) < 2:
            raise ReferralRuleViolation(
                "/officers", "two-officers", "at least two officers with distinct certificates prepare a referral"
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
            filing_decision_due=(referred_on + timedelta(days=POLICE_FILING_DECISION_DAYS)).isoformat(),
            command_fingerprint=command_fingerprint,
        )
        return referral

