"""What the chaos checks know of the services' insides: the event-store tables the
eventsourcing recorder names after each application, the stored event topics they count,
the relay's position name, and each service's projections with the tables compared
against a rebuild. Service code is imported for these facts, not copied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic

from devtools.inprocess import key_ring, service_settings
from devtools.launcher import LocalSystem
from services.case.application import CaseApplication
from services.case.domain import Case
from services.case.readmodel import CaseLedgerProjection
from services.disclosure.application import DisclosureApplication
from services.disclosure.domain import Publication
from services.disclosure.readmodel import DisclosureFeedProjection
from services.infra.settings import CASE_EVENTS_TOPIC
from services.notification.readmodel import DeliveryProjection
from services.referral.application import ReferralApplication
from services.referral.domain import Referral
from services.referral.readmodel import ReferralViewsProjection

TOPIC = CASE_EVENTS_TOPIC
# The services with an event store, and the stored-events / tracking tables the
# eventsourcing PostgreSQL recorder names after the application.
EVENT_STORES = {
    "case": CaseApplication.name.lower(),
    "referral": ReferralApplication.name.lower(),
    "disclosure": DisclosureApplication.name.lower(),
}
# The relay's position on the topic it publishes to (kept per topic identity).
RELAY_POSITION = f"relay:{TOPIC}@%"
# Stored event topics (the eventsourcing class paths) the checks count.
DECIDED_TOPIC = get_topic(Case.PenaltyDecided)
PREPARED_TOPIC = get_topic(Publication.Prepared)
PUBLISHED_TOPIC = get_topic(Publication.Published)
# A referral starts with its report (移送报告): one per case and organ.
REFERRED_TOPIC = get_topic(Referral.Reported)
RECEIVING_ORGAN = "public_security"


@dataclass(frozen=True)
class ProjectionCheck:
    """A read model to compare with its rebuild. ``excluded`` columns are left out of the
    checksum, each for the reason given; ``copied`` tables are inputs, not projected."""

    service: str
    # Builds the projection as the service does (the ledger needs the personal-data key
    # ring the running system uses, for its lookup digests).
    projection: Callable[[LocalSystem], Any]
    tables: dict[str, tuple[str, ...]]
    copied: tuple[str, ...] = ()


# Excluded: record time (when this process applied the event: wall-clock, so a rebuild
# a minute later differs by design) and, for deliveries, the delivery worker's own progress
# (status, attempts, retry schedule, last answer, delivery time), which no projection
# writes and the rebuild, having no worker, cannot have; the webhook check covers it.
PROJECTIONS = (
    ProjectionCheck(
        "case",
        lambda system: CaseLedgerProjection(key_ring(service_settings(system, "case"))),
        {"case_ledger": ("recorded_at", "updated_at")},
    ),
    ProjectionCheck(
        "referral",
        lambda _: ReferralViewsProjection(),
        {"known_cases": ("updated_at",), "referrals": ("recorded_at", "updated_at")},
    ),
    ProjectionCheck("disclosure", lambda _: DisclosureFeedProjection(), {"disclosure_feed": ("recorded_at",)}),
    ProjectionCheck(
        "notification",
        lambda _: DeliveryProjection(),
        {
            "deliveries": (
                "status",
                "attempts",
                "next_attempt_at",
                "last_status_code",
                "last_error",
                "created_at",
                "delivered_at",
                "redeliveries",
            )
        },
        copied=("subscriptions",),
    ),
)
