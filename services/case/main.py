"""The case service's process: ``uvicorn --factory services.case.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.application import CaseApplication, CaseSettings
from services.case.readmodel import CaseLedgerProjection, metadata
from services.case.routes import router
from services.common.rules import RulesSettings, load_configured_catalogue
from services.infra.app import create_service_app
from services.infra.projection import ProjectionRunner
from services.infra.runtime import ServiceRuntime
from services.infra.scheduler import DeadlineScheduler
from services.infra.storage import event_store_env


def create_app(settings: CaseSettings | None = None, rules: RulesSettings | None = None) -> FastAPI:
    settings = settings or CaseSettings(service_name="case")
    # The catalogue is loaded and validated before anything starts: an invalid or
    # overlapping one refuses the start with a CatalogueError naming the file and the rule.
    catalogue = load_configured_catalogue(rules)
    runtime: ServiceRuntime[CaseApplication] = ServiceRuntime(
        settings,
        metadata,
        application=lambda: CaseApplication(
            env=event_store_env(settings),
            cipher=runtime.cipher,
            catalogue=catalogue,
            lead_working_days=settings.deadline_lead_working_days,
        ),
        handlers=lambda rt: [ProjectionRunner(rt.settings, CaseLedgerProjection(rt.cipher))],
        # Deadline approaching / missed, recorded as the case's events (Case.record_deadline_events).
        workers=lambda rt: [DeadlineScheduler(rt.application, settings, rt.application.record_deadline_events)],
        personal_data=True,
        warnings=lambda: runtime.application.provisional_year_warnings() if runtime.app else [],
    )
    return create_service_app(
        "caseledger case service",
        "1.0.0",
        "Files enforcement cases (立案), records legal reviews (法制审核) and penalty decisions "
        "(行政处罚决定); serves the case ledger built from the case-events topic and the rules "
        "catalogue every deadline is computed from.",
        runtime,
        router,
    )
