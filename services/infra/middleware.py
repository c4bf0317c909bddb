"""ASGI middleware every service runs: request limits (413 for bodies over the limit, 415
for bodies that are not JSON, before any handler reads them), the security headers of
every answer, and the trace id of every answer (``X-Trace-Id``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from services.infra.problems import Problem, problem_response
from services.infra.telemetry import current_trace_id

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
                await self._too_large(scope, receive, send)
                return
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = length not in (None, "0") or "chunked" in headers.get("transfer-encoding", "")
            if has_body and not (content_type == "application/json" or content_type.endswith("+json")):
                await self._refuse(
                    scope,
                    receive,
                    send,
                    415,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                )
                return
        received = 0
        limit = self.max_body_bytes

        async def counted_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body that grew past the limit
                    raise BodyTooLarge(limit)
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
        except BodyTooLarge:  # read outside a route (a route answers it as a problem itself)
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Any, receive: Any, send: Any) -> None:
        too_large = BodyTooLarge(self.max_body_bytes)
        await self._refuse(scope, receive, send, 413, too_large.kind, too_large.title, too_large.detail)

    async def _refuse(
        self, scope: Any, receive: Any, send: Any, status: int, kind: str, title: str, detail: str
    ) -> None:
        response = problem_response(Request(scope), status, kind, title, detail, headers=SECURITY_HEADERS)
        await response(scope, receive, send)


class BodyTooLarge(Problem):
    """A body that grew past the limit while it was read (chunked, no Content-Length):
    raised from ``receive``, answered 413 (``StrictJSONRoute`` reads the body first, so
    FastAPI does not turn it into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload-too-large", "The request body is too large", f"bodies are limited to {limit} bytes"
        )


class TraceIdHeader:
    """ASGI middleware: every answer names its trace (``X-Trace-Id``), so a caller can
    quote it. Pure ASGI (a header added to the start message): Starlette's
    BaseHTTPMiddleware would run every request through a task, a stream and a response
    object of its own, which cost more than many a handler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The server span is current already (OpenTelemetry's middleware is outermost).
        trace_id = current_trace_id() if scope["type"] == "http" else ""
        if not trace_id:
            await self.app(scope, receive, send)
            return
        header = (b"x-trace-id", trace_id.encode())

        async def send_with_trace_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def add_trace_id_header(app: FastAPI) -> None:
    """Every answer names its trace (``X-Trace-Id``), so a caller can quote it."""
    app.add_middleware(TraceIdHeader)
