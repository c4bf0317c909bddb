"""Investigation (调查取证), legal review (法制审核) and collective discussion (集体讨论)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.case.domain.checks import (
    check_business_date,
    is_investigator,
    measure_deadline,
    refuse_personal_data_in_text,
)
from services.case.domain.state import CaseState
from services.case.domain.tracks import IllegalTransition
from services.case.domain.vocabulary import (
    PRESERVATION_RULE,
    SEIZURE_EXTENSION_RULE,
    SEIZURE_RULE,
    Approver,
    DocumentRef,
    EvidenceKind,
    InquiryKind,
    MeasureKind,
    Reviewer,
    ReviewOutcome,
)
from services.common import event_types
from services.common.deadlines import (
    RecordedDeadline,
    recorded_deadline,
)
from services.common.officers import Officer, require_two_officers
from services.common.rules import Catalogue
from services.infra.errors import NotFound, RuleViolation
from services.infra.eventstore import TracedAggregate


class Investigation(CaseState):
    """调查取证 (evidence, inquiries, measures), 法制审核 and 负责人集体讨论."""

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

        def apply(self, case: CaseState) -> None:
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

        def apply(self, case: CaseState) -> None:
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

        def apply(self, case: CaseState) -> None:
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

        def apply(self, case: CaseState) -> None:
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

        def apply(self, case: CaseState) -> None:
            case.measures[self.measure_no]["concluded_on"] = self.concluded_on
            case.close_deadline(measure_deadline(self.measure_no))
            case.remember(self.command_key, self.command_fingerprint)

    class LegalReviewRecorded(TracedAggregate.Event):
        cloud_type = event_types.CASE_LEGAL_REVIEW_RECORDED
        outcome: ReviewOutcome
        reviewer: Reviewer
        opinion: str
        reviewed_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
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

        def apply(self, case: CaseState) -> None:
            case.discussion = {"on": self.discussed_on, "at": self.originator_version}
            case.remember(self.command_key, self.command_fingerprint)

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
            deadline=recorded_deadline(measure_deadline(number), due),
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
        current = self.deadlines[measure_deadline(measure_no)]["deadline"]
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
            deadline=recorded_deadline(measure_deadline(measure_no), due),
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
        if is_investigator(reviewer, self.investigators):
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
