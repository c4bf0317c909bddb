"""The case service's process: ``uvicorn --factory services.case.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.application import CaseApplication
from services.case.readmodel import CaseLedgerProjection, metadata
from services.case.routes import router
from services.infra.app import create_service_app
from services.infra.projection import ProjectionRunner
from services.infra.runtime import ServiceRuntime
from services.infra.settings import Settings
from services.infra.storage import event_store_env


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(service_name="case")
    runtime: ServiceRuntime[CaseApplication] = ServiceRuntime(
        settings,
        metadata,
        application=lambda: CaseApplication(env=event_store_env(settings), cipher=runtime.cipher),
        handlers=lambda rt: [ProjectionRunner(rt.settings, CaseLedgerProjection(rt.cipher))],
        personal_data=True,
    )
    return create_service_app(
        "caseledger case service",
        "1.0.0",
        "Files enforcement cases (立案), records legal reviews (法制审核) and penalty decisions "
        "(行政处罚决定); serves the case ledger built from the case-events topic.",
        runtime,
        router,
    )
