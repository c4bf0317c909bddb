"""Criminal referral (行刑衔接): an enforcement agency refers a case with a suspected crime
to the public security organ (公安机关), with a copy to the procuratorate (人民检察院),
and follows it to its criminal outcome or back (shared/DOMAIN.md §4).

The steps, each an event with its period from the rules catalogue (rules/referral.yaml):

    reported ──head approves──> approved ──dispatch (24 h)──> dispatched ──police receive──> received
       │ head refuses: refused, returned                                                        │
       │                                           police decide within 3 days of receipt ──────┤
       │      filed <────────────────────────────────────────────────────────────────────────────┤
       │        │ hand-over of seized items (3 days) ─> handed_over          not_filed <────────┘
       │        │ criminal outcomes (detained, arrested, prosecuted, judged; │ reconsideration (3 + 3 days)
       │        │ not prosecuted or exempted: returned)                      │ procuratorate's filing supervision:
       │        └────────────────────────────────────────────────────────────┤ notice to file (police file in 15 days)
       │                                                                     │ the agency takes the case back: returned

A step taken after its period is recorded, marked ``late`` (the law's period is a duty of
the organ that owes it, not a bar); only the agency's reconsideration request, a right
that lapses, is refused after its period. Reverse referral (反向衔接): ``referral.returned.v1``
says the case comes back to the agency, with the reason and whether an administrative
penalty is still due; the case service resumes the case from it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from typing_extensions import TypedDict

from services.common import event_types
from services.common import officers as common_officers
from services.common.deadlines import (
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
    recorded_deadline,
)
from services.common.identifiers import is_valid_uscc, refuse_personal_identifiers
from services.common.officers import require_two_officers
from services.common.rules import Catalogue, NoRuleInForce, Offence, UnknownRule
from services.infra.errors import IllegalInCurrentState, NotYetKnown, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands

ReceivingOrgan = Literal["public_security", "procuratorate"]
HeadOutcome = Literal["approved", "refused"]
FilingOutcome = Literal["filed", "not_filed"]
ReconsiderationOutcome = Literal["filed", "upheld"]
SupervisionOutcome = Literal["notice_to_file", "no_grounds"]
# 刑事拘留, 逮捕, 起诉, 不起诉, 判决 (有罪), 免予刑事处罚.
OutcomeKind = Literal["detained", "arrested", "prosecuted", "not_prosecuted", "judged", "exempted"]
ReturnReason = Literal["head_refused", "not_filed", "not_prosecuted", "exempted"]
# The file (移送材料): 移送书, 调查报告, 涉案物品清单, 检验鉴定报告, 其他证据.
FileKind = Literal[
    "referral_letter", "investigation_report", "seized_items_inventory", "appraisal_report", "other_evidence"
]
REQUIRED_FILE_KINDS: tuple[FileKind, ...] = ("referral_letter", "investigation_report")
Party = Literal["agency", "agency_head", "public_security", "procuratorate"]

# The deadlines of a referral, each the catalogue's rule (rules/referral.yaml) chosen by
# the date of the step that starts it, and its name among the referral's deadlines.
HEAD_DECISION_RULE, HEAD_DECISION_DEADLINE = "referral.head_decision", "head_decision"
DISPATCH_RULE, DISPATCH_DEADLINE = "referral.dispatch", "dispatch"
POLICE_FILING_DECISION_RULE = "referral.police_filing_decision"
FILING_DECISION_DEADLINE = "police_filing_decision"
RECONSIDERATION_REQUEST_RULE, RECONSIDERATION_REQUEST_DEADLINE = (
    "referral.reconsideration_request",
    "reconsideration_request",
)
RECONSIDERATION_ANSWER_RULE, RECONSIDERATION_ANSWER_DEADLINE = (
    "referral.reconsideration_answer",
    "reconsideration_answer",
)
FILING_AFTER_NOTICE_RULE, FILING_AFTER_NOTICE_DEADLINE = (
    "referral.filing_after_procuratorate_notice",
    "filing_after_notice",
)
HANDOVER_RULE, HANDOVER_DEADLINE = "referral.handover", "handover"
OFFENCE_RULE_PREFIX = "offence."
REFERRAL_ID_NAMESPACE = uuid.UUID("a1c7e2f0-5b9d-5c3e-8f41-7d2b6e9a0c33")

# What each step allows next, and who owes it (the tracker's "who owes the next step").
ALLOWED_ACTIONS: dict[str, tuple[str, ...]] = {
    "reported": ("decide",),
    "approved": ("dispatch", "record_paid_fine"),
    "refused": (),
    "dispatched": ("receive", "record_paid_fine"),
    "received": ("decide_filing", "record_paid_fine"),
    "not_filed": ("request_reconsideration", "supervise", "take_back", "record_paid_fine"),
    "reconsideration_requested": ("answer_reconsideration", "record_paid_fine"),
    "notice_to_file": ("decide_filing", "record_paid_fine"),
    "filed": ("hand_over", "record_outcome", "record_paid_fine"),
    "handed_over": ("record_outcome", "record_paid_fine"),
    "judged": ("record_paid_fine",),
    "returned": ("record_paid_fine",),
}
OWED_BY: dict[str, Party | None] = {
    "reported": "agency_head",
    "approved": "agency",
    "refused": None,
    "dispatched": "public_security",
    "received": "public_security",
    "not_filed": "agency",
    "reconsideration_requested": "public_security",
    "notice_to_file": "public_security",
    "filed": "agency",
    "handed_over": "public_security",
    "judged": None,
    "returned": None,
}


class Officer(common_officers.Officer):
    """执法人员 preparing the referral, with the enforcement certificate number."""


class Person(TypedDict):
    """Who decided or acted for an organ (负责人, 承办人): a name and, optionally, a title."""

    name: str
    title: str | None


class FileItem(TypedDict):
    """One document of the referral file, referenced by the SHA-256 of its content (the
    bytes stay in the agency's document system)."""

    kind: FileKind
    title: str
    sha256: str


class SeizedItem(TypedDict):
    """涉案物品: what is handed over, and the content hash of its inventory entry or photo."""

    description: str
    quantity: str
    sha256: str | None


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


class SuspectedOffence(TypedDict):
    """The offence a referral names, as the catalogue has it on the day of the report."""

    rule_id: str
    rule_version: int
    offence: str
    statute: str
    article: str | None


class UnknownCase(NotYetKnown):
    """A case the referral service has not learnt of (yet), or that the caller may not see:
    409 with Retry-After, since a case filed or decided a moment ago is learnt from the
    case service's events shortly."""

    kind = "unknown-case"
    title = "Case not known yet"

    def __init__(self, case_id: Any) -> None:
        super().__init__(
            f"case {case_id} is not known to the referral service yet; it learns cases from the case "
            "service's events, so a case filed moments ago may need a second: retry after Retry-After",
            errors=[{"pointer": "/case_id", "in": "body", "rule": "known-case", "detail": "not known (yet)"}],
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


class StepNotAllowed(IllegalInCurrentState):
    """A step the referral's current step does not allow (409 with the state, the actions
    allowed from it and who owes the next one)."""

    def __init__(self, action: str, status: str, why: str = "") -> None:
        super().__init__(
            f"'{action}' is not allowed while the referral is '{status}'{why}",
            current_state=status,
            allowed_actions=list(ALLOWED_ACTIONS[status]),
            owed_by=OWED_BY[status],
        )


def referral_id_for(case_id: str, receiving_organ: str) -> uuid.UUID:
    """One referral per case and receiving organ, so a retried referral cannot duplicate."""
    return uuid.uuid5(REFERRAL_ID_NAMESPACE, f"{case_id}:{receiving_organ}")


def validate_addressee(addressee: Addressee) -> None:
    for field, code in (("organ_code", addressee["organ_code"]), ("copy_to_code", addressee["copy_to_code"])):
        if code is not None and not is_valid_uscc(code):
            raise RuleViolation(f"/{field}", "uscc", "not a valid unified social credit code (check character)")


def named_offence(catalogue: Catalogue, rule_id: str, on: date, region: str) -> SuspectedOffence:
    """The offence ``rule_id`` names in the catalogue on ``on`` (the report's date), or a
    refusal naming the field: a referral names an offence of DOMAIN.md §4 in force then."""
    problem = None
    if not rule_id.startswith(OFFENCE_RULE_PREFIX):
        problem = f"{rule_id} is not an offence of the catalogue (rules/offences.yaml: offence.*)"
    else:
        try:
            applied = catalogue.procedural(rule_id, on, region)
        except UnknownRule:
            problem = f"no offence {rule_id} in the catalogue (rules/offences.yaml)"
        except NoRuleInForce:
            problem = f"offence {rule_id} is not in force on {on}"
        else:
            if isinstance(applied.value, Offence):
                return SuspectedOffence(
                    rule_id=rule_id,
                    rule_version=applied.rule_version,
                    offence=applied.value.offence,
                    statute=applied.statute,
                    article=applied.article,
                )
            problem = f"{rule_id} is a threshold, not an offence"
    raise RuleViolation("/offence", "known-offence", problem)


def _late(on: date, deadline: RecordedDeadline | None) -> bool:
    return deadline is not None and on.isoformat() > deadline["due_on"]


class ReferralStep(TracedAggregate.Event):
    """A step of a referral: every step says the case and the organs it concerns (so a
    subscriber at the police or the procuratorate receives it), the deadlines it opens,
    and remembers the command's Idempotency-Key."""

    case_id: str
    organ_code: str
    copy_to_code: str | None
    # The step the referral is at after this one, and who owes the next.
    status: str
    owed_by: str | None
    # The deadlines this step meets (closes), and those it starts, each with its rule.
    closed_deadlines: list[str]
    deadlines: list[RecordedDeadline]
    command_key: str
    command_fingerprint: str

    def apply(self, referral: Referral) -> None:
        referral.remember(self.command_key, self.command_fingerprint)
        referral.status = self.status
        for name in self.closed_deadlines:
            referral.close_deadline(name)
        for deadline in self.deadlines:
            referral.add_deadline(deadline)
        referral.owed_since = self.timestamp.isoformat()
        self.advance(referral)

    def advance(self, referral: Referral) -> None:
        """What else the step changes (flags, dates)."""


class Referral(TracedAggregate, RemembersCommands, KeepsDeadlines):
    """移送: one referral of one case to one receiving organ, from the report to the
    criminal outcome or the case's return."""

    deadline_service = "referral"

    class Referred(TracedAggregate.Created):
        """A referral recorded in one step before the lifecycle (kept for the events stored
        then): the referral date stands for the police's receipt."""

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

        def apply(self, referral: Referral) -> None:
            referral.status = "received"
            referral.referred_on = self.referred_on
            referral.received_on = self.referred_on

    class Reported(TracedAggregate.Created):
        """移送报告: a team of two officers or more reports a suspected crime to the agency
        head, naming the offence and the organ the case would go to; the head's decision
        is due within its period."""

        cloud_type = event_types.REFERRAL_REPORTED
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
        offence: SuspectedOffence
        suspected_offence: str
        persons_referred: int
        reason: str
        officers: list[Officer]
        materials: list[str]
        reported_on: str
        deadlines: list[RecordedDeadline]
        command_key: str
        command_fingerprint: str

        def apply(self, referral: Referral) -> None:
            referral.status = "reported"
            referral.reported_on = self.reported_on
            referral.owed_since = self.timestamp.isoformat()

    class HeadDecided(ReferralStep):
        """负责人 approved or refused the referral (a refusal with its reason); ``late``
        when decided after the head-decision period."""

        cloud_type = event_types.REFERRAL_HEAD_DECIDED
        outcome: HeadOutcome
        reason: str | None
        head: Person
        decided_at: str
        late: bool
        # The instant the 24-hour dispatch is due (approved only).
        dispatch_due_at: str | None

        def advance(self, referral: Referral) -> None:
            referral.dispatch_due_at = self.dispatch_due_at

    class Dispatched(ReferralStep):
        """移送: the file went to the public security organ, a copy to the procuratorate;
        ``late`` when after the 24 hours."""

        cloud_type = event_types.REFERRAL_DISPATCHED
        receiving_organ: ReceivingOrgan
        organ_name: str
        dispatched_at: str
        file: list[FileItem]
        late: bool

        def advance(self, referral: Referral) -> None:
            referral.referred_on = self.dispatched_at[:10]

    class Received(ReferralStep):
        """The police received the referral (接受移送): their filing decision is due."""

        cloud_type = event_types.REFERRAL_RECEIVED
        received_on: str
        received_by: Person

        def advance(self, referral: Referral) -> None:
            referral.received_on = self.received_on

    class FilingDecided(ReferralStep):
        """The police's decision to file (立案) or not (不予立案, with the reason), with
        notice to the agency and the procuratorate; ``late`` when after its period (the
        filing decision's, or after a notice to file, the 15 days)."""

        cloud_type = event_types.REFERRAL_FILING_DECIDED
        outcome: FilingOutcome
        reason: str | None
        decided_on: str
        police_case_number: str | None
        after_notice_to_file: bool
        late: bool

        def advance(self, referral: Referral) -> None:
            referral.declined_on = self.decided_on if self.outcome == "not_filed" else None

    class ReconsiderationRequested(ReferralStep):
        """The agency asks the police to reconsider not filing (提请复议)."""

        cloud_type = event_types.REFERRAL_RECONSIDERATION_REQUESTED
        requested_on: str
        reason: str

        def advance(self, referral: Referral) -> None:
            referral.reconsidered = True

    class ReconsiderationAnswered(ReferralStep):
        """The police's answer to the reconsideration: they file, or uphold not filing."""

        cloud_type = event_types.REFERRAL_RECONSIDERATION_ANSWERED
        outcome: ReconsiderationOutcome
        reason: str | None
        answered_on: str
        late: bool

    class Supervised(ReferralStep):
        """立案监督: the procuratorate, on the agency's request or its own, notifies the
        police to file (they must within 15 days) or finds no grounds."""

        cloud_type = event_types.REFERRAL_SUPERVISED
        outcome: SupervisionOutcome
        reason: str
        supervised_on: str

        def advance(self, referral: Referral) -> None:
            referral.supervised = True

    class HandedOver(ReferralStep):
        """After filing, the agency handed the seized items and materials over (移交涉案物品);
        ``late`` when after its period."""

        cloud_type = event_types.REFERRAL_HANDED_OVER
        handed_over_on: str
        items: list[SeizedItem]
        received_by: Person
        late: bool

    class OutcomeRecorded(ReferralStep):
        """A criminal outcome as it becomes known: detained, arrested, prosecuted or not,
        judged, exempted from criminal punishment."""

        cloud_type = event_types.REFERRAL_OUTCOME_RECORDED
        outcome: OutcomeKind
        on: str
        note: str | None
        persons: int

        def advance(self, referral: Referral) -> None:
            referral.outcomes.append(self.outcome)

    class Returned(ReferralStep):
        """反向衔接: the case comes back to the agency (the head refused the referral, the
        police do not file and the agency takes it back, the procuratorate does not
        prosecute, or the court exempts from criminal punishment); the case service resumes
        it, and an administrative penalty is still due unless ``penalty_due`` is false."""

        cloud_type = event_types.REFERRAL_RETURNED
        reason: ReturnReason
        note: str | None
        returned_on: str
        penalty_due: bool

        def advance(self, referral: Referral) -> None:
            referral.returned_reason = self.reason

    class PaidFineRecorded(ReferralStep):
        """A fine of the case already paid, recorded for crediting against a criminal fine
        (罚款折抵罚金)."""

        cloud_type = event_types.REFERRAL_PAID_FINE_RECORDED
        decision_number: str
        amount_yuan: int
        paid_on: str

        def advance(self, referral: Referral) -> None:
            referral.paid_fines_yuan += self.amount_yuan

    class DeadlineApproaching(DeadlineApproachingEvent):
        """A referral's deadline (the head's decision, the dispatch, the police's filing
        decision, ...) is within the lead (recorded once per due date)."""

        cloud_type = event_types.REFERRAL_DEADLINE_APPROACHING
        case_id: str
        organ_code: str
        copy_to_code: str | None

    class DeadlineMissed(DeadlineMissedEvent):
        """A referral's deadline passed with its step not taken (recorded once per due date)."""

        cloud_type = event_types.REFERRAL_DEADLINE_MISSED
        case_id: str
        organ_code: str
        copy_to_code: str | None

    def __init__(
        self,
        case_id: str,
        agency_code: str,
        region_code: str,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        organ_code: str,
        copy_to_code: str | None,
        command_fingerprint: str,
        deadlines: list[RecordedDeadline],
        command_key: str = "",  # referrals recorded before keys were honoured have none
    ) -> None:
        self.case_id = case_id
        self.agency_code = agency_code
        self.region_code = region_code
        self.receiving_organ = receiving_organ
        self.organ_name = organ_name
        self.organ_code = organ_code
        self.copy_to_code = copy_to_code
        self.deadlines = {}
        for deadline in deadlines:
            self.add_deadline(deadline)
        self.status = "reported"
        self.reported_on: str | None = None
        self.referred_on: str | None = None
        self.received_on: str | None = None
        self.declined_on: str | None = None
        self.dispatch_due_at: str | None = None
        self.owed_since: str | None = None
        self.reconsidered = False
        self.supervised = False
        self.outcomes: list[str] = []
        self.paid_fines_yuan = 0
        self.returned_reason: str | None = None
        self.command_fingerprint = command_fingerprint
        self.remember(command_key, command_fingerprint)

    # -- who may act, and what is allowed ---------------------------------------------------

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        return ALLOWED_ACTIONS[self.status]

    @property
    def owed_by(self) -> Party | None:
        return OWED_BY[self.status]

    def _require(self, action: str) -> None:
        if action not in self.allowed_actions:
            raise StepNotAllowed(action, self.status)

    def deadline_owner(self) -> tuple[str, str]:
        return self.agency_code, self.region_code

    def deadline_event_data(self) -> dict[str, Any]:
        # The organs too, so that the police hear of a deadline of theirs (notification).
        return {"case_id": self.case_id, "organ_code": self.organ_code, "copy_to_code": self.copy_to_code}

    def _open(self, name: str) -> RecordedDeadline | None:
        state = self.deadlines.get(name)
        return state["deadline"] if state and state["open"] else None

    def _step(
        self,
        event_class: type[Any],
        deadlines: list[RecordedDeadline],
        *,
        status: str | None = None,
        closes: tuple[str, ...] = (),
        **fields: Any,
    ) -> None:
        """Record a step: the referral moves to ``status`` (default: stays), the open
        deadlines among ``closes`` are met, ``deadlines`` start."""
        status = status or self.status
        self.trigger_event(
            event_class,
            case_id=self.case_id,
            organ_code=self.organ_code,
            copy_to_code=self.copy_to_code,
            status=status,
            owed_by=OWED_BY[status],
            closed_deadlines=[name for name in closes if self._open(name)],
            deadlines=deadlines,
            **fields,
        )

    def answer_retry(self, fingerprint: str) -> None:
        """The same referral again (same request, with or without a key) is answered by
        this one; a different referral of the case to the same organ is refused."""
        if fingerprint != self.command_fingerprint:
            raise AlreadyReferred(self.id)

    # -- the steps ----------------------------------------------------------------------

    @classmethod
    def report(
        cls,
        *,
        case: KnownCase,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        addressee: Addressee,
        offence: str,
        suspected_offence: str,
        persons_referred: int,
        reason: str,
        officers: list[Officer],
        materials: list[str],
        reported_on: date,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> Referral:
        """移送报告 by two officers or more: the head's decision is due within its period
        from the day after the report."""
        require_two_officers(officers, "prepare a referral")
        validate_addressee(addressee)
        refuse_personal_identifiers(
            [
                ("/organ_name", organ_name),
                ("/suspected_offence", suspected_offence),
                ("/reason", reason),
                *((f"/materials/{index}", material) for index, material in enumerate(materials)),
            ]
        )
        offence_named = named_offence(catalogue, offence, reported_on, case["region_code"])
        head_decision = recorded_deadline(
            HEAD_DECISION_DEADLINE,
            catalogue.procedural_deadline(HEAD_DECISION_RULE, reported_on, region=case["region_code"]),
        )
        referral: Referral = cls._create(
            cls.Reported,
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
            offence=offence_named,
            suspected_offence=suspected_offence,
            persons_referred=persons_referred,
            reason=reason,
            officers=officers,
            materials=materials,
            reported_on=reported_on.isoformat(),
            deadlines=[head_decision],
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        return referral

    def decide(
        self,
        *,
        outcome: HeadOutcome,
        reason: str | None,
        head: Person,
        decided_at: datetime,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """负责人 approves (the dispatch is then due within 24 hours) or refuses with a
        reason (the case is returned to the agency's procedure)."""
        self._require("decide")
        if outcome == "refused" and not (reason or "").strip():
            raise RuleViolation("/reason", "reason-required", "a refusal to refer must give its reason")
        late = _late(decided_at.date(), self._open(HEAD_DECISION_DEADLINE))
        recorded = {"command_key": command_key, "command_fingerprint": command_fingerprint}
        if outcome == "approved":
            dispatch = catalogue.procedural_deadline(DISPATCH_RULE, decided_at, region=self.region_code)
            due_at = dispatch.due_at.isoformat() if dispatch.due_at else None
            opened = [recorded_deadline(DISPATCH_DEADLINE, dispatch)]
        else:
            due_at, opened = None, []
        self._step(
            self.HeadDecided,
            opened,
            status="approved" if outcome == "approved" else "refused",
            closes=(HEAD_DECISION_DEADLINE,),
            outcome=outcome,
            reason=reason,
            head=head,
            decided_at=decided_at.isoformat(),
            late=late,
            dispatch_due_at=due_at,
            **recorded,
        )
        if outcome == "refused":
            self._return_case(
                reason="head_refused",
                note=reason,
                returned_on=decided_at.date().isoformat(),
                penalty_due=True,
                command_key="",
                command_fingerprint=command_fingerprint,
            )

    def dispatch(
        self,
        *,
        dispatched_at: datetime,
        file: list[FileItem],
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """移送 within 24 hours of the approval: the typed file, each document by content
        hash, with a copy to the procuratorate."""
        self._require("dispatch")
        kinds = {item["kind"] for item in file}
        missing = [kind for kind in REQUIRED_FILE_KINDS if kind not in kinds]
        if missing:
            raise RuleViolation("/file", "referral-file", f"the file must contain: {', '.join(missing)}")
        if self.copy_to_code is None:
            raise RuleViolation(
                "/copy_to_code",
                "procuratorate-copy",
                "a referral is dispatched with a copy to the procuratorate: the report named none",
            )
        late = self.dispatch_due_at is not None and dispatched_at > datetime.fromisoformat(self.dispatch_due_at)
        self._step(
            self.Dispatched,
            [],
            status="dispatched",
            closes=(DISPATCH_DEADLINE,),
            receiving_organ=self.receiving_organ,
            organ_name=self.organ_name,
            dispatched_at=dispatched_at.isoformat(),
            file=file,
            late=late,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def receive(
        self,
        *,
        received_on: date,
        received_by: Person,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """接受移送: the police's filing decision is due within its period."""
        self._require("receive")
        filing = recorded_deadline(
            FILING_DECISION_DEADLINE,
            catalogue.procedural_deadline(POLICE_FILING_DECISION_RULE, received_on, region=self.region_code),
        )
        self._step(
            self.Received,
            [filing],
            status="received",
            received_on=received_on.isoformat(),
            received_by=received_by,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_filing(
        self,
        *,
        outcome: FilingOutcome,
        reason: str | None,
        decided_on: date,
        police_case_number: str | None,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """立案 or 不予立案 (with a reason). After the procuratorate's notice to file, the
        police file: not filing is refused."""
        self._require("decide_filing")
        after_notice = self.status == "notice_to_file"
        if after_notice and outcome != "filed":
            raise RuleViolation(
                "/outcome", "notice-to-file", "after the procuratorate's notice to file the police must file"
            )
        if outcome == "not_filed" and not (reason or "").strip():
            raise RuleViolation("/reason", "reason-required", "a decision not to file must give its reason")
        due = self._open(FILING_AFTER_NOTICE_DEADLINE if after_notice else FILING_DECISION_DEADLINE)
        self._step(
            self.FilingDecided,
            self._after_decision(outcome, decided_on, catalogue),
            status="filed" if outcome == "filed" else "not_filed",
            closes=(FILING_DECISION_DEADLINE, FILING_AFTER_NOTICE_DEADLINE),
            outcome=outcome,
            reason=reason,
            decided_on=decided_on.isoformat(),
            police_case_number=police_case_number,
            after_notice_to_file=after_notice,
            late=_late(decided_on, due),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def _after_decision(self, outcome: str, on: date, catalogue: Catalogue) -> list[RecordedDeadline]:
        """Filed: the hand-over is due; not filed: the agency's reconsideration request."""
        if outcome == "filed":
            rule, name = HANDOVER_RULE, HANDOVER_DEADLINE
        elif outcome == "not_filed" and not self.reconsidered:
            rule, name = RECONSIDERATION_REQUEST_RULE, RECONSIDERATION_REQUEST_DEADLINE
        else:
            return []
        return [recorded_deadline(name, catalogue.procedural_deadline(rule, on, region=self.region_code))]

    def request_reconsideration(
        self, *, requested_on: date, reason: str, catalogue: Catalogue, command_key: str, command_fingerprint: str
    ) -> None:
        """提请复议 of a decision not to file, once, within its period (a right that
        lapses: a late request is refused); the police's answer is due within its period."""
        self._require("request_reconsideration")
        if self.reconsidered:
            raise StepNotAllowed("request_reconsideration", self.status, ": the police answered a reconsideration")
        due = self._open(RECONSIDERATION_REQUEST_DEADLINE)
        if due is None or _late(requested_on, due):
            raise RuleViolation(
                "/requested_on",
                "reconsideration-period",
                f"reconsideration may be requested until {due['due_on'] if due else self.declined_on}",
            )
        answer = recorded_deadline(
            RECONSIDERATION_ANSWER_DEADLINE,
            catalogue.procedural_deadline(RECONSIDERATION_ANSWER_RULE, requested_on, region=self.region_code),
        )
        self._step(
            self.ReconsiderationRequested,
            [answer],
            status="reconsideration_requested",
            closes=(RECONSIDERATION_REQUEST_DEADLINE,),
            requested_on=requested_on.isoformat(),
            reason=reason,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def answer_reconsideration(
        self,
        *,
        outcome: ReconsiderationOutcome,
        reason: str | None,
        answered_on: date,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        self._require("answer_reconsideration")
        if outcome == "upheld" and not (reason or "").strip():
            raise RuleViolation("/reason", "reason-required", "upholding not filing must give its reason")
        self._step(
            self.ReconsiderationAnswered,
            self._after_decision("filed" if outcome == "filed" else "upheld", answered_on, catalogue),
            status="filed" if outcome == "filed" else "not_filed",
            closes=(RECONSIDERATION_ANSWER_DEADLINE,),
            outcome=outcome,
            reason=reason,
            answered_on=answered_on.isoformat(),
            late=_late(answered_on, self._open(RECONSIDERATION_ANSWER_DEADLINE)),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def supervise(
        self,
        *,
        outcome: SupervisionOutcome,
        reason: str,
        supervised_on: date,
        catalogue: Catalogue,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """立案监督 of a decision not to file, once; a notice to file makes the police's
        filing due within 15 days."""
        self._require("supervise")
        if self.supervised:
            raise StepNotAllowed("supervise", self.status, ": the procuratorate supervised it already")
        opened = []
        if outcome == "notice_to_file":
            opened = [
                recorded_deadline(
                    FILING_AFTER_NOTICE_DEADLINE,
                    catalogue.procedural_deadline(FILING_AFTER_NOTICE_RULE, supervised_on, region=self.region_code),
                )
            ]
        self._step(
            self.Supervised,
            opened,
            status="notice_to_file" if outcome == "notice_to_file" else "not_filed",
            closes=(RECONSIDERATION_REQUEST_DEADLINE,),
            outcome=outcome,
            reason=reason,
            supervised_on=supervised_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def hand_over(
        self,
        *,
        handed_over_on: date,
        items: list[SeizedItem],
        received_by: Person,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """移交涉案物品 once the police have filed."""
        self._require("hand_over")
        self._step(
            self.HandedOver,
            [],
            status="handed_over",
            closes=(HANDOVER_DEADLINE,),
            handed_over_on=handed_over_on.isoformat(),
            items=items,
            received_by=received_by,
            late=_late(handed_over_on, self._open(HANDOVER_DEADLINE)),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_outcome(
        self,
        *,
        outcome: OutcomeKind,
        on: date,
        note: str | None,
        persons: int,
        penalty_due: bool,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """A criminal outcome once filed. Not prosecuted, or exempted from criminal
        punishment: the case comes back to the agency (反向衔接)."""
        self._require("record_outcome")
        if outcome in self.outcomes:
            raise StepNotAllowed("record_outcome", self.status, f": '{outcome}' is recorded already")
        self._step(
            self.OutcomeRecorded,
            [],
            status="judged" if outcome == "judged" else None,
            outcome=outcome,
            on=on.isoformat(),
            note=note,
            persons=persons,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        if outcome in ("not_prosecuted", "exempted"):
            self._return_case(
                reason=outcome,
                note=note,
                returned_on=on.isoformat(),
                penalty_due=penalty_due,
                command_key="",
                command_fingerprint=command_fingerprint,
            )

    def take_back(
        self, *, returned_on: date, note: str | None, penalty_due: bool, command_key: str, command_fingerprint: str
    ) -> None:
        """The police do not file and the agency takes the case back (反向衔接)."""
        self._require("take_back")
        if self.status == "not_filed" and self._open(RECONSIDERATION_ANSWER_DEADLINE):
            raise StepNotAllowed("take_back", self.status, ": a reconsideration is pending")
        self._return_case(
            reason="not_filed",
            note=note,
            returned_on=returned_on.isoformat(),
            penalty_due=penalty_due,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def _return_case(self, *, reason: ReturnReason, **fields: Any) -> None:
        """反向衔接: every open deadline closes; the case service resumes the case."""
        self._step(self.Returned, [], status="returned", closes=tuple(self.deadlines), reason=reason, **fields)

    def record_paid_fine(
        self, *, decision_number: str, amount_yuan: int, paid_on: date, command_key: str, command_fingerprint: str
    ) -> None:
        """A fine already paid, for crediting against a criminal fine."""
        self._require("record_paid_fine")
        self._step(
            self.PaidFineRecorded,
            [],
            decision_number=decision_number,
            amount_yuan=amount_yuan,
            paid_on=paid_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
