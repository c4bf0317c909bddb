"""Strict JSON request bodies for every service's routes (``StrictJSONRoute``).

What FastAPI and pydantic accept by default is lenient: ``json.loads`` guesses UTF-16 and
UTF-32 from the bytes, keeps the last of two members with the same name, reads ``NaN``;
pydantic's lax mode turns ``true``, ``"100"``, ``1e3`` and ``100.0`` into the integer an
``int`` field asks for. A body here must instead be:

- UTF-8 (a ``charset`` other than utf-8 is 415; bytes that are not UTF-8 are 400);
- JSON per RFC 8259 with unique member names (a duplicate is 400 naming the member) and
  no ``NaN``/``Infinity``;
- of the JSON types the OpenAPI says: the body is validated against the route's model in
  pydantic's strict JSON mode first (an integer is a JSON integer, a boolean ``true`` or
  ``false``; dates, UUIDs and URLs stay strings, as JSON has no such types), each
  mismatch a 422 naming the field.

A body that grows past ``MAX_BODY_BYTES`` while it is read (chunked, no Content-Length) is
413, not the 400 FastAPI makes of any error while reading. No domain rule lives here.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from pydantic import TypeAdapter, ValidationError

from services.infra.problems import Problem

_JSON_TYPES = ("application/json",)


class MalformedBody(Problem):
    """A body that is not strict UTF-8 JSON (400)."""

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(400, "malformed-body", "The body is not valid UTF-8 JSON", detail, **extensions)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise MalformedBody(
                f'the member "{name}" appears twice in one object; each member name must be unique',
                errors=[{"pointer": name, "in": "body", "rule": "duplicate-key", "detail": "duplicate member name"}],
            )
        members[name] = value
    return members


def _no_constant(name: str) -> Any:
    raise MalformedBody(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def parse_strict(body: bytes) -> Any:
    """The JSON value of ``body``: UTF-8 only, unique member names, no NaN/Infinity."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not UTF-8 (byte {exc.start}); send JSON as UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"not JSON: {exc.msg} at character {exc.pos}") from None


def check_charset(content_type: str) -> None:
    """415 for a JSON body declared in another charset than UTF-8."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"JSON is accepted only as UTF-8, not charset={value.strip()}",
            )


class StrictJSONRequest(Request):
    """A request whose ``json()`` is ``parse_strict`` of its body."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            check_charset(self.headers.get("content-type", ""))
            self._json = parse_strict(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute that reads its body as strict JSON and holds it to pydantic's strict JSON
    mode too. Use ``service_router()``.

    The strict validation runs first, but its refusal is raised only when the endpoint is
    called: after the access guard (a request without a token is 401, whatever its body)
    and after FastAPI's own validation, so the order of answers stays 401/403, then 422."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _after_strict_validation(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        annotation = self.body_field.field_info.annotation if self.body_field is not None else None
        strict_body: TypeAdapter[Any] | None = TypeAdapter(annotation) if annotation is not None else None
        handle = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            request = StrictJSONRequest(request.scope, request.receive)
            body = await request.body()  # a body over the limit raises its 413 here
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            errors: list[Any] = []
            if body and strict_body is not None and (content_type in _JSON_TYPES or content_type.endswith("+json")):
                await request.json()
                try:
                    strict_body.validate_json(body, strict=True)
                except ValidationError as exc:
                    errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
            token = _strict_errors.set(tuple(errors))
            try:
                return await handle(request)
            finally:
                _strict_errors.reset(token)

        return strict_handler


# What the strict validation of the request being handled found (copied into the thread
# pool with the context, for sync endpoints).
_strict_errors: ContextVar[tuple[Any, ...]] = ContextVar("caseledger_strict_errors", default=())


def _raise_strict_errors() -> None:
    errors = _strict_errors.get()
    if errors:
        raise RequestValidationError(list(errors))


def _after_strict_validation(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            _raise_strict_errors()
            return await endpoint(*args, **kwargs)

        return checked_async

    @functools.wraps(endpoint)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _raise_strict_errors()
        return endpoint(*args, **kwargs)

    return checked


def service_router() -> APIRouter:
    """The router of a service's routes: every body read as strict JSON."""
    return APIRouter(route_class=StrictJSONRoute)
