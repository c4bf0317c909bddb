"""A respondent's track (一案双罚: each respondent is decided on its own) and which command
is allowed in which state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.case.domain.vocabulary import DocumentRef, Penalty, RecordedParty, SurchargeTerms
from services.infra.errors import IllegalInCurrentState

# Which command is allowed in which state: the single source for 409 answers (the case's
# own commands by its status, a respondent's by its track's state).
CASE_ACTIONS: dict[str, tuple[str, ...]] = {
    "filed": (
        "record_evidence",
        "record_inquiry",
        "take_measure",
        "record_legal_review",
        "record_collective_discussion",
        "dismiss",
    ),
    "decided": ("conclude_measure",),
    "not_penalised": ("conclude_measure",),
    "dismissed": ("conclude_measure",),
    "suspended": ("conclude_measure",),
}
CASE_ACTIONS["notified"] = tuple(a for a in CASE_ACTIONS["filed"] if a != "dismiss")
# After the decision (issue 12): a case whose every track concluded closes once every track
# ended (and no referral is open); a closed case is archived; after that only annotations.
CASE_ACTIONS["referred"] = ("conclude_measure",)
for _status in ("decided", "not_penalised", "referred", "dismissed"):
    CASE_ACTIONS[_status] = (*CASE_ACTIONS[_status], "close_case")
CASE_ACTIONS["closed"] = ("archive_case", "annotate")
CASE_ACTIONS["archived"] = ("annotate",)
MEASURE_ACTIONS = ("extend_measure", "conclude_measure")
# What a served track with an unpaid fine may do (remedies neither suspend the penalty).
UNPAID = ("record_payment", "arrange_payment", "file_remedy", "decide_remedy")
RESPONDENT_ACTIONS: dict[str, tuple[str, ...]] = {
    "investigating": ("serve_prior_notice", "not_penalise"),
    "notified": (
        "serve_prior_notice",
        "record_statement",
        "request_hearing",
        "decide_penalty",
        "not_penalise",
    ),
    "hearing_requested": ("record_statement", "schedule_hearing"),
    "hearing_scheduled": ("record_statement", "record_hearing"),
    "heard": ("record_statement", "decide_penalty", "not_penalise"),
    "decided": ("record_service_consent", "serve_decision"),
    "not_penalised": (),
    "served": (*UNPAID, "serve_reminder"),
    "reminded": (*UNPAID, "apply_to_court"),
    "enforcement_applied": ("record_payment", "record_court_ruling"),
    # Ended tracks (a remedy still pending may change or revoke a paid or enforced decision).
    "paid": ("file_remedy", "decide_remedy"),
    "performed": ("file_remedy", "decide_remedy"),
    "enforced": (),
    "enforcement_refused": (),
    "revoked": (),
    "referred": (),
}
# A track has ended (履行完毕、强制执行、不予处罚、撤销): the case may close.
ENDED_TRACKS = frozenset(
    {"not_penalised", "paid", "performed", "enforced", "enforcement_refused", "revoked", "referred"}
)
# A track from its decision on: it moves while the case is decided (or still open for others).
AFTER_DECISION = frozenset(
    {
        "decided",
        "served",
        "reminded",
        "enforcement_applied",
        "paid",
        "performed",
        "enforced",
        "enforcement_refused",
        "revoked",
    }
)
# While the case is suspended, dismissed or closed no respondent's track moves.
OPEN_CASE = frozenset({"filed", "notified"})


class DeadlineNotOpen(IllegalInCurrentState):
    """An extension of a deadline the case does not have open."""

    def __init__(self, name: str, open_names: list[str]) -> None:
        super().__init__(f"the case has no open deadline '{name}'", open_deadlines=open_names)


class IllegalTransition(IllegalInCurrentState):
    """A command the case's (or the respondent's) current state does not allow (answered
    409 with the state and the actions allowed from it)."""

    def __init__(self, action: str, status: str, allowed: tuple[str, ...], *, why: str = "") -> None:
        self.action = action
        self.status = status
        self.allowed = allowed
        super().__init__(
            why or f"'{action}' is not allowed while the case is '{status}'",
            current_state=status,
            allowed_actions=list(allowed),
        )


# -- a respondent's track ---------------------------------------------------------------


@dataclass
class Track:
    """One respondent's part of the case from the prior notice on (当事人的程序)."""

    number: int
    party: RecordedParty
    state: str = "investigating"
    intended: list[Penalty] | None = None  # as notified (拟作出的行政处罚)
    notified_on: str | None = None
    statement_until: str | None = None
    hearing_right: bool = False
    hearing_request_until: str | None = None
    defended: bool = False  # a statement or defence recorded (Art. 45)
    waived: bool = False  # the respondent waived statement, defence and hearing
    last_statement_on: str | None = None
    hearing_requested_on: str | None = None
    hearing_notified_on: str | None = None
    hearing_on: str | None = None
    hearing_place: str | None = None
    hearing_chair: str | None = None
    hearing_record: DocumentRef | None = None
    heard_at: int | None = None  # the case version of the hearing record
    decision_number: str | None = None
    decided_on: str | None = None
    penalties: list[Penalty] | None = None
    fine_total_yuan: int | None = None
    no_penalty_ground: str | None = None
    # after the decision (issue 12)
    electronic_consent: str | None = None  # the address the party consented to (电子送达地址)
    service_method: str | None = None
    served_on: str | None = None  # 送达日 (for a public notice, the day it counts as served)
    payment_due: str | None = None  # 缴款期限 (moved by an approved deferral or instalments)
    surcharge: SurchargeTerms | None = None
    arrangement: str | None = None  # deferral / instalments approved
    payments: list[dict[str, Any]] = field(default_factory=list)  # {paid_on, amount_fen, receipt}
    reconsideration_until: str | None = None
    suit_until: str | None = None
    remedies: list[dict[str, Any]] = field(default_factory=list)  # {kind, filed_on, decided_on, outcome}
    reminder_served_on: str | None = None
    reminder_wait_until: str | None = None
    court_application_until: str | None = None
    court_applied_on: str | None = None
    court_ruling: str | None = None
    recovered_fen: int = 0
    corrections: int = 0

    @property
    def allowed(self) -> tuple[str, ...]:
        return RESPONDENT_ACTIONS[self.state]

    # -- amounts (分, so that 3% of a fine in yuan is exact) ------------------------------
    @property
    def fine_fen(self) -> int:
        return (self.fine_total_yuan or 0) * 100

    @property
    def paid_fen(self) -> int:
        return sum(p["amount_fen"] for p in self.payments)

    def fine_paid_off_on(self) -> date | None:
        """The day the payments (applied to the fine first) covered the fine: the surcharge stops there."""
        total = 0
        for payment in sorted(self.payments, key=lambda p: p["paid_on"]):
            total += payment["amount_fen"]
            if total >= self.fine_fen:
                return date.fromisoformat(payment["paid_on"])
        return None

    def surcharge_fen(self, as_of: date) -> int:
        """加处罚款 accrued to ``as_of`` (see :func:`accrued_surcharge_fen`)."""
        return accrued_surcharge_fen(self.fine_fen, self.payment_due, self.surcharge, self.fine_paid_off_on(), as_of)

    def outstanding_fen(self, as_of: date) -> int:
        """The fine and the surcharge accrued to ``as_of``, less what was paid (and recovered)."""
        return max(0, self.fine_fen + self.surcharge_fen(as_of) - self.paid_fen - self.recovered_fen)

    @property
    def remedy_pending(self) -> dict[str, Any] | None:
        return next((r for r in self.remedies if r.get("decided_on") is None), None)

    @property
    def kind(self) -> str:
        return self.party["kind"]

    def last_step_on(self) -> tuple[str, str] | None:
        """The latest dated step of the track: what a decision may not precede."""
        steps = [
            ("notified_on", self.notified_on),
            ("received_on", self.last_statement_on),
            ("requested_on", self.hearing_requested_on),
            ("held_on", self.hearing_on if self.state == "heard" else None),
        ]
        dated = [(name, day) for name, day in steps if day]
        return max(dated, key=lambda step: step[1]) if dated else None


