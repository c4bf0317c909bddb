"""RFC 9457 problems: how every error of every service is answered, and documented in its
OpenAPI. The domains' refusals (``services.infra.errors``) are mapped here, once."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.infra.errors import (
    DomainError,
    Forbidden,
    Gone,
    IdempotencyConflict,
    IllegalInCurrentState,
    NotFound,
    NotYetKnown,
    RuleViolation,
    StaleVersion,
)
from services.infra.telemetry import current_trace_id

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# The HTTP status of each kind of refusal (the most specific class listed wins).
STATUS_OF: dict[type[DomainError], int] = {
    RuleViolation: 422,
    IdempotencyConflict: 422,
    IllegalInCurrentState: 409,
    NotYetKnown: 409,
    StaleVersion: 412,
    NotFound: 404,
    Gone: 410,
    Forbidden: 403,
}


class Problem(Exception):
    """An RFC 9457 problem. ``kind`` becomes the type URI ``/problems/<kind>``."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def refusal_response(request: Request, exc: DomainError) -> JSONResponse:
    """A domain refusal as a problem: its kind, title and detail, its facts as extensions."""
    status = next((STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF), 400)
    headers = {"ETag": f'"{exc.current}"'} if isinstance(exc, StaleVersion) else None
    if isinstance(exc, NotYetKnown):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem_response(request, status, exc.kind, exc.title, exc.detail, headers, **exc.facts)


def problem_response(
    request: Request,
    status: int,
    kind: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "trace_id": current_trace_id() or None,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def served_routes(routes: list[Any]) -> list[Any]:
    """Every route, those of included routers too (FastAPI keeps an included router as one
    entry holding its ``original_router``; no prefixes are used here)."""
    flat: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat.extend(served_routes(included.routes) if included is not None else [route])
    return flat


def allowed_methods(request: Request) -> list[str]:
    """The methods the request's path answers (RFC 9110 Allow), from every route matching
    it, OPTIONS included; none for a path no route serves. A concrete path wins over a
    templated one, as OpenAPI matches them: ``/v1/cases/on-the-spot`` is not a
    ``/v1/cases/{case_id}``."""
    matching: dict[int, set[str]] = {}
    for route in served_routes(request.app.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] != Match.NONE:
            matching.setdefault(str(getattr(route, "path", "")).count("{"), set()).update(route_methods)
    methods = matching[min(matching)] if matching else set()
    if methods:
        methods |= {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    return sorted(methods)


def _pointer(loc: tuple[Any, ...]) -> str:
    """Body fields as JSON pointers ("/party/code"); query, path and header parameters by
    their name ("status", "If-Match")."""
    parts = [str(p) for p in loc]
    if not parts or parts[0] != "body":
        return parts[-1] if parts else ""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[1:])


def install_problem_handlers(app: FastAPI) -> None:
    """Every error of every service answered as problem+json: domain refusals, invalid
    requests, HTTP errors, and the unexpected."""

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return refusal_response(request, exc)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.kind, exc.title, exc.detail, exc.headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "pointer": _pointer(tuple(err.get("loc", ()))),
                "in": str(err.get("loc", ("body",))[0]),
                "rule": err.get("type", "invalid"),
                "detail": err.get("msg", "invalid value"),
            }
            for err in exc.errors()
        ]
        fields = ", ".join(e["pointer"] for e in errors)
        return problem_response(
            request, 422, "invalid-request", "The request is not valid", f"Invalid field(s): {fields}", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {400: "malformed-body", 404: "not-found", 405: "method-not-allowed", 415: "unsupported-media-type"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the resource, not only the first route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            request,
            exc.status_code,
            kinds.get(exc.status_code, "http-error"),
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            headers=headers or None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "internal-error", "Internal error", "The request failed; nothing was half-written."
        )


class FieldError(BaseModel):
    pointer: str = Field(description="JSON pointer into the body, or the parameter's name")
    location: str = Field(alias="in", description="body, query, path or header")
    rule: str
    detail: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every caseledger error is answered."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="/problems/<kind>")
    title: str
    status: int
    detail: str
    instance: str
    trace_id: str | None = None
    errors: list[FieldError] | None = None


_PROBLEM_STATUSES = {
    "400": "The body could not be read (not UTF-8 JSON)",
    "401": "No valid bearer token (missing, expired, wrongly signed, wrong audience or issuer)",
    "403": "Your role may not do this",
    "413": "The request body is too large",
    "415": "The body must be application/json",
    "404": "Not found (or not visible to you)",
    "410": "Gone: it existed and was deactivated",
    "409": "Not allowed in the current state",
    "412": "Stale If-Match",
    "422": "Invalid input: each bad field named with the rule it broke",
    "500": "Internal error; nothing was half-written",
}


def document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI what the handlers above really answer: problem+json for every
    error status, instead of FastAPI's default application/json validation error."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ProblemDetails"] = ProblemDetails.model_json_schema(
            ref_template="#/components/schemas/{model}", by_alias=True
        )
        for name, sub in schemas["ProblemDetails"].pop("$defs", {}).items():
            schemas[name] = sub
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
        for path, operations in schema.get("paths", {}).items():
            if path in ("/healthz", "/readyz"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                wanted = {"422", "500"} | ({"404"} if "{" in path else set())
                if operation.get("security"):
                    wanted |= {"401", "403"}
                if "requestBody" in operation:
                    wanted |= {"400", "413", "415"}
                for status in sorted(wanted | {c for c in responses if c[0] in "45"}):
                    documented = responses.get(status, {})
                    description = documented.get("description") or _PROBLEM_STATUSES.get(status, "Error")
                    responses[status] = {"description": description, "content": problem}
                    if "headers" in documented:  # e.g. Retry-After of a 409
                        responses[status]["headers"] = documented["headers"]
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
