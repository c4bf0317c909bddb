"""What the routes of every service share: the request headers and parameters every
command or list takes, and the headers of a command's answer. HTTP only; the routes pass
what they read here down to their application."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Query, Response

from services.infra.errors import InvalidInput
from services.infra.formats import IsoInstant
from services.infra.problems import Problem

# The one definition of the retry key every command accepts: a retry with the same key
# gets the first result. An empty or blank key is refused rather than treated as a key.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key (visible ASCII, no personal identifier: it is stored with the command): "
        "a retry with the same key gets the first result",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag you last saw, e.g. "3" (compared strongly, RFC 9110: a weak W/"3" never matches, 412)',
    ),
]
# A page of a list: how many items, and where the previous page ended.
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=500)]


_STRONG_ETAG = re.compile(r'^"([0-9]{1,18})"$')
# A point in time to read a resource as it was recorded then (RFC 3339, with its offset:
# never a local time of unknown zone), or the version to read it at.
AsOf = Annotated[IsoInstant | None, Query(description="RFC 3339 with offset: as recorded at that moment")]
AtVersion = Annotated[int | None, Query(ge=1, le=2**62, description="as of this version")]


def expected_version(if_match: str | None) -> int | None:
    """The version a strong If-Match names (``"3"``), or None for none or ``*``. If-Match
    compares strongly (RFC 9110 §13.1.1): a weak tag (``W/"3"``) matches no representation,
    so its precondition fails (412)."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip()
    if value.startswith("W/"):
        raise Problem(
            412,
            "precondition-failed",
            "If-Match compares strongly",
            f'a weak entity tag ({value}) never matches under If-Match; send the ETag as it was given, e.g. "3"',
        )
    match = _STRONG_ETAG.match(value)
    if match is None:
        raise InvalidInput("If-Match", "etag", 'expected the ETag you last saw, e.g. "3"', where="header")
    return int(match.group(1))


def answered(response: Response, location: str, replayed: bool, version: int | None = None) -> None:
    """The headers of a command's answer: where the resource is, its version (ETag), and
    whether this answers a retry (the step taken once already: nothing was recorded again)."""
    if version is not None:
        response.headers["ETag"] = f'"{version}"'
    response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"


# The headers of an answer, as the OpenAPI documents them (RFC 9110).
ETAG_HEADER = {
    "description": 'The version of what was answered, a strong entity tag ("3"): send it back as If-Match',
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}
LOCATION_HEADER = {"description": "Where the resource is", "required": True, "schema": {"type": "string"}}
REPLAYED_HEADER = {
    "description": "Present (true) when this answers a retry with the same Idempotency-Key: "
    "nothing was recorded again, and the body is the resource as it is now",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER_HEADER = {
    "description": "Seconds after which the same request may succeed",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def command_answer(status: int, description: str, *, versioned: bool = True) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI of a command's success: its Location, ETag (``versioned``) and
    Idempotent-Replayed headers, as ``answered`` sets them."""
    headers: dict[str, Any] = {"Location": LOCATION_HEADER, "Idempotent-Replayed": REPLAYED_HEADER}
    if versioned:
        headers["ETag"] = ETAG_HEADER
    return {status: {"description": description, "headers": headers}}
