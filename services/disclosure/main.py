"""The disclosure service's process: ``uvicorn --factory services.disclosure.main:create_app``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.common.agencies import AgencyRegistry
from services.common.rules import RulesSettings, load_configured_catalogue
from services.disclosure.application import DisclosureApplication, DisclosureSettings
from services.disclosure.publisher import CreditChinaPublisher
from services.disclosure.readmodel import DisclosureFeedProjection, metadata
from services.disclosure.routes import router
from services.infra.app import create_service_app
from services.infra.metrics import Reading
from services.infra.policy import PolicyRunner
from services.infra.projection import ProjectionRunner
from services.infra.runtime import ServiceRuntime
from services.infra.scheduler import DeadlineScheduler
from services.infra.storage import event_store_env


def create_app(settings: DisclosureSettings | None = None, rules: RulesSettings | None = None) -> FastAPI:
    config = settings or DisclosureSettings(service_name="disclosure")
    # Loaded and validated before anything starts, like the case service's (one loader).
    catalogue = load_configured_catalogue(rules)
    agencies = AgencyRegistry.load(config.agency_registry_file) if config.agency_registry_file else None
    runtime: ServiceRuntime[DisclosureApplication] = ServiceRuntime(
        config,
        metadata,
        application=lambda: DisclosureApplication(
            env=event_store_env(config),
            catalogue=catalogue,
            agencies=agencies,
            lead_working_days=config.deadline_lead_working_days,
        ),
        handlers=lambda rt: [
            PolicyRunner(
                rt.application,
                "disclosure-policy",
                rt.application.on_case_event,
                DisclosureApplication.policy_handles,
            ),
            ProjectionRunner(rt.settings, DisclosureFeedProjection()),
        ],
        workers=lambda rt: [
            CreditChinaPublisher(rt.application, config),
            # Deadline approaching / missed of publish_by and of a withdrawal, and the end of
            # the publication period, recorded as the publication's events.
            DeadlineScheduler(rt.application, config, rt.application.record_deadline_events),
        ],
        gauges=_publication_readings,
        relay_after=("/caseledger/case",),  # a publication follows from its decision
    )
    return create_service_app(
        "caseledger disclosure service",
        "1.0.0",
        "Publishes penalty decisions (双公示) to Credit China (信用中国) within 7 working days, "
        "masked for natural persons, in the tier and period of the rules in force on the decision date; "
        "withdraws them when the decision is corrected, ends them at the end of their period or on a "
        "credit repair (信用修复), each pushed to Credit China; serves the public disclosure feed and "
        "the agency's view of its publications.",
        runtime,
        router,
    )


async def _publication_readings(runtime: ServiceRuntime[DisclosureApplication]) -> list[Reading]:
    """/metrics: publications pending and overdue, from the publisher's position."""
    publishers = [w for w in runtime.workers if isinstance(w, CreditChinaPublisher)]
    return await asyncio.to_thread(publishers[0].readings) if publishers else []
