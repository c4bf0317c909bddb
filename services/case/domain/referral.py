"""A case and its referrals (行刑衔接): suspended while a referral is open, resumed when it comes
back, concluded by a criminal judgment."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.case.domain.state import CaseState
from services.case.domain.tracks import BEFORE_DECISION, OPEN_CASE
from services.common import event_types
from services.infra.eventstore import TracedAggregate


class Referring(CaseState):
    """中止 while referred to the public security organs, 恢复 when the referral comes back."""

    class SuspendedForReferral(TracedAggregate.Event):
        """中止: a referral of the case as a suspected crime was reported (行刑衔接), learnt
        from ``referral.reported.v1``. An open case takes no further step until the referral
        comes back; a decided one keeps running, but cannot be closed (不得以罚代刑)."""

        cloud_type = event_types.CASE_SUSPENDED_FOR_REFERRAL
        referral_id: str
        suspended_on: str
        suspected_offence: str
        # Whether the procedure stops (the case was open), or only closing waits.
        suspended: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.open_referrals = [*case.open_referrals, self.referral_id]
            if self.suspended:
                case.ended_as = "suspended"
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class ResumedAfterReferral(TracedAggregate.Event):
        """恢复: the referral came back (反向衔接: the head refused it, the police did not
        file, the procuratorate did not prosecute, or the court exempted from punishment),
        learnt from ``referral.returned.v1``; the procedure goes on where it stopped."""

        cloud_type = event_types.CASE_RESUMED_AFTER_REFERRAL
        referral_id: str
        resumed_on: str
        return_reason: str
        penalty_due: bool
        # Whether the procedure goes on (it was suspended and no other referral is open).
        resumed: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.open_referrals = [r for r in case.open_referrals if r != self.referral_id]
            if self.resumed:
                case.ended_as = None
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class ConcludedByReferral(TracedAggregate.Event):
        """The referral ended in a criminal judgment (刑事判决), learnt from
        ``referral.outcome_recorded.v1``: the respondents not yet decided are referred (their
        tracks end: 不再给予行政处罚 for what the court punished), the referral is no longer
        open, and a case it suspended goes on to its closure."""

        cloud_type = event_types.CASE_CONCLUDED_BY_REFERRAL
        referral_id: str
        judged_on: str
        respondents: list[int]  # the tracks it ends
        resumed: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.open_referrals = [r for r in case.open_referrals if r != self.referral_id]
            for number in self.respondents:
                case.tracks[number - 1].state = "referred"
            if self.resumed:
                case.ended_as = None
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    def suspend_for_referral(
        self, *, referral_id: str, suspended_on: date, suspected_offence: str, command_key: str, actor: dict[str, Any]
    ) -> bool:
        """中止 on a referral reported (the referral service's event, not a command of the
        agency's). False when this event was already applied (a redelivery)."""
        if self.remembers(command_key) or referral_id in self.open_referrals:
            return False
        self.trigger_event(
            self.SuspendedForReferral,
            referral_id=referral_id,
            suspended_on=suspended_on.isoformat(),
            suspected_offence=suspected_offence,
            suspended=self.status in OPEN_CASE,
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True

    def resume_after_referral(
        self,
        *,
        referral_id: str,
        resumed_on: date,
        return_reason: str,
        penalty_due: bool,
        command_key: str,
        actor: dict[str, Any],
    ) -> bool:
        """恢复 on a referral returned. False for a redelivery, or a referral the case did
        not suspend for (reported before cases learnt of referrals)."""
        if self.remembers(command_key) or referral_id not in self.open_referrals:
            return False
        self.trigger_event(
            self.ResumedAfterReferral,
            referral_id=referral_id,
            resumed_on=resumed_on.isoformat(),
            return_reason=return_reason,
            penalty_due=penalty_due,
            resumed=self.ended_as == "suspended" and self.open_referrals == [referral_id],
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True

    def conclude_by_referral(
        self, *, referral_id: str, judged_on: date, command_key: str, actor: dict[str, Any]
    ) -> bool:
        """A referral's criminal judgment ends the respondents not yet decided (referred).
        False for a redelivery, or a referral the case did not suspend for."""
        if self.remembers(command_key) or referral_id not in self.open_referrals:
            return False
        self.trigger_event(
            self.ConcludedByReferral,
            referral_id=referral_id,
            judged_on=judged_on.isoformat(),
            respondents=[t.number for t in self.tracks if t.state in BEFORE_DECISION],
            resumed=self.ended_as == "suspended" and self.open_referrals == [referral_id],
            command_key=command_key,
            command_fingerprint=command_key,
            actor=actor,
        )
        return True
