"""A respondent's track to its decision: prior notice (事先告知), statement and defence (陈述申辩),
hearing (听证), and the decision (行政处罚决定 or 不予处罚)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from services.case.domain.checks import (
    check_business_date,
    check_disclosure,
    check_number,
    fine_total,
    heavier_than,
    is_investigator,
    major_because,
    party_is_minor,
    performance,
    refuse_personal_data_in_text,
    remedies,
    validate_penalties,
)
from services.case.domain.state import CaseState
from services.case.domain.tracks import IllegalTransition, Track
from services.case.domain.vocabulary import (
    DECISION_NUMBER,
    FIRST_OFFENCE_LIST_RULE,
    HEARING_NOTICE_RULE,
    HEARING_REQUEST_RULE,
    HEARING_WITHIN_DAYS,
    STATEMENT_WINDOW_RULE,
    Agency,
    DisclosureFacts,
    Discretion,
    DocumentRef,
    NoPenaltyGround,
    Penalty,
    Performance,
    Procedure,
    RecordedParty,
    Remedies,
    Reviewer,
    StatementKind,
    WithheldBecause,
)
from services.common import event_types
from services.common.deadlines import (
    RecordedDeadline,
    recorded_deadline,
)
from services.common.rules import Catalogue, Codes
from services.infra.crypto import FieldCipher
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate


class Deciding(CaseState):
    """事先告知 → 陈述申辩 / 听证 → 决定, for each respondent on its own."""

    class PriorNoticeServed(TracedAggregate.Event):
        """行政处罚事先告知 to one respondent: facts, basis, the intended penalty and the
        rights to state, defend and (for a major decision) request a hearing, with the
        periods the catalogue gives for them."""

        cloud_type = event_types.CASE_PRIOR_NOTICE_SERVED
        respondent: int
        notified_on: str
        facts: str
        legal_basis: str
        intended_penalties: list[Penalty]
        intended_fine_yuan: int
        statement_deadline: RecordedDeadline
        hearing_right: bool
        hearing_request_deadline: RecordedDeadline | None
        major_because: str | None
        document: DocumentRef | None
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "notified"
            track.intended = self.intended_penalties
            track.notified_on = self.notified_on
            track.statement_until = self.statement_deadline["due_on"]
            track.hearing_right = self.hearing_right
            track.hearing_request_until = (
                self.hearing_request_deadline["due_on"] if self.hearing_request_deadline else None
            )
            track.waived = False
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class StatementRecorded(TracedAggregate.Event):
        """陈述、申辩 received (or waived, with the hearing, in writing)."""

        cloud_type = event_types.CASE_STATEMENT_RECORDED
        respondent: int
        kind: StatementKind
        received_on: str
        summary: str
        document: DocumentRef | None
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.last_statement_on = self.received_on
            if self.kind == "waiver":
                track.waived = True
            else:
                track.defended = True
            case.remember(self.command_key, self.command_fingerprint)

    class HearingRequested(TracedAggregate.Event):
        """听证申请, within the request period after the notice."""

        cloud_type = event_types.CASE_HEARING_REQUESTED
        respondent: int
        requested_on: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "hearing_requested"
            track.hearing_requested_on = self.requested_on
            case.remember(self.command_key, self.command_fingerprint)

    class HearingScheduled(TracedAggregate.Event):
        """听证通知: time and place, notified at least the catalogue's period ahead; the
        chair did not investigate."""

        cloud_type = event_types.CASE_HEARING_SCHEDULED
        respondent: int
        notified_on: str
        hearing_on: str
        place: str
        chair: Reviewer
        notice_deadline: RecordedDeadline
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "hearing_scheduled"
            track.hearing_notified_on = self.notified_on
            track.hearing_on = self.hearing_on
            track.hearing_place = self.place
            track.hearing_chair = self.chair["name"]
            case.remember(self.command_key, self.command_fingerprint)

    class HearingHeld(TracedAggregate.Event):
        """听证 held; its record (听证笔录), by hash, is what the decision must rest on."""

        cloud_type = event_types.CASE_HEARING_HELD
        respondent: int
        held_on: str
        chair: Reviewer
        record: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "heard"
            track.hearing_on = self.held_on
            track.hearing_record = self.record
            track.heard_at = self.originator_version
            case.remember(self.command_key, self.command_fingerprint)

    class PenaltyDecided(TracedAggregate.Event):
        """The decision document's content (行政处罚决定书) for one respondent,
        self-contained so that the disclosure service can publish it without reading the
        case service: one event, one number, one publication per respondent."""

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
        # Since class version 2 (older events: upcast): which respondent, the serial of the
        # number in the agency's year, the procedure, the discretion level, how and by when
        # to perform and to seek remedies, the hearing record the decision rests on, and
        # why it was a major decision (reviewed and discussed).
        respondent: int
        serial: int
        procedure: Procedure
        discretion: Discretion | None
        performance: Performance | None
        remedies: Remedies | None
        hearing_record: DocumentRef | None
        major_because: str | None
        # Since class version 3 (older events: upcast to none): what the decision says for
        # its publication.
        disclosure: DisclosureFacts | None
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A decision before respondents: the case's one respondent, in the ordinary
            procedure, its serial read from its number; nothing else was recorded."""
            match = DECISION_NUMBER.match(state["decision_number"])
            state.update(
                respondent=1,
                serial=int(match.group(3)) if match else 0,
                procedure="ordinary",
                discretion=None,
                performance=None,
                remedies=None,
                hearing_record=None,
                major_because=None,
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["disclosure"] = None

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "decided"
            track.decision_number = self.decision_number
            track.decided_on = self.decided_on
            track.penalties = self.penalties
            track.fine_total_yuan = self.fine_total_yuan
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class NotPenalised(TracedAggregate.Event):
        """不予处罚决定 for one respondent: the ground (首违不罚 names its list item)."""

        cloud_type = event_types.CASE_NOT_PENALISED
        respondent: int
        decided_on: str
        ground: NoPenaltyGround
        list_item: str | None
        list_rule: str | None
        reason: str
        # Since class version 2 (older events: upcast to none, and so never published): what
        # the disclosure service publishes it from (其他行政执法决定, 20 working days), as in
        # PenaltyDecided, and a ground not to publish it (secrets, privacy).
        agency: Agency | None
        party: RecordedParty | None
        party_is_minor: bool
        violation_summary: str | None
        legal_basis: str | None
        withheld_because: WithheldBecause | None
        command_key: str
        command_fingerprint: str

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(
                agency=None,
                party=None,
                party_is_minor=False,
                violation_summary=None,
                legal_basis=None,
                withheld_because=None,
            )

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "not_penalised"
            track.decided_on = self.decided_on
            track.no_penalty_ground = self.ground
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    # -- commands: a respondent's track ------------------------------------------------
    def serve_prior_notice(
        self,
        *,
        respondent: int,
        notified_on: date,
        facts: str,
        legal_basis: str,
        intended_penalties: list[Penalty],
        document: DocumentRef | None,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """事先告知 (行政处罚法 Art. 44, 45, 63, 64): the statement period and, for a major
        decision, the hearing right with its request period, both from the catalogue. A
        new notice replaces the earlier one, but not with a heavier penalty after the
        respondent stated or defended (Art. 45)."""
        track = self._track(respondent, "serve_prior_notice")
        validate_penalties(intended_penalties, "/intended_penalties")
        refuse_personal_data_in_text("/facts", facts)
        refuse_personal_data_in_text("/legal_basis", legal_basis)
        check_business_date(
            "/notified_on",
            notified_on,
            latest,
            not_before=("notified_on", track.notified_on) if track.notified_on else ("filed_on", self.filed_on),
        )
        if track.defended and track.intended is not None:
            heavier = heavier_than(intended_penalties, track.intended)
            if heavier:
                raise RuleViolation(
                    "/intended_penalties",
                    "no-heavier-after-defence",
                    f"the respondent stated or defended: no heavier penalty than notified ({heavier}; Art. 45)",
                )
        region = self.agency["region_code"]
        major = major_because(track.kind, intended_penalties, catalogue, notified_on, region) or (
            "the case is complex" if self.complex_case else None
        )
        statement = catalogue.procedural_deadline(STATEMENT_WINDOW_RULE, notified_on, region=region)
        hearing = catalogue.procedural_deadline(HEARING_REQUEST_RULE, notified_on, region=region) if major else None
        self.trigger_event(
            self.PriorNoticeServed,
            respondent=respondent,
            notified_on=notified_on.isoformat(),
            facts=facts,
            legal_basis=legal_basis,
            intended_penalties=intended_penalties,
            intended_fine_yuan=fine_total(intended_penalties),
            statement_deadline=recorded_deadline(f"statement_{respondent}", statement),
            hearing_right=major is not None,
            hearing_request_deadline=recorded_deadline(f"hearing_request_{respondent}", hearing) if hearing else None,
            major_because=major,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_statement(
        self,
        *,
        respondent: int,
        kind: StatementKind,
        received_on: date,
        summary: str,
        document: DocumentRef | None,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """陈述、申辩 (or their waiver, which waives the hearing too) after the notice."""
        track = self._track(respondent, "record_statement")
        refuse_personal_data_in_text("/summary", summary)
        check_business_date("/received_on", received_on, latest, not_before=("notified_on", track.notified_on))
        if kind == "waiver" and track.state != "notified":
            raise IllegalTransition(
                "record_statement", track.state, track.allowed, why="a hearing was requested: it cannot be waived here"
            )
        self.trigger_event(
            self.StatementRecorded,
            respondent=respondent,
            kind=kind,
            received_on=received_on.isoformat(),
            summary=summary,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def request_hearing(
        self, *, respondent: int, requested_on: date, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """听证申请: only with the hearing right, within the catalogue's request period."""
        track = self._track(respondent, "request_hearing")
        check_business_date("/requested_on", requested_on, latest, not_before=("notified_on", track.notified_on))
        if not track.hearing_right or track.hearing_request_until is None:
            raise RuleViolation(
                "/respondent", "no-hearing-right", "the intended penalty is not a major decision: no hearing right"
            )
        if track.waived:
            raise RuleViolation("/respondent", "hearing-waived", "the respondent waived the hearing")
        if requested_on > date.fromisoformat(track.hearing_request_until):
            raise RuleViolation(
                "/requested_on",
                "hearing-request-late",
                f"the hearing had to be requested by {track.hearing_request_until} ({HEARING_REQUEST_RULE})",
            )
        self.trigger_event(
            self.HearingRequested,
            respondent=respondent,
            requested_on=requested_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def schedule_hearing(
        self,
        *,
        respondent: int,
        notified_on: date,
        hearing_on: date,
        place: str,
        chair: Reviewer,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """听证通知: time and place notified at least the catalogue's period before the
        hearing; chaired by someone who did not investigate the case."""
        track = self._track(respondent, "schedule_hearing")
        check_business_date(
            "/notified_on", notified_on, latest, not_before=("requested_on", track.hearing_requested_on)
        )
        refuse_personal_data_in_text("/place", place)
        if not notified_on < hearing_on <= notified_on + timedelta(days=HEARING_WITHIN_DAYS):
            raise RuleViolation(
                "/hearing_on",
                "hearing-date",
                f"the hearing must be after its notice, within {HEARING_WITHIN_DAYS} days",
            )
        if is_investigator(chair, self.investigators):
            raise RuleViolation("/chair", "chair-not-investigator", "the hearing's chair investigated the case")
        notice = catalogue.procedural_deadline(
            HEARING_NOTICE_RULE, hearing_on, region=self.agency["region_code"], step_date=notified_on
        )
        if notified_on > notice.due_on:
            raise RuleViolation(
                "/hearing_on",
                "hearing-notice-period",
                f"a hearing on {hearing_on} must be notified by {notice.due_on} ({HEARING_NOTICE_RULE})",
            )
        self.trigger_event(
            self.HearingScheduled,
            respondent=respondent,
            notified_on=notified_on.isoformat(),
            hearing_on=hearing_on.isoformat(),
            place=place,
            chair=chair,
            notice_deadline=recorded_deadline(f"hearing_notice_{respondent}", notice),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_hearing(
        self,
        *,
        respondent: int,
        held_on: date,
        chair: Reviewer,
        record: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """听证笔录: the hearing held on its day (or later), by the chair it was notified with."""
        track = self._track(respondent, "record_hearing")
        check_business_date("/held_on", held_on, latest, not_before=("hearing_on", track.hearing_on))
        if chair["name"].strip() != (track.hearing_chair or "").strip():
            raise RuleViolation("/chair", "same-chair", f"the hearing was notified with {track.hearing_chair} as chair")
        self.trigger_event(
            self.HearingHeld,
            respondent=respondent,
            held_on=held_on.isoformat(),
            chair=chair,
            record=record,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_penalty(
        self,
        *,
        respondent: int,
        decision_number: str,
        serial: int,
        decided_on: date,
        penalties: list[Penalty],
        discretion: Discretion,
        performance_how: str,
        reconsideration_organ: str,
        court: str,
        hearing_record_sha256: str | None,
        catalogue: Catalogue,
        cipher: FieldCipher,
        latest: date,
        command_key: str,
        command_fingerprint: str,
        disclosure: DisclosureFacts | None = None,
    ) -> None:
        """行政处罚决定 for one respondent, under the number the agency's register assigned.

        Refused: before the prior notice, inside its statement (or hearing request)
        period unless waived; after a hearing request until the hearing is held, and then
        not citing its record; heavier than notified (Art. 45 after a statement or
        defence); a major decision (the catalogue's thresholds, a hearing held, a complex
        case) without a passed legal review after the hearing, or without a collective
        discussion after that review."""
        track = self._track(respondent, "decide_penalty")
        validate_penalties(penalties)
        refuse_personal_data_in_text("/discretion/benchmark", discretion["benchmark"])
        refuse_personal_data_in_text("/performance", performance_how)
        check_disclosure(disclosure, decided_on)
        region = self.agency["region_code"]
        previous = track.last_step_on()
        check_business_date("/decided_on", decided_on, latest, not_before=previous)
        check_number(decision_number, self.agency, decided_on)
        if track.state == "notified" and not track.waived:
            assert track.statement_until is not None
            if decided_on <= date.fromisoformat(track.statement_until):
                raise RuleViolation(
                    "/decided_on",
                    "statement-period-running",
                    f"respondent {respondent} may state and defend until {track.statement_until}"
                    f" ({STATEMENT_WINDOW_RULE})",
                )
            if track.hearing_request_until and decided_on <= date.fromisoformat(track.hearing_request_until):
                raise RuleViolation(
                    "/decided_on",
                    "hearing-request-period-running",
                    f"respondent {respondent} may request a hearing until {track.hearing_request_until}",
                )
        hearing_record = track.hearing_record if track.state == "heard" else None
        if hearing_record is not None and hearing_record_sha256 != hearing_record["sha256"]:
            raise RuleViolation(
                "/hearing_record_sha256",
                "cite-hearing-record",
                f"the decision must rest on the hearing record {hearing_record['title']}"
                f" (sha256 {hearing_record['sha256']})",
            )
        assert track.intended is not None
        heavier = heavier_than(penalties, track.intended)
        if heavier and track.defended:
            raise RuleViolation(
                "/penalties",
                "no-heavier-after-defence",
                f"no heavier penalty than notified after a statement or defence ({heavier}; 行政处罚法 Art. 45)",
            )
        if heavier:
            raise RuleViolation("/penalties", "heavier-than-notified", f"{heavier}: serve a new prior notice first")
        major = (
            major_because(track.kind, penalties, catalogue, decided_on, region)
            or ("a hearing was held" if hearing_record else None)
            or ("the case is complex" if self.complex_case else None)
        )
        if major:
            self._require_gates(major, track)
        not_before = max(
            d for d in (self.filed_on, (self.review or {}).get("on"), (self.discussion or {}).get("on")) if d
        )
        check_business_date("/decided_on", decided_on, latest, not_before=("the review or discussion", not_before))
        self.trigger_event(
            self.PenaltyDecided,
            decision_number=decision_number,
            decided_on=decided_on.isoformat(),
            penalties=penalties,
            fine_total_yuan=fine_total(penalties),
            agency=self.agency,
            party=track.party,
            party_is_minor=party_is_minor(track.party, decided_on, cipher),
            violation_summary=self.violation_summary,
            legal_basis=self.legal_basis,
            respondent=respondent,
            serial=serial,
            procedure=self.procedure,
            discretion=discretion,
            performance=performance(performance_how, catalogue, decided_on, region),
            remedies=remedies(reconsideration_organ, court, catalogue, decided_on, region),
            hearing_record=hearing_record,
            major_because=major,
            disclosure=disclosure,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def require_decidable(self, respondent: int) -> None:
        """Refuses (409) a decision the respondent's state does not allow, before a number is taken."""
        self._track(respondent, "decide_penalty")

    def _require_gates(self, major: str, track: Track) -> None:
        """A major decision: a passed legal review (after the hearing, if one was held),
        then a collective discussion after that review."""
        review = self.review
        if review is None or review["outcome"] != "passed" or (track.heard_at and review["at"] < track.heard_at):
            after = " after the hearing" if track.heard_at else ""
            raise RuleViolation(
                "/respondent", "legal-review-required", f"{major}: a passed legal review{after} is required first"
            )
        if self.discussion is None or self.discussion["at"] < review["at"]:
            raise RuleViolation(
                "/respondent",
                "collective-discussion-required",
                f"{major}: a collective discussion after the legal review is required first",
            )

    def not_penalise(
        self,
        *,
        respondent: int,
        decided_on: date,
        ground: NoPenaltyGround,
        list_item: str | None,
        reason: str,
        withheld_because: WithheldBecause | None,
        catalogue: Catalogue,
        cipher: FieldCipher,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """不予处罚决定 (行政处罚法 Art. 33, 40): 首违不罚 only for an item on the
        catalogue's no-penalty list in force (从旧兼从轻 between the violation and the decision)."""
        track = self._track(respondent, "not_penalise")
        check_business_date(
            "/decided_on", decided_on, latest, not_before=track.last_step_on() or ("filed_on", self.filed_on)
        )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "a no-penalty decision must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        list_rule = None
        if ground == "first_offence":
            applied = catalogue.substantive(
                FIRST_OFFENCE_LIST_RULE,
                date.fromisoformat(self.violation_date),
                decided_on,
                region=self.agency["region_code"],
            )
            listed = applied.value.codes if isinstance(applied.value, Codes) else {}
            if list_item not in listed:
                raise RuleViolation(
                    "/list_item",
                    "first-offence-list",
                    f"not on the no-penalty list {applied.rule_id} v{applied.rule_version}"
                    f" ({', '.join(sorted(listed))})",
                )
            list_rule = f"{applied.rule_id} v{applied.rule_version}"
        elif list_item is not None:
            raise RuleViolation(
                "/list_item", "list-item-for-first-offence", "a list item goes with ground 'first_offence'"
            )
        self.trigger_event(
            self.NotPenalised,
            respondent=respondent,
            decided_on=decided_on.isoformat(),
            ground=ground,
            list_item=list_item,
            list_rule=list_rule,
            reason=reason,
            agency=self.agency,
            party=track.party,
            party_is_minor=party_is_minor(track.party, decided_on, cipher),
            violation_summary=self.violation_summary,
            legal_basis=self.legal_basis,
            withheld_because=withheld_because,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
