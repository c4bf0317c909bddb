"""Closure (结案) once every track ended, archive (归档), and annotations on the archived file."""

from __future__ import annotations

from datetime import date

from services.case.domain.checks import check_business_date, refuse_personal_data_in_text
from services.case.domain.state import CaseState
from services.case.domain.tracks import ENDED_TRACKS, IllegalTransition
from services.common import event_types
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate


class Closing(CaseState):
    """结案, 归档, and what may still be added after (批注)."""

    class Closed(TracedAggregate.Event):
        """结案: every respondent's track ended and no referral is open."""

        cloud_type = event_types.CASE_CLOSED
        closed_on: str
        summary: str
        tracks: dict[str, str]  # respondent number → how its track ended
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.ended_as = "closed"
            case.closed_on = self.closed_on
            for state in case.deadlines.values():
                state["open"] = False
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class Archived(TracedAggregate.Event):
        """归档: the case file is sealed; after this only annotations are added."""

        cloud_type = event_types.CASE_ARCHIVED
        archived_on: str
        archive_reference: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.ended_as = "archived"
            case.archived_on = self.archived_on
            case.settle_status()
            case.remember(self.command_key, self.command_fingerprint)

    class Annotated(TracedAggregate.Event):
        """备注 on a closed or archived case: adds to the file, changes nothing in it."""

        cloud_type = event_types.CASE_ANNOTATED
        annotated_on: str
        text: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.annotations += 1
            case.remember(self.command_key, self.command_fingerprint)

    def close_case(
        self, *, closed_on: date, summary: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """结案 when every respondent's track ended (paid, performed, enforced, not
        penalised, revoked) or the case was dismissed, and no referral is open (不得以罚代刑)."""
        self._require("close_case")
        # A dismissed case (撤销立案) ends every track with it.
        running = [t for t in self.tracks if t.state not in ENDED_TRACKS and self.status != "dismissed"]
        if running:
            track = running[0]
            raise IllegalTransition(
                "close_case",
                self.status,
                self.allowed_actions,
                why=f"respondent {track.number} is '{track.state}': every track must end before the case closes",
            )
        if self.open_referrals:
            raise IllegalTransition(
                "close_case",
                self.status,
                self.allowed_actions,
                why=f"referral {self.open_referrals[0]} is open: the case cannot close until it comes back",
            )
        check_business_date("/closed_on", closed_on, latest, not_before=("the last step", self._last_step_on()))
        refuse_personal_data_in_text("/summary", summary)
        self.trigger_event(
            self.Closed,
            closed_on=closed_on.isoformat(),
            summary=summary,
            tracks={str(t.number): t.state for t in self.tracks},
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def archive_case(
        self, *, archived_on: date, archive_reference: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """归档 of a closed case: after it only annotations."""
        self._require("archive_case")
        check_business_date("/archived_on", archived_on, latest, not_before=("closed_on", self.closed_on))
        if not archive_reference.strip():
            raise RuleViolation("/archive_reference", "archive-reference", "the archive's file reference is required")
        self.trigger_event(
            self.Archived,
            archived_on=archived_on.isoformat(),
            archive_reference=archive_reference.strip(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def annotate(
        self, *, annotated_on: date, text: str, latest: date, command_key: str, command_fingerprint: str
    ) -> None:
        """备注 on a closed or archived case (adds to its file, changes nothing)."""
        self._require("annotate")
        check_business_date("/annotated_on", annotated_on, latest, not_before=("closed_on", self.closed_on))
        if not text.strip():
            raise RuleViolation("/text", "text-required", "an annotation has text")
        refuse_personal_data_in_text("/text", text)
        self.trigger_event(
            self.Annotated,
            annotated_on=annotated_on.isoformat(),
            text=text,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
