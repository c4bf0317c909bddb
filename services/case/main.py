"""The case service's process: ``uvicorn --factory services.case.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.application import CaseApplication, CaseSettings
from services.case.readmodel import DEADLINES, CaseLedgerProjection, metadata
from services.case.routes import router
from services.common.agencies import AgencyRegistry
from services.common.rules import RulesSettings, load_configured_catalogue
from services.infra.app import create_service_app
from services.infra.policy import PolicyRunner
from services.infra.projection import ProjectionRunner
from services.infra.read_audit import ReadAudit
from services.infra.runtime import ServiceRuntime
from services.infra.scheduler import DeadlineScheduler
from services.infra.storage import event_store_env


def create_app(settings: CaseSettings | None = None, rules: RulesSettings | None = None) -> FastAPI:
    settings = settings or CaseSettings(service_name="case")
    # The catalogue is loaded and validated before anything starts: an invalid or
    # overlapping one refuses the start with a CatalogueError naming the file and the rule.
    catalogue = load_configured_catalogue(rules)
    # The agency registry likewise: an unreadable or invalid one refuses the start.
    agencies = AgencyRegistry.load(settings.agency_registry_file) if settings.agency_registry_file else None
    runtime: ServiceRuntime[CaseApplication] = ServiceRuntime(
        settings,
        metadata,
        application=lambda: CaseApplication(
            env=event_store_env(settings),
            cipher=runtime.cipher,
            catalogue=catalogue,
            lead_working_days=settings.deadline_lead_working_days,
            clock_tolerance_minutes=settings.case_clock_tolerance_minutes,
            agencies=agencies,
        ),
        handlers=lambda rt: [
            # A referral reported suspends its case; one returned resumes it (行刑衔接).
            PolicyRunner(
                rt.application, "case-referral-policy", rt.application.on_referral, CaseApplication.policy_handles
            ),
            ProjectionRunner(rt.settings, CaseLedgerProjection(rt.cipher)),
        ],
        # Deadline approaching / missed, recorded as the case's events (Case.record_deadline_events).
        workers=lambda rt: [DeadlineScheduler(rt.application, settings, rt.application.record_deadline_events)],
        # The audit of reads, its own tamper-evident log ("reads").
        # A few records a read: a small connection pool of its own is enough.
        stores=lambda _rt: {
            "reads": ReadAudit(
                env=event_store_env(settings, "reads") | {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}
            )
        },
        personal_data=True,
        gauges=lambda rt: DEADLINES.readings(rt.db),
        warnings=lambda: runtime.application.provisional_year_warnings() if runtime.app else [],
    )
    app = create_service_app(
        "caseledger case service",
        "1.0.0",
        "Files enforcement cases (立案) against one or more respondents (一案双罚), records the "
        "investigation, legal review (法制审核), collective discussion, prior notice (事先告知), "
        "statements and hearings (听证), and decides per respondent (行政处罚决定, 不予处罚, 简易程序) "
        "under numbers it assigns; serves the case ledger built from the case-events topic and the "
        "rules catalogue every period and threshold comes from.",
        runtime,
        router,
    )
    return app