def accrued_surcharge_fen(
    fine_fen: int, payment_due: str | None, terms: SurchargeTerms | None, paid_off_on: date | None, as_of: date
) -> int:
    """加处罚款 accrued to ``as_of`` (inclusive), in fen: the catalogue's percent of the
    fine (罚款数额, not what is left of it) a day from the day after the payment period,
    until the day the fine was paid, capped at the catalogue's percent of the fine
    (行政处罚法 Art. 72). The ledger computes it with the same function."""
    if terms is None or payment_due is None or fine_fen == 0:
        return 0
    until = min(as_of, paid_off_on) if paid_off_on else as_of
    days = (until - date.fromisoformat(payment_due)).days
    if days <= 0:
        return 0
    per_day = Decimal(fine_fen) * Decimal(terms["percent_per_day"]) / 100
    cap = Decimal(fine_fen) * Decimal(terms["capped_at_percent"]) / 100
    return int(min(per_day * days, cap).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# A track before its decision (what the decision deadline waits for).
BEFORE_DECISION = frozenset({"investigating", "notified", "hearing_requested", "hearing_scheduled", "heard"})


def case_status(states: list[str], ended_as: str | None) -> str:
    """A case's status from its respondents' states: every track concluded is decided
    (one penalty at least, whatever happened after the decision) or not_penalised; a
    notice served, notified; else filed. A dismissal, suspension, closure or archive
    (``ended_as``) is the status whatever the tracks."""
    concluded = [state for state in states if state not in BEFORE_DECISION]
    if ended_as:
        return ended_as
    if len(concluded) == len(states):
        if all(state in ("not_penalised", "referred") for state in concluded):
            return "referred" if "referred" in concluded else "not_penalised"
        return "decided"
    if any(state != "investigating" for state in states):
        return "notified"
    return "filed"


def track_actions(status: str, state: str) -> tuple[str, ...]:
    """What a respondent in ``state`` may do while the case is ``status``: before the
    decision only in an open case; from the decision on also once the case is decided."""
    if status in OPEN_CASE or (status == "decided" and state in AFTER_DECISION):
        return RESPONDENT_ACTIONS[state]
    return ()


def allowed_actions(status: str, state: str | None = None) -> list[str]:
    """What the case (``state`` None) or a respondent in ``state`` may do next, as the
    ledger shows it."""
    if state is None:
        return list(CASE_ACTIONS[status])
    return list(track_actions(status, state))
