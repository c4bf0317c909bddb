"""What every phase of a case shares: its state, the status it derives from its tracks, the
checks of what is allowed, and its deadlines (a deadline extended by the agency head)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from services.case.domain.checks import refuse_personal_data_in_text
from services.case.domain.tracks import (
    CASE_ACTIONS,
    OPEN_CASE,
    DeadlineNotOpen,
    IllegalTransition,
    Track,
    case_status,
    track_actions,
)
from services.case.domain.vocabulary import (
    DECISION_DEADLINE,
    Agency,
    Approver,
    DeadlineChange,
    Procedure,
    RecordedParty,
)
from services.common import event_types
from services.common.deadlines import (
    DeadlineApproachingEvent,
    DeadlineMissedEvent,
    KeepsDeadlines,
    RecordedDeadline,
)
from services.common.officers import Officer
from services.infra.errors import NotFound, RuleViolation
from services.infra.eventstore import TracedAggregate
from services.infra.idempotency import RemembersCommands


class CaseState(TracedAggregate, RemembersCommands, KeepsDeadlines):
    """The state of a case (行政处罚案件) and what every phase of it may ask of it."""

    if TYPE_CHECKING:
        # What a case knows, set by Filing.__init__ from the filing event and moved by the
        # phases' events (declared here for the type checker only: an annotation in the
        # class body would make the library generate an ``__init__`` from it).
        agency: Agency
        party: RecordedParty
        violation_summary: str
        violation_date: str
        legal_basis: str
        officers: list[Officer]
        filed_on: str
        decision_due: str
        complex_case: bool
        procedure: Procedure
        tracks: list[Track]
        investigators: list[Officer]  # everyone who investigated (a hearing's chair may not be one)
        evidence_count: int
        measures: dict[int, dict[str, Any]]
        review: dict[str, Any] | None
        discussion: dict[str, Any] | None
        ended_as: str | None
        open_referrals: list[str]  # referrals reported and not come back (行刑衔接)
        reported_on: str | None
        closed_on: str | None
        archived_on: str | None
        annotations: int
        status: str

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

        def apply(self, case: CaseState) -> None:
            case.deadlines[self.deadline["name"]]["deadline"] = self.deadline
            if self.deadline["name"] == DECISION_DEADLINE:
                case.decision_due = self.deadline["due_on"]
            case.remember(self.command_key, self.command_fingerprint)

    def settle_status(self) -> None:
        """The case's status from its tracks (module docstring)."""
        self.status = case_status([t.state for t in self.tracks], self.ended_as)
        if self.status in ("decided", "not_penalised", "referred", "dismissed"):
            self.close_deadline(DECISION_DEADLINE)  # the step is taken

    @property
    def decision_number(self) -> str | None:
        """The first respondent's decision number (the case's one number when it has one respondent)."""
        return self.tracks[0].decision_number

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        actions = CASE_ACTIONS[self.status]
        if not any("concluded_on" not in m for m in self.measures.values()):
            actions = tuple(a for a in actions if a != "conclude_measure")
        return actions

    def respondent_actions(self, track: Track) -> tuple[str, ...]:
        return track_actions(self.status, track.state)

    def _require(self, action: str) -> None:
        if action not in CASE_ACTIONS[self.status]:
            raise IllegalTransition(action, self.status, self.allowed_actions)

    def _track(self, number: int, action: str) -> Track:
        if not 1 <= number <= len(self.tracks):
            raise NotFound(f"the case has no respondent {number} (it has {len(self.tracks)})")
        track = self.tracks[number - 1]
        allowed = self.respondent_actions(track)
        if action not in allowed:
            state = track.state if allowed or self.status in OPEN_CASE else f"{track.state}, the case {self.status}"
            raise IllegalTransition(
                action, state, allowed, why=f"'{action}' is not allowed while respondent {number} is '{state}'"
            )
        return track

    def _last_step_on(self) -> str:
        days = [self.filed_on]
        for t in self.tracks:
            days += [d for d in (t.decided_on, t.served_on, t.court_applied_on, t.reminder_served_on) if d]
            days += [p["paid_on"] for p in t.payments]
            days += [r["decided_on"] for r in t.remedies if r.get("decided_on")]
        return max(days)

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
        if self.status in ("closed", "archived"):
            raise IllegalTransition("extend_deadline", self.status, self.allowed_actions)
        if name.startswith(("payment_", "court_application_")):
            raise RuleViolation(
                "/name",
                "not-extensible",
                f"'{name}' is the party's payment period (moved only by an approved deferral or instalments)"
                " or the statutory window of the court application (not extensible)",
            )
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
