"""HTTP plumbing every service shares: RFC 9457 problem responses, /healthz and /readyz,
tracing of requests, and cursor encoding for pagination."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.infra.settings import Settings
from services.infra.telemetry import current_trace_id

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# The one definition of the retry key every command accepts: a retry with the same key
# gets the first result. An empty or blank key is refused rather than treated as a key.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key (visible ASCII): a retry with the same key gets the first result",
    ),
]


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


def field_problem(
    pointer: str,
    rule: str,
    detail: str,
    *,
    where: str = "body",
    kind: str = "invalid-request",
    title: str = "The request is not valid",
    status: int = 422,
    **extensions: Any,
) -> Problem:
    """A problem about one field: names the field (a JSON pointer for bodies) and the rule."""
    return Problem(
        status,
        kind,
        title,
        detail if kind != "invalid-request" else f"Invalid field(s): {pointer}: {detail}",
        errors=[{"pointer": pointer, "in": where, "rule": rule, "detail": detail}],
        **extensions,
    )


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


def _pointer(loc: tuple[Any, ...]) -> str:
    """Body fields as JSON pointers ("/party/code"); query, path and header parameters by
    their name ("status", "If-Match")."""
    parts = [str(p) for p in loc]
    if not parts or parts[0] != "body":
        return parts[-1] if parts else ""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[1:])


def install_problem_handlers(app: FastAPI) -> None:
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
        return problem_response(
            request,
            exc.status_code,
            kinds.get(exc.status_code, "http-error"),
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            headers=getattr(exc, "headers", None),
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
    "409": "Not allowed in the current state",
    "412": "Stale If-Match",
    "422": "Invalid input: each bad field named with the rule it broke",
    "500": "Internal error; nothing was half-written",
}


def _document_problems(app: FastAPI) -> None:
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
                    description = responses.get(status, {}).get("description") or _PROBLEM_STATUSES.get(status, "Error")
                    responses[status] = {"description": description, "content": problem}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]


# Headers a government API answers with: no sniffing, no framing, no caching of case
# data, no referrer leaks, HTTPS only once it is served over TLS.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
_DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestLimits:
    """ASGI middleware: refuse bodies over ``max_body_bytes`` (413) and bodies that are
    not JSON (415) before any handler reads them; add the security headers."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        headers = request.headers
        if scope["method"] in _BODY_METHODS:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._refuse(scope, receive, send, 413, "payload-too-large", "The request body is too large",
                                   f"bodies are limited to {self.max_body_bytes} bytes")
                return
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = length not in (None, "0") or "chunked" in headers.get("transfer-encoding", "")
            if has_body and not (content_type == "application/json" or content_type.endswith("+json")):
                await self._refuse(scope, receive, send, 415, "unsupported-media-type", "Unsupported media type",
                                   "send the body as application/json")
                return
        received = 0
        limit = self.max_body_bytes

        async def counted_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body that grew past the limit
                    raise _BodyTooLarge
            return message

        docs = scope["path"].startswith(_DOCS_PATHS)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.decode().lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.lower() not in present and not (docs and k in ("Content-Security-Policy", "Cache-Control"))
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send, 413, "payload-too-large", "The request body is too large",
                               f"bodies are limited to {self.max_body_bytes} bytes")

    async def _refuse(self, scope: Any, receive: Any, send: Any, status: int, kind: str, title: str, detail: str) -> None:
        response = problem_response(Request(scope), status, kind, title, detail, headers=SECURITY_HEADERS)
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def create_service_app(
    title: str,
    version: str,
    description: str,
    readiness: ReadinessCheck,
    *,
    settings: Settings | None = None,
    **kwargs: Any,
) -> FastAPI:
    from services.infra.auth import TokenVerifier  # auth raises this module's Problem

    settings = settings or Settings()
    app = FastAPI(title=title, version=version, description=description, **kwargs)
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

    @app.middleware("http")
    async def _trace_header(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        response = await call_next(request)
        trace_id = current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        return response

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: storage reachable, relay and consumers running")
    async def readyz(request: Request) -> JSONResponse:
        try:
            checks = await readiness()
        except Exception as exc:  # a readiness probe reports, it does not raise
            checks = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)

    _document_problems(app)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")
    return app


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_problem("cursor", "cursor", "not a cursor from this API", where="query") from exc


def request_fingerprint(payload: Any) -> str:
    """A stable digest of a command's body: a retry with the same Idempotency-Key must
    carry the same request, or it is refused."""
    canonical = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
