"""Filing (立案) and dismissal (撤销立案)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Self

from services.case.domain.checks import (
    check_business_date,
    refuse_personal_data_in_text,
    validate_party,
    years_before,
)
from services.case.domain.state import CaseState
from services.case.domain.tracks import Track
from services.case.domain.vocabulary import (
    DECISION_DEADLINE,
    DECISION_DUE_RULE,
    LIMITATION_YEARS,
    LIMITATION_YEARS_WITH_HARM,
    Agency,
    Party,
    Procedure,
    RecordedParty,
)
from services.case.personal_data import seal_party
from services.common import event_types
from services.common.deadlines import (
    RecordedDeadline,
    open_deadline,
    recorded_deadline,
)
from services.common.identifiers import (
    is_valid_uscc,
)
from services.common.officers import Officer, require_two_officers
from services.common.rules import Catalogue
from services.infra.crypto import FieldCipher
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate


class Filing(CaseState):
    """立案 and 撤销立案: the case comes into being, or is withdrawn before any notice."""

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

    class Dismissed(TracedAggregate.Event):
        """撤销立案: the case ends without a decision."""

        cloud_type = event_types.CASE_DISMISSED
        dismissed_on: str
        reason: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.ended_as = "dismissed"
            case.settle_status()
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
    ) -> Self:
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
        if violation_date < years_before(filed_on, years):
            raise RuleViolation(
                "/violation_date",
                "limitation-period",
                f"violation older than {years} years cannot be penalised (行政处罚法 Art. 36)",
            )
        due = catalogue.procedural_deadline(DECISION_DUE_RULE, filed_on, region=agency["region_code"])
        decision_deadline = recorded_deadline(DECISION_DEADLINE, due)
        recorded = [seal_party(dict(party), cipher) for party in respondents]
        case: Self = cls._create(
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
