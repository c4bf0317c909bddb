"""The app factory every service's ``create_app`` calls, and the FastAPI dependencies
through which route handlers reach what it built (the service's runtime: its
application, its read-model engine, its personal-data key ring)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.auth import TokenVerifier
from services.infra.crypto import FieldCipher
from services.infra.middleware import RequestLimits, add_trace_id_header
from services.infra.problems import document_problems, install_problem_handlers
from services.infra.runtime import ServiceRuntime


def create_service_app(
    title: str,
    version: str,
    description: str,
    runtime: ServiceRuntime[Any],
    router: APIRouter,
) -> FastAPI:
    """A service's FastAPI app: problems, token verification, limits, CORS, trace ids,
    /healthz and /readyz, then the service's routes; the runtime starts and stops with it."""
    settings = runtime.settings
    app = FastAPI(title=title, version=version, description=description, lifespan=runtime.lifespan())
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(
        audience=settings.auth_audience,
        issuers=settings.auth_issuers,
        jwks_file=None if settings.auth_jwks_url else settings.jwks_path(),
        jwks_url=settings.auth_jwks_url,
        leeway_s=settings.auth_leeway_s,
    )
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    if settings.cors_allow_origins:  # off unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Reason"],
            expose_headers=["ETag", "Location", "X-Trace-Id"],
        )
    add_trace_id_header(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: storage reachable, relay and consumers running")
    async def readyz(request: Request) -> JSONResponse:
        try:
            checks = await runtime.readiness()
        except Exception as exc:  # a readiness probe reports, it does not raise
            checks = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)

    app.include_router(router)
    document_problems(app)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app


# -- what handlers depend on (async: resolved on the event loop, no thread hand-off) -------


def service_runtime(request: Request) -> ServiceRuntime[Any]:
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


async def service_application(request: Request) -> Any:
    """The service's application (annotate it with the service's own class)."""
    return service_runtime(request).application


async def read_models(request: Request) -> AsyncEngine:
    return service_runtime(request).db


async def personal_data_cipher(request: Request) -> FieldCipher:
    return service_runtime(request).cipher


ReadModels = Annotated[AsyncEngine, Depends(read_models)]
Cipher = Annotated[FieldCipher, Depends(personal_data_cipher)]
