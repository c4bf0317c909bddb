"""The referral service's process: ``uvicorn --factory services.referral.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.deadlines import DeadlineSettings
from services.common.rules import RulesSettings, load_configured_catalogue
from services.infra.app import create_service_app
from services.infra.projection import ProjectionRunner
from services.infra.runtime import ServiceRuntime
from services.infra.scheduler import DeadlineScheduler
from services.infra.storage import event_store_env
from services.referral.application import ReferralApplication
from services.referral.readmodel import DEADLINES, ReferralViewsProjection, metadata
from services.referral.routes import router


def create_app(settings: DeadlineSettings | None = None, rules: RulesSettings | None = None) -> FastAPI:
    settings = settings or DeadlineSettings(service_name="referral")
    # Loaded and validated before anything starts, like the case service's (one loader).
    catalogue = load_configured_catalogue(rules)
    runtime: ServiceRuntime[ReferralApplication] = ServiceRuntime(
        settings,
        metadata,
        application=lambda: ReferralApplication(
            env=event_store_env(settings), catalogue=catalogue, lead_working_days=settings.deadline_lead_working_days
        ),
        handlers=lambda rt: [ProjectionRunner(rt.settings, ReferralViewsProjection())],
        # Deadline approaching / missed, recorded as the referral's events (KeepsDeadlines).
        workers=lambda rt: [DeadlineScheduler(rt.application, settings, rt.application.record_deadline_events)],
        personal_data=True,
        gauges=lambda rt: DEADLINES.readings(rt.db),
        relay_after=("/caseledger/case",),  # a referral follows from its case's events
    )
    return create_service_app(
        "caseledger referral service",
        "1.0.0",
        "Refers cases with a suspected crime (行刑衔接) to the public security organ or the procuratorate; "
        "serves the referral tracker. Knows cases only from the case-events topic.",
        runtime,
        router,
    )
