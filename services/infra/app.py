"""The app factory every service's ``create_app`` calls, and the FastAPI dependencies
through which route handlers reach what it built (the service's runtime: its
application, its read-model engine, its personal-data key ring)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.auth import TokenVerifier
from services.infra.crypto import FieldCipher
from services.infra.metrics import HttpMetrics, ServiceMetrics
from services.infra.middleware import RequestLimits, add_trace_id_header
from services.infra.problems import allowed_methods, document_problems, install_problem_handlers, served_routes
from services.infra.runtime import ServiceRuntime

DOCS_ASSETS = "/docs/assets"


class Readiness(BaseModel):
    """What /readyz reports: ready or not, and each part it checked."""

    model_config = ConfigDict(extra="allow")
    ready: bool
    database: str | None = Field(None, description='"ok" when storage answered')
    relay: dict[str, Any] | None = Field(None, description="the outbox relay: alive, backlog, topic identity ...")
    consumers: dict[str, Any] | None = Field(None, description="per consumer: alive, partitions, applied, halted ...")
    reason: str | None = Field(None, description="why it is not ready (a halted consumer ...)")
    warnings: list[str] | None = Field(None, description="still ready, but worth an operator's look")
    error: str | None = Field(None, description="why the check itself failed")


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
    # /docs (Swagger UI) and /redoc with their scripts, styles and icon served by the service
    # itself from the fastapi-offline package, under /docs/assets: no CDN, so the pages work
    # inside a closed government network.
    app: FastAPI = FastAPIOffline(
        title=title,
        version=version,
        description=description,
        lifespan=runtime.lifespan(),
        static_url=DOCS_ASSETS,
        # FastAPIInstrumentor (below) traces the requests; FastAPI's own telemetry would
        # trace them again (a second server span, and spans for the dependencies, the
        # endpoint and the serialisation of every request) once a tracer provider is set.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
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
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Reason"],
            expose_headers=["ETag", "Location", "X-Trace-Id"],
        )
    add_trace_id_header(app)
    # Outermost: every answer is counted and timed, the middlewares' own refusals too.
    metrics = ServiceMetrics()
    app.add_middleware(HttpMetrics, metrics=metrics)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: storage reachable, relay and consumers running",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: the reason is in the body"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        try:
            checks = await runtime.readiness()
        except Exception as exc:  # a readiness probe reports, it does not raise
            checks = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Metrics in the Prometheus text or OpenMetrics exposition (as the Accept header asks)",
        response_class=Response,
        responses={
            200: {
                "description": "The series (services/infra/metrics.py)",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/openmetrics-text": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.exposition(await runtime.readings(), request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    app.include_router(router)

    async def options(request: Request) -> Response:
        """OPTIONS of a resource: 204 with the methods it answers (Allow)."""
        return Response(status_code=204, headers={"Allow": ", ".join(allowed_methods(request))})

    for path in dict.fromkeys(r.path for r in served_routes(app.routes) if getattr(r, "methods", None)):
        app.add_api_route(path, options, methods=["OPTIONS"], include_in_schema=False, status_code=204)

    document_problems(app)
    # The server span only: a span of its own for every ASGI receive and send message costs
    # three more per request and says nothing a server span does not.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"])
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
