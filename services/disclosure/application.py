"""Disclosure commands and the policy that turns penalty decisions into publications.

Synchronous like every eventsourcing application: the policy runs in its Kafka consumer
thread, the publisher in its own thread.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from services.common import event_types
from services.common.deadlines import DEFAULT_LEAD_WORKING_DAYS, DeadlineApplication, DeadlineSettings
from services.common.rules import Catalogue
from services.disclosure.domain import Publication, withheld_reason
from services.infra.consumer import ConsumedEvent
from services.infra.identity import system_actor

log = logging.getLogger(__name__)


class DisclosureSettings(DeadlineSettings):
    """The shared settings, the deadline lead, and the disclosure rules that are
    configuration, not code."""

    # General tier (一般失信行为): published 3 months to 1 year (DOMAIN.md §5, *to confirm*
    # locally: some provinces require at least 1 year for work-safety penalties).
    publication_period_months: int = 12
    # A payload Credit China rejects (4xx) is a bug on our side: retry, but slowly.
    publisher_rejected_retry_s: float = 60.0
    publisher_timeout_s: float = 10.0


class DisclosureApplication(DeadlineApplication):
    """The publication deadline is computed from the catalogue; its
    ``record_deadline_events`` (DeadlineApplication's) is the scheduler's check."""

    name = "disclosures"
    source = "/caseledger/disclosure"
    aggregate_name = "publication"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        catalogue: Catalogue,
        publication_months: int = 12,
        lead_working_days: int = DEFAULT_LEAD_WORKING_DAYS,
    ) -> None:
        super().__init__(env=env, catalogue=catalogue, lead_working_days=lead_working_days)
        self.publication_months = publication_months

    def get_publication(self, publication_id: UUID) -> Publication:
        publication: Publication = self.load(publication_id, "publication")
        return publication

    # The policy "disclosure-policy" (run by a PolicyRunner) handles these types only.
    policy_handles = frozenset({event_types.CASE_PENALTY_DECIDED})

    def prepare_on_decision(self, event: ConsumedEvent) -> list[Any]:
        """Policy for ``case.penalty_decided.v1``: prepare the decision's publication.
        Its id is derived from (case, decision number), so a duplicate delivery collides
        with the first publication instead of creating a second one."""
        reason = withheld_reason(event.data)
        if reason:
            log.warning(
                "decision %s of case %s not published: %s", event.data["decision_number"], event.subject, reason
            )
            return []
        return [
            Publication.prepare(
                case_id=event.data.get("case_id") or event.subject,
                decision=event.data,
                publication_months=self.publication_months,
                catalogue=self.catalogue,
                actor=publication_actor(event.data["agency"], "prepared from the penalty decision (行政处罚信息公示)"),
            )
        ]


def publication_actor(agency: dict[str, Any], reason: str) -> dict[str, Any]:
    """The disclosure service acts for the deciding agency, whose duty publication is."""
    return system_actor("disclosure", agency["code"], agency["region_code"], reason)
