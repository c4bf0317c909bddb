"""The simplified procedure (简易程序): a case filed and decided on the spot in one step, then
reported to the agency (备案)."""

from __future__ import annotations

from datetime import date
from typing import Any, Self

from services.case.domain.checks import (
    check_business_date,
    check_number,
    fine_total,
    party_is_minor,
    performance,
    remedies,
    validate_penalties,
)
from services.case.domain.decision import Deciding
from services.case.domain.filing import Filing
from services.case.domain.state import CaseState
from services.case.domain.tracks import IllegalTransition
from services.case.domain.vocabulary import SIMPLIFIED_FINE_RULES, Agency, Party, Penalty
from services.common import event_types
from services.common.officers import Officer
from services.common.rules import Catalogue, Yuan
from services.infra.crypto import FieldCipher
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate


class OnTheSpot(Filing, Deciding):
    """简易程序: 当场作出行政处罚决定, then 备案."""

    class ReportedToAgency(TracedAggregate.Event):
        """简易程序: the on-the-spot decision reported to the agency for filing (备案)."""

        cloud_type = event_types.CASE_REPORTED_TO_AGENCY
        reported_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.reported_on = self.reported_on
            case.remember(self.command_key, self.command_fingerprint)

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
    ) -> Self:
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
        check_number(decision_number, agency, decided_on)
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
            party_is_minor=party_is_minor(track.party, decided_on, cipher),
            violation_summary=violation_summary,
            legal_basis=legal_basis,
            respondent=1,
            serial=serial,
            procedure="simplified",
            discretion=None,
            performance=performance(performance_how, catalogue, decided_on, region),
            remedies=remedies(reconsideration_organ, court, catalogue, decided_on, region),
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
