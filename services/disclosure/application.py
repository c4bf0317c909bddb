"""Disclosure commands and the policy that turns the case service's decisions and their
corrections into publications and withdrawals.

Synchronous like every eventsourcing application: the policy runs in its Kafka consumer
thread, the publisher and the deadline scheduler in their own threads, the commands (credit
repair) in the request's worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from services.common import event_types
from services.common.agencies import AgencyRegistry
from services.common.deadlines import DEFAULT_LEAD_WORKING_DAYS, DeadlineApplication, DeadlineSettings
from services.common.rules import Catalogue
from services.disclosure.domain import (
    WITHHOLDING_REASONS,
    Publication,
    WithheldDecision,
    no_penalty_decision,
    other_decision_publication_id,
    publication_id_for,
    publication_period,
    withholding,
)
from services.infra.clock import today_in_china
from services.infra.consumer import ConsumedEvent
from services.infra.errors import IllegalInCurrentState, NotFound
from services.infra.idempotency import Idempotency
from services.infra.identity import Principal, system_actor

log = logging.getLogger(__name__)


class DisclosureSettings(DeadlineSettings):
    """The shared settings, the deadline lead, the agency registry (how each agency shows
    a unit's code) and the publisher's retries."""

    # The operator's agency registry (services/common/agencies.py): an agency may mask the
    # last characters of a unit's USCC on its site (unit_code_masked_digits).
    agency_registry_file: Path | None = None
    # A payload Credit China rejects (4xx) is a bug on our side: retry, but slowly.
    publisher_rejected_retry_s: float = 60.0
    publisher_timeout_s: float = 10.0


class DisclosureApplication(DeadlineApplication):
    """The publication, withdrawal and repair deadlines and periods are computed from the
    catalogue; its ``record_deadline_events`` (DeadlineApplication's) is the scheduler's
    check, which also ends a publication at the end of its period."""

    name = "disclosures"
    source = "/caseledger/disclosure"
    aggregate_name = "publication"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        catalogue: Catalogue,
        agencies: AgencyRegistry | None = None,
        lead_working_days: int = DEFAULT_LEAD_WORKING_DAYS,
    ) -> None:
        super().__init__(env=env, catalogue=catalogue, lead_working_days=lead_working_days)
        self.agencies = agencies

    def get_publication(self, publication_id: UUID) -> Publication:
        publication: Publication = self.load(publication_id, "publication")
        return publication

    # The policy "disclosure-policy" (run by a PolicyRunner) handles these types only.
    policy_handles = frozenset(
        {event_types.CASE_PENALTY_DECIDED, event_types.CASE_DECISION_CORRECTED, event_types.CASE_NOT_PENALISED}
    )

    def on_case_event(self, event: ConsumedEvent) -> list[Any]:
        if event.type == event_types.CASE_DECISION_CORRECTED:
            return self.withdraw_on_correction(event)
        if event.type == event_types.CASE_NOT_PENALISED:
            return self.prepare_on_other_decision(event)
        return self.prepare_on_decision(event)

    def prepare_on_other_decision(self, event: ConsumedEvent) -> list[Any]:
        """Policy for ``case.not_penalised.v1``, an other enforcement decision (其他行政执法
        决定): prepare its publication on the agency's site (20 working days), or record it
        withheld with the ground, under the penalty's withholding rules. An event recorded
        before it carried the decision's content (class version 1) cannot be published."""
        case_id = event.data.get("case_id") or event.subject
        if not event.data.get("party"):
            log.warning("no-penalty decision of case %s carries no content to publish (recorded before v2)", case_id)
            return []
        decision = no_penalty_decision(event.data)
        agency = decision["agency"]
        ground = withholding(decision, published_by_default=True)
        if ground:
            return [
                WithheldDecision.record(
                    case_id=case_id,
                    decision=decision,
                    tier="none",
                    ground=ground,
                    actor=publication_actor(agency, "not published (不予公开)"),
                    publication_id=other_decision_publication_id(case_id, decision["respondent"]),
                )
            ]
        return [
            Publication.prepare_other(
                case_id=case_id,
                decision=decision,
                catalogue=self.catalogue,
                actor=publication_actor(agency, "prepared from the no-penalty decision (其他行政执法决定公开)"),
                code_masked_digits=self._masked_digits(agency),
            )
        ]

    def _masked_digits(self, agency: dict[str, Any]) -> int:
        registered = self.agencies.get(agency["code"]) if self.agencies is not None else None
        return registered.unit_code_masked_digits if registered else 0

    def prepare_on_decision(self, event: ConsumedEvent) -> list[Any]:
        """Policy for ``case.penalty_decided.v1``: prepare the decision's publication in its
        tier, or record it withheld with the ground. Its id is derived from (case, decision
        number), so a duplicate delivery collides with the first instead of creating a
        second one."""
        decision = event.data
        case_id = decision.get("case_id") or event.subject
        agency = decision["agency"]
        period, published_by_default = publication_period(decision, self.catalogue, agency["region_code"])
        ground = withholding(decision, published_by_default)
        if ground:
            log.warning(
                "decision %s of case %s not published: %s",
                decision["decision_number"],
                case_id,
                WITHHOLDING_REASONS[ground],
            )
            return [
                WithheldDecision.record(
                    case_id=case_id,
                    decision=decision,
                    tier=period["tier"],
                    ground=ground,
                    actor=publication_actor(agency, "not published (不予公示)"),
                )
            ]
        publication = Publication.prepare(
            case_id=case_id,
            decision=decision,
            period=period,
            catalogue=self.catalogue,
            actor=publication_actor(agency, "prepared from the penalty decision (行政处罚信息公示)"),
            code_masked_digits=self._masked_digits(agency),
        )
        # A decision recorded after its period was over is never pushed: it ends at once.
        publication.end_if_over(today_in_china())
        return [publication]

    def withdraw_on_correction(self, event: ConsumedEvent) -> list[Any]:
        """Policy for ``case.decision_corrected.v1``: every correction (revoked, changed,
        declared illegal or void) withdraws the publication now shown of the decision, with
        the reason (Art. 48; the event's ``withdraw_publication`` is not read: events
        recorded before it said so for every correction named only revocation and
        voidness); a changed decision is published again as changed. A repeated delivery finds the
        publication already withdrawn and does nothing."""
        correction = event.data
        case_id = correction.get("case_id") or event.subject
        current = self._current_publication(publication_id_for(case_id, correction["decision_number"]))
        if current is None:
            log.warning("correction of %s: no publication of it is known", correction["decision_number"])
            return []
        if isinstance(current, Publication) and current.state not in ("pending", "published"):
            log.info("correction of %s: publication %s is %s", current.decision_number, current.id, current.state)
            return []
        actor = publication_actor(correction["agency"], "the decision was corrected (撤回, 行政处罚法第四十八条)")
        changed = None
        if isinstance(current, Publication) and correction["correction"] == "changed" and correction["penalties"]:
            changed = current.republish_changed(correction, catalogue=self.catalogue, actor=actor)
        try:
            current.withdraw(
                correction,
                today=today_in_china(),
                catalogue=self.catalogue,
                actor=actor,
                republished_as=changed.publication_id if changed else None,
            )
        except IllegalInCurrentState as refused:
            log.warning("correction of %s: %s", correction["decision_number"], refused.detail)
            return []
        return [current] if changed is None else [current, changed]

    def _current_publication(self, publication_id: UUID) -> Publication | WithheldDecision | None:
        """The publication now standing for a decision: the first, or the one that replaced
        it when it was changed."""
        found = self.find(publication_id)
        while isinstance(found, Publication) and found.republished_as:
            found = self.find(UUID(found.republished_as))
        return found if isinstance(found, Publication | WithheldDecision) else None

    # -- credit repair (信用修复), through the agency's system -----------------------------

    def apply_for_repair(
        self, caller: Principal, publication_id: UUID, request: dict[str, Any], idempotency_key: str | None
    ) -> tuple[Publication, bool]:
        return self._repair_step(
            caller, publication_id, request, idempotency_key, "applied_on", Publication.apply_for_repair
        )

    def decide_repair(
        self, caller: Principal, publication_id: UUID, request: dict[str, Any], idempotency_key: str | None
    ) -> tuple[Publication, bool]:
        return self._repair_step(
            caller, publication_id, request, idempotency_key, "decided_on", Publication.decide_repair
        )

    def _repair_step(
        self,
        caller: Principal,
        publication_id: UUID,
        request: dict[str, Any],
        idempotency_key: str | None,
        day_field: str,
        step: Callable[..., None],
    ) -> tuple[Publication, bool]:
        """A step of the repair on the deciding agency's publication, dated today unless
        the request says otherwise."""
        idempotency = Idempotency.of(idempotency_key, request)
        fields = {**request, day_field: request[day_field] or today_in_china()}
        return self.change(
            publication_id,
            "publication",
            idempotency,
            None,
            _own_publication(caller),
            lambda p: step(p, **fields, today=today_in_china(), **idempotency.recorded()),
        )


def _own_publication(caller: Principal) -> Any:
    """Repair is the deciding agency's: another agency's publication is not found."""

    def permit(publication: Any) -> None:
        if not isinstance(publication, Publication) or publication.agency_code != caller.agency_code:
            raise NotFound(f"no publication {publication.id}")  # as one that does not exist

    return permit


def publication_actor(agency: dict[str, Any], reason: str) -> dict[str, Any]:
    """The disclosure service acts for the deciding agency, whose duty publication is."""
    return system_actor("disclosure", agency["code"], agency["region_code"], reason)
